//! Authentication API: `/dbconnections/*`, `/oauth/token`, `/oauth/revoke`, `/userinfo`,
//! `/.well-known/*`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::db::{
    hash_password, verify_password, Db, LastLink, NewUser, OpaqueRecord, RefreshRecord,
    TicketRecord, UserRecord,
};
use super::extract::{Answer, DbParams, OAuthRequest};
use super::http_util::{
    client_denied, db_error, db_error_body, duration_secs, invalid_client, missing_param, now_secs,
    oauth_error, oauth_params, ok_json, random_hex, random_token, timestamp, token_hash, Params,
};
use super::settings::{ApiSettings, ClientSettings, MFA_GRANTS, PASSWORD_REALM_GRANT};
use super::{policy, Emulator};

const OIDC_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];
const DEFAULT_SCOPE: &str = "openid profile email address phone";
const WRONG_CREDENTIALS: &str = "Wrong email or password.";
const INVALID_REFRESH: &str = "Unknown or invalid refresh token.";
const BLOCKED_ATTEMPTS: &str = "Your account has been blocked after multiple consecutive login attempts. We've sent you an email with instructions on how to unblock it.";
pub(crate) const RESET_SENT: &str = "We've just sent you an email to reset your password.";
const DEFAULT_TICKET_TTL: u64 = 432_000;

fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "emulator internal error");
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "Internal error",
    )
}

// ---------------------------------------------------------------- /dbconnections

// `/dbconnections/signup` and `/dbconnections/change_password` read their body
// (`DbParams`) and check the connection alike, with Auth0's same `invalid_body`
// / `invalid_connection` errors; one place keeps those bodies identical. Each
// endpoint still calls them in its own order (signup checks the connection
// before the email, change_password after), which decides which error wins.

/// `connection` is present and names the emulator's database connection.
fn db_connection(emu: &Emulator, p: &Params) -> Result<(), Response> {
    let Some(connection) = p.str("connection") else {
        return Err(db_error("invalid_body", "Missing connection"));
    };
    if connection != emu.settings.connection {
        return Err(db_error(
            "invalid_connection",
            &format!("The connection {connection} does not exist"),
        ));
    }
    Ok(())
}

pub(crate) async fn signup(State(emu): State<Arc<Emulator>>, DbParams(p): DbParams) -> Response {
    if let Err(r) = db_connection(&emu, &p) {
        return r;
    }
    let Some(email) = p.str("email") else {
        return db_error("invalid_body", "Missing email");
    };
    // the gateway's own e-mail rule (one rule for every component)
    let Ok(email) = crate::email::Email::parse(&email).map(crate::email::Email::into_string) else {
        return db_error(
            "invalid_body",
            "Object didn't pass validation for format email",
        );
    };
    let Some(password) = p.str("password") else {
        return db_error("invalid_body", "Missing password");
    };
    let user_metadata = match p.get("user_metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m))
            if m.len() <= 10
                && m.iter()
                    .all(|(k, v)| k.len() <= 100 && v.as_str().is_some_and(|s| s.len() <= 500)) =>
        {
            m.clone()
        }
        Some(_) => {
            return db_error(
                "invalid_body",
                "user_metadata must be an object of at most 10 string properties",
            )
        }
    };
    if let Err(failure) = policy::check(
        emu.settings.password_policy,
        emu.settings.password_dictionary,
        &password,
    ) {
        return db_error_body(failure.db_body());
    }
    let username = p.str("username");
    {
        let db = emu.lock();
        if let Some(resp) = signup_conflict(&db, &email, username.as_deref()) {
            return resp;
        }
    }
    let hashing = emu.settings.password_hashing;
    let hash = match tokio::task::spawn_blocking(move || hash_password(&password, hashing)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    let mut db = emu.lock();
    if let Some(resp) = signup_conflict(&db, &email, username.as_deref()) {
        return resp;
    }
    let user = UserRecord::new(NewUser {
        email,
        password_hash: hash,
        email_verified: false,
        name: p.str("name"),
        nickname: p.str("nickname"),
        picture: p.str("picture"),
        given_name: p.str("given_name"),
        family_name: p.str("family_name"),
        username: username.clone(),
        user_metadata,
        ..NewUser::default()
    });
    let mut out = json!({"_id": user.id, "email": user.email, "email_verified": false});
    if let Some(obj) = out.as_object_mut() {
        for key in [
            "username",
            "given_name",
            "family_name",
            "name",
            "nickname",
            "picture",
        ] {
            if let Some(v) = p.str(key) {
                obj.insert(key.into(), Value::String(v));
            }
        }
        if !user.user_metadata.is_empty() {
            obj.insert(
                "user_metadata".into(),
                Value::Object(user.user_metadata.clone()),
            );
        }
    }
    db.users.insert(user.id.clone(), user);
    emu.persist(&db);
    ok_json(StatusCode::OK, out)
}

fn signup_conflict(db: &Db, email: &str, username: Option<&str>) -> Option<Response> {
    if db.user_by_email(email).is_some() {
        return Some(db_error("user_exists", "The user already exists."));
    }
    if let Some(u) = username {
        if db.users.values().any(|x| x.username.as_deref() == Some(u)) {
            return Some(db_error(
                "username_exists",
                "The username provided is in use already.",
            ));
        }
    }
    None
}

/// What a password-change ticket does once used, and how long it lives.
pub(crate) struct TicketSpec<'a> {
    pub ttl: u64,
    pub result_url: Option<String>,
    pub mark_email_as_verified: bool,
    pub include_email_in_redirect: bool,
    /// what `last_links` records it as (`change_password`, an invitation…)
    pub kind: &'a str,
}

/// Records a password-change ticket and returns its URL (`…/u/reset-password?ticket=…#`).
pub(crate) fn issue_ticket(
    emu: &Emulator,
    db: &mut Db,
    user_id: &str,
    email: &str,
    spec: TicketSpec<'_>,
) -> String {
    let TicketSpec {
        ttl,
        result_url,
        mark_email_as_verified,
        include_email_in_redirect,
        kind,
    } = spec;
    let id = random_token(24);
    db.prune(now_secs());
    db.tickets.insert(
        token_hash(&id),
        TicketRecord {
            user_id: user_id.to_string(),
            exp: now_secs().saturating_add(ttl),
            result_url,
            mark_email_as_verified,
            include_email_in_redirect,
            used: false,
        },
    );
    let url = format!("{}u/reset-password?ticket={id}#", emu.issuer);
    db.last_links.insert(
        email.to_string(),
        LastLink {
            email: email.to_string(),
            kind: kind.to_string(),
            url: url.clone(),
            created_at: timestamp(),
        },
    );
    url
}

pub(crate) async fn change_password(
    State(emu): State<Arc<Emulator>>,
    DbParams(p): DbParams,
) -> Response {
    let Some(email) = p.str("email") else {
        return db_error("invalid_body", "Missing email");
    };
    if let Err(r) = db_connection(&emu, &p) {
        return r;
    }
    {
        let mut db = emu.lock();
        if let Some(user) = db
            .user_by_email(&email)
            .map(|u| (u.user_id(), u.email.clone()))
        {
            issue_ticket(
                &emu,
                &mut db,
                &user.0,
                &user.1,
                TicketSpec {
                    ttl: DEFAULT_TICKET_TTL,
                    result_url: None,
                    mark_email_as_verified: true,
                    include_email_in_redirect: false,
                    kind: "change_password",
                },
            );
            emu.persist(&db);
        }
    }
    let mut res = (StatusCode::OK, RESET_SENT).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res
}

// ---------------------------------------------------------------- /oauth/token

pub(crate) async fn token(
    State(emu): State<Arc<Emulator>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut res = token_inner(&emu, peer, &headers, &body)
        .await
        .unwrap_or_else(|refusal| refusal);
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn requested_scopes(p: &Params) -> Result<Option<Vec<String>>, Response> {
    let bad = || {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Scope must be an array or a string",
        )
    };
    let scopes: Vec<String> = match p.get("scope") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.split_whitespace().map(String::from).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(String::from).ok_or(()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    // An empty scope is an absent one, as at Auth0 (RFC 6749 §6: a refresh
    // without scope keeps the original one); SDKs send `"scope": ""` by default.
    Ok((!scopes.is_empty()).then_some(scopes))
}

async fn token_inner(
    emu: &Arc<Emulator>,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let p = oauth_params(headers, body)?;
    let Some(grant) = p.str("grant_type") else {
        return Err(missing_param("grant_type"));
    };
    let client = emu.authenticate_client(headers, &p, client_denied)?;
    if !matches!(
        grant.as_str(),
        "password" | PASSWORD_REALM_GRANT | "refresh_token" | "client_credentials"
    ) && !MFA_GRANTS.contains(&grant.as_str())
    {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Grant type not supported",
        ));
    }
    if !client.grant_types.contains(&grant) {
        return Err(oauth_error(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            &format!("Grant type '{grant}' not allowed for the client."),
        ));
    }
    let scopes = requested_scopes(&p)?;
    Ok(match grant.as_str() {
        "password" => password_grant(emu, client, &p, scopes, false, peer, headers).await,
        PASSWORD_REALM_GRANT => password_grant(emu, client, &p, scopes, true, peer, headers).await,
        "refresh_token" => refresh_grant(emu, client, &p, scopes),
        g if MFA_GRANTS.contains(&g) => super::mfa::grant(emu, client, &p, g)?,
        _ => client_credentials(emu, client, &p, scopes),
    })
}

/// The end-user IP brute-force protection keys on.
fn client_ip(client: &ClientSettings, peer: SocketAddr, headers: &HeaderMap) -> String {
    if client.trust_ip_header {
        if let Some(ip) = headers
            .get("auth0-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return ip.to_string();
        }
    }
    peer.ip().to_string()
}

fn resolve_audience<'a>(
    emu: &'a Emulator,
    p: &Params,
) -> Result<Option<&'a ApiSettings>, Response> {
    match p.str("audience") {
        None => Ok(None),
        Some(aud) => emu.api(&aud).map(Some).ok_or_else(|| {
            oauth_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                &format!("Service not enabled within domain: {aud}"),
            )
        }),
    }
}

async fn password_grant(
    emu: &Arc<Emulator>,
    client: &ClientSettings,
    p: &Params,
    scopes: Option<Vec<String>>,
    realm_required: bool,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Response {
    let Some(username) = p.str("username") else {
        return missing_param("username");
    };
    let Some(password) = p.str("password") else {
        return missing_param("password");
    };
    match p.str("realm") {
        None if realm_required => return missing_param("realm"),
        Some(realm) if realm != emu.settings.connection => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("Unknown realm: {realm}"),
            )
        }
        _ => {}
    }
    let api = match resolve_audience(emu, p) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let key = (
        username.trim().to_lowercase(),
        client_ip(client, peer, headers),
    );
    if emu.brute_blocked(&key) {
        return oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            BLOCKED_ATTEMPTS,
        );
    }
    let found = emu
        .lock()
        .user_by_email(&username)
        .map(|u| (u.id.clone(), u.password_hash.clone()));
    let hash = found
        .as_ref()
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| emu.dummy_hash.clone());
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some((id, _)) = found.filter(|_| verified) else {
        emu.brute_failure(key);
        return oauth_error(StatusCode::FORBIDDEN, "invalid_grant", WRONG_CREDENTIALS);
    };
    emu.brute_reset(&key);
    let mut db = emu.lock();
    let Some(user) = db.users.get(&id).cloned() else {
        return oauth_error(StatusCode::FORBIDDEN, "invalid_grant", WRONG_CREDENTIALS);
    };
    if user.blocked {
        return oauth_error(StatusCode::UNAUTHORIZED, "unauthorized", "user is blocked");
    }
    if super::mfa::required(emu, &db, &user) {
        return super::mfa::start(
            emu,
            &mut db,
            super::mfa::Pending {
                client_id: client.client_id.clone(),
                user_id: user.id.clone(),
                audience: api.map(|a| a.identifier.clone()),
                scopes,
                ip: key.1.clone(),
            },
        );
    }
    let result = login_tokens(emu, &mut db, client, &user, api, scopes, &key.1);
    emu.persist(&db);
    match result {
        Ok(body) => ok_json(StatusCode::OK, body),
        Err(e) => internal(e),
    }
}

/// The tokens of a login whose credentials (and second factor, if asked) were verified:
/// the password grant's answer, also given by the MFA grants.
pub(crate) fn login_tokens(
    emu: &Emulator,
    db: &mut Db,
    client: &ClientSettings,
    user: &UserRecord,
    api: Option<&ApiSettings>,
    scopes: Option<Vec<String>>,
    ip: &str,
) -> Result<Value, super::EmulatorError> {
    let granted = grant_user_scopes(emu, db, user, client, api, scopes);
    if let Some(u) = db.users.get_mut(&user.id) {
        u.logins_count += 1;
        u.last_login = Some(timestamp());
        u.last_ip = Some(ip.to_string());
    }
    let refresh = granted
        .iter()
        .any(|s| s == "offline_access")
        .then_some(Refresh::NewFamily);
    issue_user_tokens(
        emu,
        db,
        client,
        user,
        Granted {
            api,
            scopes: &granted,
            gty: "password",
            refresh,
        },
    )
}

/// Scopes for a user grant: OIDC scopes pass, API scopes are limited by RBAC,
/// `offline_access` only when refresh tokens may be issued.
fn grant_user_scopes(
    emu: &Emulator,
    db: &Db,
    user: &UserRecord,
    client: &ClientSettings,
    api: Option<&ApiSettings>,
    requested: Option<Vec<String>>,
) -> Vec<String> {
    let offline_ok = client.grant_types.iter().any(|g| g == "refresh_token")
        && api.is_none_or(|a| a.allow_offline_access);
    let mut out: Vec<String> = Vec::new();
    let requested = match (requested, api) {
        (Some(r), _) => r,
        (None, None) => DEFAULT_SCOPE.split(' ').map(String::from).collect(),
        (None, Some(_)) => db.all_permissions(),
    };
    let user_perms = db.user_permissions(user);
    let api_scopes = db.all_permissions();
    for s in requested {
        let keep = if s == "offline_access" {
            offline_ok
        } else if OIDC_SCOPES.contains(&s.as_str()) {
            true
        } else {
            match api {
                None => false,
                Some(a) if a.rbac => user_perms.contains(&s),
                Some(_) => api_scopes.contains(&s),
            }
        };
        if keep && !out.contains(&s) {
            out.push(s);
        }
    }
    let _ = emu;
    out
}

/// How the response gets a refresh token.
enum Refresh {
    /// A new family (password grants).
    NewFamily,
    /// A child of `parent` in `family` (rotation).
    Rotate { family: String, parent: String },
}

fn opaque_token(issuer: &str) -> String {
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "dir", "enc": "A256GCM", "iss": issuer}).to_string());
    format!(
        "{header}..{}.{}.{}",
        random_token(12),
        random_token(48),
        random_token(16)
    )
}

fn roles_claim(emu: &Emulator, db: &Db, user: &UserRecord, claims: &mut Map<String, Value>) {
    if !emu.settings.roles_claim.is_empty() {
        let names: Vec<Value> = db
            .user_roles(user)
            .into_iter()
            .map(|r| Value::String(r.name.clone()))
            .collect();
        claims.insert(emu.settings.roles_claim.clone(), Value::Array(names));
    }
}

/// Profile claims for `/userinfo` and the ID token, by granted scope.
pub(crate) fn profile_claims(
    emu: &Emulator,
    db: &Db,
    user: &UserRecord,
    scopes: &[String],
    out: &mut Map<String, Value>,
) {
    out.insert("sub".into(), Value::String(user.user_id()));
    if scopes.iter().any(|s| s == "profile") {
        out.insert("name".into(), Value::String(user.name.clone()));
        out.insert("nickname".into(), Value::String(user.nickname.clone()));
        out.insert("picture".into(), Value::String(user.picture.clone()));
        out.insert("updated_at".into(), Value::String(user.updated_at.clone()));
        if let Some(v) = &user.given_name {
            out.insert("given_name".into(), Value::String(v.clone()));
        }
        if let Some(v) = &user.family_name {
            out.insert("family_name".into(), Value::String(v.clone()));
        }
    }
    if scopes.iter().any(|s| s == "email") {
        out.insert("email".into(), Value::String(user.email.clone()));
        out.insert("email_verified".into(), Value::Bool(user.email_verified));
    }
    roles_claim(emu, db, user, out);
}

/// What a token request was granted: the API (audience), the scopes, the
/// grant type the access token records, and what becomes of refresh tokens.
struct Granted<'a> {
    api: Option<&'a ApiSettings>,
    scopes: &'a [String],
    gty: &'a str,
    refresh: Option<Refresh>,
}

fn issue_user_tokens(
    emu: &Emulator,
    db: &mut Db,
    client: &ClientSettings,
    user: &UserRecord,
    granted: Granted<'_>,
) -> Result<Value, super::EmulatorError> {
    let Granted {
        api,
        scopes,
        gty,
        refresh,
    } = granted;
    let now = now_secs();
    let lifetime = duration_secs(emu.settings.access_token_lifetime);
    let openid = scopes.iter().any(|s| s == "openid");
    let scope = scopes.join(" ");
    let access_token = match api {
        Some(api) => {
            let aud = if openid {
                json!([api.identifier, emu.userinfo_audience()])
            } else {
                json!(api.identifier)
            };
            let mut claims = Map::new();
            claims.insert("iss".into(), json!(emu.issuer));
            claims.insert("sub".into(), json!(user.user_id()));
            claims.insert("aud".into(), aud);
            claims.insert("iat".into(), json!(now));
            claims.insert("exp".into(), json!(now + lifetime));
            claims.insert("scope".into(), json!(scope));
            claims.insert("azp".into(), json!(client.client_id));
            claims.insert("gty".into(), json!(gty));
            if api.rbac && api.permissions_in_token {
                claims.insert("permissions".into(), json!(db.user_permissions(user)));
            }
            roles_claim(emu, db, user, &mut claims);
            db.keys.sign(&Value::Object(claims))?
        }
        None => {
            let token = opaque_token(&emu.issuer);
            db.prune(now);
            db.opaque_tokens.insert(
                token_hash(&token),
                OpaqueRecord {
                    user_id: user.user_id(),
                    scope: scopes.to_vec(),
                    exp: now + lifetime,
                },
            );
            token
        }
    };
    let mut out = Map::new();
    out.insert("access_token".into(), json!(access_token));
    if let Some(refresh) = refresh {
        let (family, parent) = match refresh {
            Refresh::NewFamily => (random_hex(12), None),
            Refresh::Rotate { family, parent } => (family, Some(parent)),
        };
        let token = format!("v1.{}", random_token(48));
        db.refresh_tokens.insert(
            token_hash(&token),
            RefreshRecord {
                family,
                parent,
                user_id: user.user_id(),
                client_id: client.client_id.clone(),
                audience: api.map(|a| a.identifier.clone()),
                scope: scopes.to_vec(),
                rotated_at: None,
                revoked: false,
            },
        );
        out.insert("refresh_token".into(), json!(token));
    }
    if openid {
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(emu.issuer));
        claims.insert("aud".into(), json!(client.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert(
            "exp".into(),
            json!(now + duration_secs(emu.settings.id_token_lifetime)),
        );
        profile_claims(emu, db, user, scopes, &mut claims);
        out.insert(
            "id_token".into(),
            json!(db.keys.sign(&Value::Object(claims))?),
        );
    }
    out.insert("scope".into(), json!(scope));
    out.insert("expires_in".into(), json!(lifetime));
    out.insert("token_type".into(), json!("Bearer"));
    Ok(Value::Object(out))
}

fn refresh_grant(
    emu: &Emulator,
    client: &ClientSettings,
    p: &Params,
    requested: Option<Vec<String>>,
) -> Response {
    let Some(presented) = p.str("refresh_token") else {
        return missing_param("refresh_token");
    };
    let invalid = || oauth_error(StatusCode::FORBIDDEN, "invalid_grant", INVALID_REFRESH);
    let hash = token_hash(&presented);
    let mut db = emu.lock();
    let Some(record) = db.refresh_tokens.get(&hash).cloned() else {
        return invalid();
    };
    if record.client_id != client.client_id || record.revoked {
        return invalid();
    }
    let Some(user) = db.user_by_user_id(&record.user_id).cloned() else {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "The refresh_token was generated for a user who doesn't exist anymore.",
        );
    };
    if user.blocked {
        return oauth_error(StatusCode::FORBIDDEN, "invalid_grant", "user is blocked");
    }
    let api = record.audience.as_deref().and_then(|a| emu.api(a));
    if record.audience.is_some() && api.is_none() {
        return invalid();
    }
    let mut scopes = match requested {
        Some(req) if !req.iter().all(|s| record.scope.contains(s)) => {
            return oauth_error(
                StatusCode::FORBIDDEN,
                "invalid_scope",
                "The requested scope must be a subset of the original scope.",
            )
        }
        Some(req) => req,
        None => record.scope.clone(),
    };
    if let Some(a) = api.filter(|a| a.rbac) {
        let _ = a;
        let perms = db.user_permissions(&user);
        scopes.retain(|s| OIDC_SCOPES.contains(&s.as_str()) || perms.contains(s));
    }
    let refresh = if emu.settings.refresh_token_rotation {
        let now_ms = now_millis();
        if let Some(rotated_at) = record.rotated_at {
            let children_unused = db
                .refresh_tokens
                .values()
                .filter(|r| r.parent.as_deref() == Some(hash.as_str()))
                .all(|r| r.rotated_at.is_none() && !r.revoked);
            let window = u64::try_from(emu.settings.reuse_interval.as_millis()).unwrap_or(u64::MAX);
            let within = window > 0 && now_ms.saturating_sub(rotated_at) <= window;
            if !(within && children_unused) {
                let family = record.family.clone();
                db.revoke_family(&family);
                emu.persist(&db);
                tracing::warn!("refresh token reuse detected (ferrt): token family revoked");
                return invalid();
            }
        } else if let Some(r) = db.refresh_tokens.get_mut(&hash) {
            r.rotated_at = Some(now_ms);
        }
        Some(Refresh::Rotate {
            family: record.family.clone(),
            parent: hash.clone(),
        })
    } else {
        None
    };
    let result = issue_user_tokens(
        emu,
        &mut db,
        client,
        &user,
        Granted {
            api,
            scopes: &scopes,
            gty: "refresh_token",
            refresh,
        },
    );
    emu.persist(&db);
    match result {
        Ok(body) => ok_json(StatusCode::OK, body),
        Err(e) => internal(e),
    }
}

fn now_millis() -> u64 {
    super::http_util::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn client_credentials(
    emu: &Emulator,
    client: &ClientSettings,
    p: &Params,
    requested: Option<Vec<String>>,
) -> Response {
    let Some(audience) = p.str("audience") else {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "No audience parameter was provided, and no default audience has been configured",
        );
    };
    let db = emu.lock();
    let (mut granted, permissions) = if audience == emu.mgmt_audience() {
        if client.management_scopes.is_empty() {
            return oauth_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                &format!("Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"),
            );
        }
        (client.management_scopes.clone(), false)
    } else if let Some(api) = emu.api(&audience) {
        (db.all_permissions(), api.rbac && api.permissions_in_token)
    } else {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            &format!("Service not enabled within domain: {audience}"),
        );
    };
    if let Some(req) = &requested {
        granted.retain(|s| req.contains(s));
    }
    let now = now_secs();
    let lifetime = duration_secs(emu.settings.access_token_lifetime);
    let mut claims = json!({
        "iss": emu.issuer,
        "sub": format!("{}@clients", client.client_id),
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "scope": granted.join(" "),
        "gty": "client-credentials",
        "azp": client.client_id,
    });
    if permissions {
        if let Some(obj) = claims.as_object_mut() {
            obj.insert("permissions".into(), json!(granted));
        }
    }
    let token = match db.keys.sign(&claims) {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    let mut body = json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"});
    if requested.is_some() {
        if let Some(obj) = body.as_object_mut() {
            obj.insert("scope".into(), json!(granted.join(" ")));
        }
    }
    ok_json(StatusCode::OK, body)
}

// ---------------------------------------------------------------- /oauth/revoke

pub(crate) async fn revoke(State(emu): State<Arc<Emulator>>, req: OAuthRequest) -> Answer {
    let client = emu.authenticate_client(&req.headers, &req.params, invalid_client)?;
    let Some(token) = req.params.str("token") else {
        return Err(missing_param("token"));
    };
    let mut db = emu.lock();
    let family = db
        .refresh_tokens
        .get(&token_hash(&token))
        .filter(|r| r.client_id == client.client_id)
        .map(|r| r.family.clone());
    if let Some(family) = family {
        db.revoke_family(&family);
        emu.persist(&db);
    }
    let mut res = StatusCode::OK.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

// ---------------------------------------------------------------- /userinfo

pub(crate) async fn userinfo(State(emu): State<Arc<Emulator>>, headers: HeaderMap) -> Response {
    let unauthorized = |desc: &str| {
        let mut res = oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", desc);
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        res
    };
    let Some(token) = super::http_util::bearer(&headers) else {
        return unauthorized("Missing access token");
    };
    let db = emu.lock();
    let (user_id, scopes) = if let Some(rec) = db.opaque_tokens.get(&token_hash(&token)) {
        if rec.exp <= now_secs() {
            return unauthorized("The access token has expired");
        }
        (rec.user_id.clone(), rec.scope.clone())
    } else {
        match db
            .keys
            .verify(&token, &emu.issuer, &emu.userinfo_audience())
        {
            Ok(claims) => (
                claims["sub"].as_str().unwrap_or_default().to_string(),
                claims["scope"]
                    .as_str()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(String::from)
                    .collect::<Vec<_>>(),
            ),
            Err(super::keys::TokenProblem::Expired) => {
                return unauthorized("The access token has expired")
            }
            Err(super::keys::TokenProblem::Invalid) => return unauthorized("Invalid access token"),
        }
    };
    if !scopes.iter().any(|s| s == "openid") {
        return unauthorized("The access token does not carry the openid scope");
    }
    let Some(user) = db.user_by_user_id(&user_id) else {
        return unauthorized("The user does not exist");
    };
    let mut out = Map::new();
    profile_claims(&emu, &db, user, &scopes, &mut out);
    ok_json(StatusCode::OK, Value::Object(out))
}

// ---------------------------------------------------------------- /.well-known

pub(crate) async fn discovery(State(emu): State<Arc<Emulator>>) -> Response {
    let i = &emu.issuer;
    ok_json(
        StatusCode::OK,
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}authorize"),
            "token_endpoint": format!("{i}oauth/token"),
            "device_authorization_endpoint": format!("{i}oauth/device/code"),
            "userinfo_endpoint": format!("{i}userinfo"),
            "mfa_challenge_endpoint": format!("{i}mfa/challenge"),
            "jwks_uri": format!("{i}.well-known/jwks.json"),
            "registration_endpoint": format!("{i}oidc/register"),
            "revocation_endpoint": format!("{i}oauth/revoke"),
            "scopes_supported": ["openid", "profile", "offline_access", "name", "given_name", "family_name", "nickname", "email", "email_verified", "picture", "created_at", "identities", "phone", "address"],
            "response_types_supported": ["code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256", "RS256", "PS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "claims_supported": ["aud", "auth_time", "created_at", "email", "email_verified", "exp", "family_name", "given_name", "iat", "identities", "iss", "name", "nickname", "phone_number", "picture", "sub"],
            "request_uri_parameter_supported": false,
            "request_parameter_supported": false,
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "PS256"],
            "end_session_endpoint": format!("{i}oidc/logout"),
        }),
    )
}

pub(crate) async fn jwks(State(emu): State<Arc<Emulator>>) -> Response {
    let body = emu.lock().keys.jwks();
    ok_json(StatusCode::OK, body)
}
