//! Management API v2: users, roles, role assignment, password-change tickets.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::authn::{issue_ticket, TicketSpec};
use super::db::{hash_password, Db, NewUser, RoleRecord, UserRecord};
use super::http_util::{bearer, mgmt_error, ok_json, Params};
use super::keys::TokenProblem;
use super::{policy, Emulator};

type Q = Query<HashMap<String, String>>;

pub(super) fn bad_request(message: &str, code: &str) -> Response {
    mgmt_error(StatusCode::BAD_REQUEST, message, Some(code))
}

pub(super) fn missing(property: &str) -> Response {
    bad_request(
        &format!("Payload validation error: 'Missing required property: {property}'."),
        "invalid_body",
    )
}

pub(super) fn user_not_found() -> Response {
    mgmt_error(
        StatusCode::NOT_FOUND,
        "The user does not exist.",
        Some("inexistent_user"),
    )
}

/// Checks the Management API token and that it carries one of `any_of`.
pub(super) fn authorize(
    emu: &Emulator,
    headers: &HeaderMap,
    any_of: &[&str],
) -> Result<(), Response> {
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

/// What a handler answers: its response, or the error response that ended it early
/// (axum answers either).
pub(super) type Answer = Result<Response, Response>;

/// The preamble of every handler that reads a body: the token and its scope are
/// checked first (nothing of the body is read for a caller who may not call), then
/// the JSON or form body is parsed.
pub(super) fn authorized_body(
    emu: &Emulator,
    headers: &HeaderMap,
    any_of: &[&str],
    body: &[u8],
) -> Result<Params, Response> {
    authorize(emu, headers, any_of)?;
    parse_body(headers, body)
}

/// The preamble of every list handler: token and scope, then Auth0's paging
/// parameters (`page`, `per_page`, `include_totals`).
pub(super) fn authorized_paging(
    emu: &Emulator,
    headers: &HeaderMap,
    any_of: &[&str],
    q: &HashMap<String, String>,
) -> Result<Paging, Response> {
    authorize(emu, headers, any_of)?;
    paging(q)
}

/// A JSON value's type as Auth0's payload validation names it.
pub(super) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Auth0's answer to a property of the wrong type.
pub(super) fn wrong_type(key: &str, expected: &str, found: &Value) -> Response {
    bad_request(
        &format!(
            "Payload validation error: 'Expected type {expected} but found type {}' on property {key}.",
            json_type(found)
        ),
        "invalid_body",
    )
}

/// The connection's password policy, as the Management API answers it.
fn check_policy(emu: &Emulator, password: &str) -> Result<(), Response> {
    policy::check(
        emu.settings.password_policy,
        emu.settings.password_dictionary,
        password,
    )
    .map_err(|failure| mgmt_error(StatusCode::BAD_REQUEST, failure.mgmt_message(), None))
}

/// The password checked against the connection's policy, then hashed.
pub(super) async fn checked_hash(emu: &Emulator, password: String) -> Result<String, Response> {
    check_policy(emu, &password)?;
    hash(emu, password).await
}

/// Argon2 off the async threads (it is slow on purpose).
async fn hash(emu: &Emulator, password: String) -> Result<String, Response> {
    let hashing = emu.settings.password_hashing;
    match tokio::task::spawn_blocking(move || hash_password(&password, hashing)).await {
        Ok(Ok(h)) => Ok(h),
        _ => Err(mgmt_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            None,
        )),
    }
}

fn opt_object(p: &Params, key: &str) -> Result<Map<String, Value>, Response> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(other) => Err(wrong_type(key, "object", other)),
    }
}

pub(crate) async fn create_user(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let p = authorized_body(&emu, &headers, &["create:users"], &body)?;
    let connection = p.str("connection").ok_or_else(|| missing("connection"))?;
    if connection != emu.settings.connection {
        return Err(bad_request(
            "The connection does not exist.",
            "inexistent_connection",
        ));
    }
    let email = p.str("email").ok_or_else(|| missing("email"))?;
    // the gateway's own rule, so that the emulator refuses what it refuses
    let Ok(email) = crate::email::Email::parse(&email).map(crate::email::Email::into_string) else {
        return Err(bad_request(
            "Payload validation error: 'Object didn't pass validation for format email' on property email (The user's email).",
            "invalid_body",
        ));
    };
    let password = p.str("password").ok_or_else(|| missing("password"))?;
    let user_metadata = opt_object(&p, "user_metadata")?;
    let app_metadata = opt_object(&p, "app_metadata")?;
    // the policy is answered before a clash with an existing address
    check_policy(&emu, &password)?;
    let exists = || {
        mgmt_error(
            StatusCode::CONFLICT,
            "The user already exists.",
            Some("auth0_idp_error"),
        )
    };
    if emu.lock().user_by_email(&email).is_some() {
        return Err(exists());
    }
    let hash = hash(&emu, password).await?;
    let mut db = emu.lock();
    if db.user_by_email(&email).is_some() {
        return Err(exists());
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
    Ok(ok_json(StatusCode::CREATED, out))
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

pub(super) struct Paging {
    page: usize,
    per_page: usize,
    include_totals: bool,
}

fn invalid_query(message: &str) -> Response {
    bad_request(
        &format!("Query validation error: {message}."),
        "invalid_query_string",
    )
}

/// Auth0's paging parameters, validated as Auth0 validates them: integers,
/// `1 <= per_page <= 100`, `include_totals` a boolean. An empty value is absent.
fn paging(q: &HashMap<String, String>) -> Result<Paging, Response> {
    let given = |key: &str| q.get(key).map(String::as_str).filter(|v| !v.is_empty());
    let num = |key: &str, default: usize| match given(key) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| {
            invalid_query(&format!(
                "'Expected type integer but found type string' on property {key}"
            ))
        }),
    };
    let per_page = num("per_page", 50)?;
    if per_page > 100 {
        return Err(invalid_query(&format!(
            "'Value {per_page} is greater than maximum 100' on property per_page"
        )));
    }
    if per_page == 0 {
        return Err(invalid_query(
            "'Value 0 is less than minimum 1' on property per_page",
        ));
    }
    let include_totals = match given("include_totals") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(invalid_query(
                "'Expected type boolean but found type string' on property include_totals",
            ))
        }
    };
    Ok(Paging {
        page: num("page", 0)?,
        per_page,
        include_totals,
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

fn role_json(r: &RoleRecord) -> Value {
    json!({"id": r.id, "name": r.name, "description": r.description})
}

pub(crate) async fn list_users(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(q): Q,
) -> Answer {
    let paging = authorized_paging(&emu, &headers, &["read:users"], &q)?;
    let terms = match q.get("q").map(|s| parse_query(s)).transpose() {
        Ok(t) => t.unwrap_or_default(),
        Err(message) => return Err(bad_request(&message, "invalid_query_string")),
    };
    let db = emu.lock();
    let mut users: Vec<&UserRecord> = db
        .users
        .values()
        .filter(|u| terms.iter().all(|t| term_matches(u, t)))
        .collect();
    users.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(paging.answer(users, "users", |u| u.to_json(&emu.settings.connection)))
}

pub(crate) async fn get_user(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&emu, &headers, &["read:users"])?;
    let db = emu.lock();
    let user = db.user_by_user_id(&id).ok_or_else(user_not_found)?;
    Ok(ok_json(
        StatusCode::OK,
        user.to_json(&emu.settings.connection),
    ))
}

pub(crate) async fn users_by_email(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(q): Q,
) -> Answer {
    authorize(&emu, &headers, &["read:users"])?;
    let Some(email) = q.get("email").filter(|e| !e.is_empty()) else {
        return Err(invalid_query("'Missing required property: email'"));
    };
    let db = emu.lock();
    // Case-sensitive, like Auth0: stored emails are lower-case.
    let users: Vec<Value> = db
        .users
        .values()
        .filter(|u| &u.email == email)
        .map(|u| u.to_json(&emu.settings.connection))
        .collect();
    Ok(ok_json(StatusCode::OK, Value::Array(users)))
}

pub(crate) async fn list_roles(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(q): Q,
) -> Answer {
    let paging = authorized_paging(&emu, &headers, &["read:roles"], &q)?;
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
    Ok(paging.answer(roles, "roles", role_json))
}

fn role_not_found() -> Response {
    mgmt_error(
        StatusCode::NOT_FOUND,
        "The role does not exist.",
        Some("inexistent_role"),
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
) -> Answer {
    let paging = authorized_paging(&emu, &headers, &["read:roles"], &q)?;
    let db = emu.lock();
    let role = db.roles.get(&id).ok_or_else(role_not_found)?;
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
    Ok(paging.answer(all, "permissions", |p| p))
}

/// The `roles` of a role-assignment body: a non-empty array of role ids.
fn role_ids(p: &Params) -> Result<Vec<String>, Response> {
    let Some(Value::Array(items)) = p.get("roles") else {
        return Err(missing("roles"));
    };
    let ids = items
        .iter()
        .map(|v| v.as_str().filter(|s| !s.is_empty()).map(String::from))
        .collect::<Option<Vec<_>>>()
        .filter(|ids| !ids.is_empty());
    ids.ok_or_else(|| missing("roles"))
}

/// The user (by `auth0|…` id) whose roles change, after checking that every
/// named role exists: its internal id.
fn role_member(db: &Db, user_id: &str, roles: &[String]) -> Result<String, Response> {
    let internal = db
        .user_by_user_id(user_id)
        .map(|u| u.id.clone())
        .ok_or_else(user_not_found)?;
    if roles.iter().any(|r| !db.roles.contains_key(r)) {
        return Err(role_not_found());
    }
    Ok(internal)
}

/// `POST /api/v2/users/{id}/roles` → 204.
pub(crate) async fn assign_roles(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let scopes = ["update:users", "create:role_members"];
    let roles = role_ids(&authorized_body(&emu, &headers, &scopes, &body)?)?;
    let mut db = emu.lock();
    let internal = role_member(&db, &id, &roles)?;
    if let Some(user) = db.users.get_mut(&internal) {
        for r in roles {
            if !user.roles.contains(&r) {
                user.roles.push(r);
            }
        }
    }
    emu.persist(&db);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v2/users/{id}/roles` `{"roles":[…]}` → 204; a role the user
/// does not hold is no error.
pub(crate) async fn remove_roles(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let scopes = ["update:users", "delete:role_members"];
    let roles = role_ids(&authorized_body(&emu, &headers, &scopes, &body)?)?;
    let mut db = emu.lock();
    let internal = role_member(&db, &id, &roles)?;
    if let Some(user) = db.users.get_mut(&internal) {
        user.roles.retain(|r| !roles.contains(r));
    }
    emu.persist(&db);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v2/users/{id}/roles`, paged like every Auth0 list.
pub(crate) async fn user_roles(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Answer {
    let scopes = ["read:users", "read:roles", "read:role_members"];
    let paging = authorized_paging(&emu, &headers, &scopes, &q)?;
    let db = emu.lock();
    let user = db.user_by_user_id(&id).ok_or_else(user_not_found)?;
    Ok(paging.answer(db.user_roles(user), "roles", role_json))
}

pub(crate) async fn password_change_ticket(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let p = authorized_body(&emu, &headers, &["create:user_tickets"], &body)?;
    let result_url = p.str("result_url");
    if let Some(url) = &result_url {
        if url::Url::parse(url).is_err() {
            return Err(bad_request(
                "Payload validation error: 'Object didn't pass validation for format absolute-uri-or-empty' on property result_url.",
                "invalid_body",
            ));
        }
    }
    if let Some(client_id) = p.str("client_id") {
        if result_url.is_some() {
            return Err(bad_request(
                "Payload validation error: 'result_url' and 'client_id' cannot be specified together.",
                "invalid_body",
            ));
        }
        if !emu
            .settings
            .clients
            .iter()
            .any(|c| c.client_id == client_id)
        {
            return Err(mgmt_error(
                StatusCode::NOT_FOUND,
                "The client does not exist.",
                Some("inexistent_client"),
            ));
        }
    }
    let ttl = match p.get("ttl_sec") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| wrong_type("ttl_sec", "integer", v))?,
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
                return Err(mgmt_error(
                    StatusCode::NOT_FOUND,
                    "The connection does not exist.",
                    Some("inexistent_connection"),
                ))
            }
            None => return Err(missing("connection_id")),
        }
    } else {
        return Err(missing("user_id"));
    };
    let (user_id, email) = user
        .map(|u| (u.user_id(), u.email.clone()))
        .ok_or_else(user_not_found)?;
    let url = issue_ticket(
        &emu,
        &mut db,
        &user_id,
        &email,
        TicketSpec {
            ttl,
            result_url,
            mark_email_as_verified: p.bool("mark_email_as_verified").unwrap_or(false),
            include_email_in_redirect: p.bool("includeEmailInRedirect").unwrap_or(false),
            kind: "password-change-ticket",
        },
    );
    emu.persist(&db);
    Ok(ok_json(StatusCode::CREATED, json!({"ticket": url})))
}
