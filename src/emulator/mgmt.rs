//! Management API v2: users, roles, role assignment, password-change tickets.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::authn::issue_ticket;
use super::db::{hash_password, NewUser, UserRecord};
use super::http_util::{bearer, mgmt_error, ok_json, Params};
use super::keys::TokenProblem;
use super::{policy, Emulator};

type Q = Query<HashMap<String, String>>;

fn bad_request(message: &str, code: &str) -> Response {
    mgmt_error(StatusCode::BAD_REQUEST, message, Some(code))
}

fn missing(property: &str) -> Response {
    bad_request(
        &format!("Payload validation error: 'Missing required property: {property}'."),
        "invalid_body",
    )
}

fn user_not_found() -> Response {
    mgmt_error(
        StatusCode::NOT_FOUND,
        "The user does not exist.",
        Some("inexistent_user"),
    )
}

/// Checks the Management API token and that it carries one of `any_of`.
fn authorize(emu: &Emulator, headers: &HeaderMap, any_of: &[&str]) -> Result<(), Response> {
    let Some(token) = bearer(headers) else {
        return Err(mgmt_error(
            StatusCode::UNAUTHORIZED,
            "Missing authentication",
            None,
        ));
    };
    let claims = emu
        .lock()
        .keys
        .verify(&token, &emu.issuer, &emu.mgmt_audience())
        .map_err(|problem| match problem {
            TokenProblem::Expired => mgmt_error(
                StatusCode::UNAUTHORIZED,
                "Expired token received for JSON Web Token validation",
                None,
            ),
            TokenProblem::Invalid => mgmt_error(StatusCode::UNAUTHORIZED, "Invalid token", None),
        })?;
    let scopes: Vec<&str> = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    if any_of.iter().any(|s| scopes.contains(s)) {
        Ok(())
    } else {
        Err(mgmt_error(
            StatusCode::FORBIDDEN,
            &format!("Insufficient scope, expected any of: {}", any_of.join(",")),
            Some("insufficient_scope"),
        ))
    }
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, Response> {
    Params::parse(headers, body)
        .map_err(|_| bad_request("Payload validation error: 'Invalid JSON'.", "invalid_body"))
}

fn opt_object(p: &Params, key: &str) -> Result<Map<String, Value>, Response> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(bad_request(
            &format!("Payload validation error: 'Expected type object but found type string' on property {key}."),
            "invalid_body",
        )),
    }
}

pub(crate) async fn create_user(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&emu, &headers, &["create:users"]) {
        return r;
    }
    let p = match parse_body(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(connection) = p.str("connection") else {
        return missing("connection");
    };
    if connection != emu.settings.connection {
        return bad_request("The connection does not exist.", "inexistent_connection");
    }
    let Some(email) = p.str("email") else {
        return missing("email");
    };
    // the gateway's own rule, so that the emulator refuses what it refuses
    let Ok(email) = crate::email::Email::parse(&email).map(crate::email::Email::into_string) else {
        return bad_request(
            "Payload validation error: 'Object didn't pass validation for format email' on property email (The user's email).",
            "invalid_body",
        );
    };
    let Some(password) = p.str("password") else {
        return missing("password");
    };
    let (user_metadata, app_metadata) = match (
        opt_object(&p, "user_metadata"),
        opt_object(&p, "app_metadata"),
    ) {
        (Ok(u), Ok(a)) => (u, a),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if let Err(failure) = policy::check(
        emu.settings.password_policy,
        emu.settings.password_dictionary,
        &password,
    ) {
        return mgmt_error(StatusCode::BAD_REQUEST, failure.mgmt_message(), None);
    }
    let exists = || {
        mgmt_error(
            StatusCode::CONFLICT,
            "The user already exists.",
            Some("auth0_idp_error"),
        )
    };
    if emu.lock().user_by_email(&email).is_some() {
        return exists();
    }
    let hashing = emu.settings.password_hashing;
    let hash = match tokio::task::spawn_blocking(move || hash_password(&password, hashing)).await {
        Ok(Ok(h)) => h,
        _ => return mgmt_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", None),
    };
    let mut db = emu.lock();
    if db.user_by_email(&email).is_some() {
        return exists();
    }
    let user = UserRecord::new(NewUser {
        email,
        password_hash: hash,
        email_verified: p.bool("email_verified").unwrap_or(false),
        name: p.str("name"),
        nickname: p.str("nickname"),
        picture: p.str("picture"),
        given_name: p.str("given_name"),
        family_name: p.str("family_name"),
        username: p.str("username"),
        user_metadata,
        app_metadata,
        blocked: p.bool("blocked").unwrap_or(false),
        ..NewUser::default()
    });
    let out = user.to_json(&emu.settings.connection);
    db.users.insert(user.id.clone(), user);
    emu.persist(&db);
    ok_json(StatusCode::CREATED, out)
}

/// One `field:value` term of the `q` Lucene subset.
struct Term {
    field: String,
    value: String,
}

fn tokenize(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_query(q: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    for token in tokenize(q) {
        if token == "AND" {
            continue;
        }
        if token == "OR" || token == "NOT" {
            return Err(format!("Unsupported operator in query: {token}"));
        }
        let Some((field, value)) = token.split_once(':') else {
            return Err(format!("Invalid query term: {token}"));
        };
        let supported = matches!(
            field,
            "email" | "email_verified" | "logins_count" | "user_id" | "name" | "blocked"
        ) || field
            .strip_prefix("app_metadata.")
            .is_some_and(|k| !k.is_empty());
        if !supported {
            return Err(format!("Unsupported field in query: {field}"));
        }
        terms.push(Term {
            field: field.to_string(),
            value: value.to_string(),
        });
    }
    Ok(terms)
}

fn value_matches(v: &Value, wanted: &str) -> bool {
    match v {
        Value::String(s) => s == wanted,
        Value::Bool(b) => b.to_string() == wanted,
        Value::Number(n) => n.to_string() == wanted,
        _ => false,
    }
}

fn term_matches(user: &UserRecord, term: &Term) -> bool {
    let text = |actual: &str| match term.value.strip_suffix('*') {
        Some(prefix) => actual.to_lowercase().starts_with(&prefix.to_lowercase()),
        None => actual.eq_ignore_ascii_case(&term.value),
    };
    match term.field.as_str() {
        "email" => text(&user.email),
        "name" => text(&user.name),
        "user_id" => text(&user.user_id()),
        "email_verified" => user.email_verified.to_string() == term.value,
        "blocked" => user.blocked.to_string() == term.value,
        "logins_count" => user.logins_count.to_string() == term.value,
        field => field
            .strip_prefix("app_metadata.")
            .and_then(|k| user.app_metadata.get(k))
            .is_some_and(|v| value_matches(v, &term.value)),
    }
}

struct Paging {
    page: usize,
    per_page: usize,
    include_totals: bool,
}

fn paging(q: &HashMap<String, String>) -> Result<Paging, Response> {
    let num = |key: &str, default: usize| {
        match q.get(key) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| {
            bad_request(
                &format!("Query validation error: 'Expected type integer but found type string' on property {key}."),
                "invalid_query_string",
            )
        }),
    }
    };
    let per_page = num("per_page", 50)?;
    if per_page > 100 {
        return Err(bad_request(
            "Query validation error: 'Value 101 is greater than maximum 100' on property per_page.",
            "invalid_query_string",
        ));
    }
    Ok(Paging {
        page: num("page", 0)?,
        per_page,
        include_totals: q.get("include_totals").is_some_and(|v| v == "true"),
    })
}

impl Paging {
    /// One page of a list, shaped as Auth0 answers it: a bare array, or with
    /// `include_totals` an object naming the list under `key` (`/users` also
    /// says the page's `length`).
    fn answer<T>(&self, all: Vec<T>, key: &str, to_json: impl Fn(T) -> Value) -> Response {
        let total = all.len();
        let start = self.page.saturating_mul(self.per_page);
        let page: Vec<Value> = all
            .into_iter()
            .skip(start)
            .take(self.per_page)
            .map(to_json)
            .collect();
        if !self.include_totals {
            return ok_json(StatusCode::OK, Value::Array(page));
        }
        let mut body = json!({"start": start, "limit": self.per_page, "total": total});
        if key == "users" {
            body["length"] = json!(page.len());
        }
        body[key] = Value::Array(page);
        ok_json(StatusCode::OK, body)
    }
}

pub(crate) async fn list_users(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    if let Err(r) = authorize(&emu, &headers, &["read:users"]) {
        return r;
    }
    let paging = match paging(&q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let terms = match q.get("q").map(|s| parse_query(s)).transpose() {
        Ok(t) => t.unwrap_or_default(),
        Err(message) => return bad_request(&message, "invalid_query_string"),
    };
    let db = emu.lock();
    let mut users: Vec<&UserRecord> = db
        .users
        .values()
        .filter(|u| terms.iter().all(|t| term_matches(u, t)))
        .collect();
    users.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    paging.answer(users, "users", |u| u.to_json(&emu.settings.connection))
}

pub(crate) async fn get_user(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authorize(&emu, &headers, &["read:users"]) {
        return r;
    }
    let db = emu.lock();
    match db.user_by_user_id(&id) {
        Some(u) => ok_json(StatusCode::OK, u.to_json(&emu.settings.connection)),
        None => user_not_found(),
    }
}

pub(crate) async fn users_by_email(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    if let Err(r) = authorize(&emu, &headers, &["read:users"]) {
        return r;
    }
    let Some(email) = q.get("email").filter(|e| !e.is_empty()) else {
        return bad_request(
            "Query validation error: 'Missing required property: email'.",
            "invalid_query_string",
        );
    };
    let db = emu.lock();
    // Case-sensitive, like Auth0: stored emails are lower-case.
    let users: Vec<Value> = db
        .users
        .values()
        .filter(|u| &u.email == email)
        .map(|u| u.to_json(&emu.settings.connection))
        .collect();
    ok_json(StatusCode::OK, Value::Array(users))
}

pub(crate) async fn list_roles(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    if let Err(r) = authorize(&emu, &headers, &["read:roles"]) {
        return r;
    }
    let paging = match paging(&q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let filter = q.get("name_filter").map(|f| f.to_lowercase());
    let db = emu.lock();
    let mut roles: Vec<_> = db
        .roles
        .values()
        .filter(|r| {
            filter
                .as_ref()
                .is_none_or(|f| r.name.to_lowercase().contains(f))
        })
        .collect();
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    paging.answer(
        roles,
        "roles",
        |r| json!({"id": r.id, "name": r.name, "description": r.description}),
    )
}

/// `GET /api/v2/roles/{id}/permissions`: the role's permissions, one entry
/// per API of the tenant (every API of the emulator defines every
/// permission, as its tokens show), paged like Auth0.
pub(crate) async fn role_permissions(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    if let Err(r) = authorize(&emu, &headers, &["read:roles"]) {
        return r;
    }
    let paging = match paging(&q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let db = emu.lock();
    let Some(role) = db.roles.get(&id) else {
        return mgmt_error(
            StatusCode::NOT_FOUND,
            "The role does not exist.",
            Some("inexistent_role"),
        );
    };
    let all: Vec<Value> = emu
        .settings
        .apis
        .iter()
        .flat_map(|api| {
            role.permissions.iter().map(move |p| {
                json!({
                    "permission_name": p,
                    "description": "",
                    "resource_server_name": api.identifier,
                    "resource_server_identifier": api.identifier,
                })
            })
        })
        .collect();
    paging.answer(all, "permissions", |p| p)
}

pub(crate) async fn assign_roles(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&emu, &headers, &["update:users", "create:role_members"]) {
        return r;
    }
    let p = match parse_body(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let roles: Vec<String> = match p.get("roles") {
        Some(Value::Array(items)) if !items.is_empty() => {
            match items
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
            {
                Some(r) => r,
                None => return missing("roles"),
            }
        }
        _ => return missing("roles"),
    };
    let mut db = emu.lock();
    let Some(internal_id) = db.user_by_user_id(&id).map(|u| u.id.clone()) else {
        return user_not_found();
    };
    if roles.iter().any(|r| !db.roles.contains_key(r)) {
        return mgmt_error(
            StatusCode::NOT_FOUND,
            "The role does not exist.",
            Some("inexistent_role"),
        );
    }
    if let Some(user) = db.users.get_mut(&internal_id) {
        for r in roles {
            if !user.roles.contains(&r) {
                user.roles.push(r);
            }
        }
    }
    emu.persist(&db);
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn user_roles(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authorize(&emu, &headers, &["read:users", "read:roles"]) {
        return r;
    }
    let db = emu.lock();
    let Some(user) = db.user_by_user_id(&id) else {
        return user_not_found();
    };
    let roles: Vec<Value> = db
        .user_roles(user)
        .into_iter()
        .map(|r| json!({"id": r.id, "name": r.name, "description": r.description}))
        .collect();
    ok_json(StatusCode::OK, Value::Array(roles))
}

pub(crate) async fn password_change_ticket(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&emu, &headers, &["create:user_tickets"]) {
        return r;
    }
    let p = match parse_body(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let result_url = p.str("result_url");
    if let Some(url) = &result_url {
        if url::Url::parse(url).is_err() {
            return bad_request(
                "Payload validation error: 'Object didn't pass validation for format absolute-uri-or-empty' on property result_url.",
                "invalid_body",
            );
        }
    }
    if let Some(client_id) = p.str("client_id") {
        if result_url.is_some() {
            return bad_request(
                "Payload validation error: 'result_url' and 'client_id' cannot be specified together.",
                "invalid_body",
            );
        }
        if !emu
            .settings
            .clients
            .iter()
            .any(|c| c.client_id == client_id)
        {
            return mgmt_error(
                StatusCode::NOT_FOUND,
                "The client does not exist.",
                Some("inexistent_client"),
            );
        }
    }
    let ttl = match p.get("ttl_sec") {
        None | Some(Value::Null) => 0,
        Some(v) => match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        {
            Some(t) => t,
            None => {
                return bad_request(
                    "Payload validation error: 'Expected type integer' on property ttl_sec.",
                    "invalid_body",
                )
            }
        },
    };
    let ttl = if ttl == 0 { 432_000 } else { ttl };
    let mut db = emu.lock();
    let user = if let Some(user_id) = p.str("user_id") {
        db.user_by_user_id(&user_id)
    } else if let Some(email) = p.str("email") {
        match p.str("connection_id") {
            Some(c) if c == emu.connection_id() || c == emu.settings.connection => {
                db.user_by_email(&email)
            }
            Some(_) => {
                return mgmt_error(
                    StatusCode::NOT_FOUND,
                    "The connection does not exist.",
                    Some("inexistent_connection"),
                )
            }
            None => return missing("connection_id"),
        }
    } else {
        return missing("user_id");
    };
    let Some((user_id, email)) = user.map(|u| (u.user_id(), u.email.clone())) else {
        return user_not_found();
    };
    let url = issue_ticket(
        &emu,
        &mut db,
        &user_id,
        &email,
        ttl,
        result_url,
        p.bool("mark_email_as_verified").unwrap_or(false),
        p.bool("includeEmailInRedirect").unwrap_or(false),
        "password-change-ticket",
    );
    emu.persist(&db);
    ok_json(StatusCode::CREATED, json!({"ticket": url}))
}
