//! The Management API v2 client: users, roles and password-change tickets.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;
use tracing::instrument;
use url::Url;

use super::client::{endpoint, record, token_set};
use super::error::{management_token_error, map_management_error, Call};
use super::http::{send, Answer};
use super::{Auth0Settings, ManagementError};
use crate::secret::Secret;

/// Everything but RFC 3986 unreserved characters is encoded in path segments
/// (`auth0|abc` → `auth0%7Cabc`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Page size used when paging through roles.
const PAGE_SIZE: u32 = 100;
/// Upper bound on pages fetched by one listing (100 × 100 roles).
const MAX_PAGES: u32 = 100;

/// A user as the Management API returns it (unknown fields kept in `other`).
/// A missing `Option` field reads as `None` (serde's rule), so only
/// `email_verified` needs a default.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ManagementUser {
    pub user_id: String,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub blocked: Option<bool>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub user_metadata: Option<Map<String, Value>>,
    pub app_metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A role (`rol_…`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// A permission a role grants (`GET /api/v2/roles/{id}/permissions`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct RolePermission {
    /// e.g. `read:orders`
    pub permission_name: String,
    /// The API (audience) that defines the permission.
    pub resource_server_identifier: Option<String>,
    pub resource_server_name: Option<String>,
    pub description: Option<String>,
}

/// A refused Management API call's error, recorded on the span and logged:
/// status and Auth0 error code only, caller mistakes at debug.
fn refused(answer: &Answer) -> ManagementError {
    let err = map_management_error(answer.status, &answer.headers, &answer.body);
    let code = super::error::ErrorBody::parse(&answer.body).and_then(|b| b.code);
    record(answer, code.as_deref());
    let (status, code) = (answer.status.as_u16(), code.as_deref().unwrap_or(""));
    match err {
        ManagementError::Conflict { .. }
        | ManagementError::NotFound { .. }
        | ManagementError::BadRequest(_) => {
            tracing::debug!(status, error_code = code, "Management API call failed")
        }
        _ => tracing::warn!(status, error_code = code, "Management API call failed"),
    }
    err
}

/// A page of a user search.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPage {
    pub users: Vec<ManagementUser>,
    pub total: u64,
}

/// `POST /api/v2/users`.
#[derive(Debug, Clone)]
pub struct CreateUser {
    pub connection: String,
    pub email: String,
    /// For invitations: a random password nobody learns.
    pub password: Secret,
    pub email_verified: bool,
    pub verify_email: bool,
    pub name: Option<String>,
    pub user_metadata: Option<Map<String, Value>>,
    pub app_metadata: Option<Map<String, Value>>,
}

/// `POST /api/v2/tickets/password-change`. `result_url` and `client_id` are
/// mutually exclusive (Auth0 rule).
#[derive(Debug, Clone, Default)]
pub struct TicketRequest {
    pub user_id: String,
    pub result_url: Option<Url>,
    pub client_id: Option<String>,
    /// Lifetime in seconds; 0 means Auth0's default (5 days).
    pub ttl_sec: u64,
    pub mark_email_as_verified: bool,
}

#[derive(Clone)]
struct CachedToken {
    token: Arc<Secret>,
    valid_until: Instant,
    generation: u64,
}

struct TokenCache {
    current: RwLock<Option<CachedToken>>,
    /// Held while fetching, so that concurrent callers wait for one fetch.
    fetching: Mutex<u64>,
}

/// Management API v2 client with a cached, single-flight client-credentials token.
/// Clones share the token cache.
#[derive(Clone)]
pub struct ManagementClient {
    base: Url,
    client_id: String,
    client_secret: Secret,
    audience: String,
    margin: Duration,
    timeout: Duration,
    retries: u32,
    http: reqwest::Client,
    cache: Arc<TokenCache>,
    observer: Option<Observer>,
}

/// Told of every Management API call: endpoint, `ok` or the error kind, duration.
pub type Observer = Arc<dyn Fn(&'static str, &'static str, Duration) + Send + Sync>;

/// A low-cardinality name for a Management API call (ids stripped).
fn endpoint_label(method: &Method, path: &str) -> &'static str {
    let rest = path.strip_prefix("api/v2/").unwrap_or(path);
    let segments: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["users"]) => "mgmt_create_user",
        ("GET", ["users"]) => "mgmt_search_users",
        ("GET", ["users", _]) => "mgmt_get_user",
        ("GET", ["users-by-email"]) => "mgmt_users_by_email",
        ("GET", ["roles"]) => "mgmt_list_roles",
        ("GET", ["users", _, "roles"]) => "mgmt_user_roles",
        ("GET", ["roles", _, "permissions"]) => "mgmt_role_permissions",
        ("POST", ["users", _, "roles"]) => "mgmt_assign_roles",
        ("DELETE", ["users", _, "roles"]) => "mgmt_remove_roles",
        ("PATCH", ["users", _]) => "mgmt_update_user",
        ("DELETE", ["users", _]) => "mgmt_delete_user",
        ("POST", ["tickets", "password-change"]) => "mgmt_password_change_ticket",
        _ => "mgmt_other",
    }
}

impl std::fmt::Debug for ManagementClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementClient")
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

fn enc(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

fn unavailable(reason: String) -> ManagementError {
    tracing::warn!(%reason, "Management API call failed");
    ManagementError::Unavailable { reason }
}

fn parse<T: DeserializeOwned>(answer: &Answer, what: &str) -> Result<T, ManagementError> {
    serde_json::from_slice(&answer.body).map_err(|_| {
        ManagementError::unavailable(format!(
            "unexpected {what} answer (HTTP {})",
            answer.status.as_u16()
        ))
    })
}

impl ManagementClient {
    /// A client for the tenant in `settings` (credentials from `settings.management`,
    /// falling back to the main client's), sharing `http`.
    pub fn new(settings: &Auth0Settings, http: reqwest::Client) -> Self {
        let m = &settings.management;
        Self {
            base: settings.base_url(),
            client_id: m
                .client_id
                .clone()
                .unwrap_or_else(|| settings.client_id.clone()),
            client_secret: m
                .client_secret
                .clone()
                .unwrap_or_else(|| settings.client_secret.clone()),
            audience: settings.management_audience(),
            margin: m.token_refresh_margin,
            timeout: settings.timeout,
            retries: settings.retries,
            http,
            cache: Arc::new(TokenCache {
                current: RwLock::new(None),
                fetching: Mutex::new(0),
            }),
            observer: None,
        }
    }

    /// Reports every call (and every token fetch) to `observer`, for metrics.
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    fn observe<T>(&self, endpoint: &'static str, start: Instant, r: &Result<T, ManagementError>) {
        if let Some(o) = &self.observer {
            let status = match r {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            };
            o(endpoint, status, start.elapsed());
        }
    }

    fn cached(&self) -> Option<CachedToken> {
        let guard = self.cache.current.read().ok()?;
        guard
            .as_ref()
            .filter(|t| t.valid_until > Instant::now())
            .cloned()
    }

    /// Drops the cached token if it is still the one that was rejected.
    fn invalidate(&self, generation: u64) {
        if let Ok(mut guard) = self.cache.current.write() {
            if guard.as_ref().is_some_and(|t| t.generation == generation) {
                *guard = None;
            }
        }
    }

    /// The cached token, or one fresh token fetched for all concurrent callers.
    async fn token(&self) -> Result<CachedToken, ManagementError> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let mut generation = self.cache.fetching.lock().await;
        // Another caller may have fetched while we waited.
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let tokens = self.fetch_token().await?;
        *generation += 1;
        let lifetime = Duration::from_secs(tokens.expires_in);
        let usable = if lifetime > self.margin {
            lifetime - self.margin
        } else {
            lifetime / 2
        };
        let cached = CachedToken {
            token: Arc::new(tokens.access_token),
            valid_until: Instant::now() + usable,
            generation: *generation,
        };
        if let Ok(mut guard) = self.cache.current.write() {
            *guard = Some(cached.clone());
        }
        Ok(cached)
    }

    #[instrument(
        name = "auth0.oauth.token",
        skip_all,
        fields(grant = "client_credentials", status, error_code)
    )]
    async fn fetch_token(&self) -> Result<super::TokenSet, ManagementError> {
        let start = Instant::now();
        let r = self.fetch_token_inner().await;
        self.observe("mgmt_oauth_token", start, &r);
        r
    }

    async fn fetch_token_inner(&self) -> Result<super::TokenSet, ManagementError> {
        let url = endpoint(&self.base, "oauth/token").map_err(management_token_error)?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("audience", self.audience.as_str()),
        ];
        let answer = send(|| self.http.post(url.clone()).form(&form), self.timeout, 0)
            .await
            .map_err(unavailable)?;
        token_set(&answer, Call::ClientCredentials).map_err(management_token_error)
    }

    /// Sends an authenticated request; on 401 drops the token and retries once
    /// with a fresh one. GETs are also retried on 5xx/transport errors.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, ManagementError> {
        let start = Instant::now();
        let label = endpoint_label(&method, path);
        let r: Result<Answer, ManagementError> = async {
            let url = endpoint(&self.base, path)
                .map_err(|e| ManagementError::unavailable(e.to_string()))?;
            let retries = if method == Method::GET {
                self.retries
            } else {
                0
            };
            let mut renewed = false;
            loop {
                let token = self.token().await?;
                let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.token.expose()))
                    .map_err(|_| ManagementError::unavailable("unusable Management token"))?;
                bearer.set_sensitive(true);
                let answer = send(
                    || {
                        let mut r = self
                            .http
                            .request(method.clone(), url.clone())
                            .header(AUTHORIZATION, bearer.clone());
                        if !query.is_empty() {
                            r = r.query(query);
                        }
                        if let Some(b) = body {
                            r = r.json(b);
                        }
                        r
                    },
                    self.timeout,
                    retries,
                )
                .await
                .map_err(unavailable)?;
                if answer.status == StatusCode::UNAUTHORIZED {
                    self.invalidate(token.generation);
                    if !renewed {
                        renewed = true;
                        tracing::info!("Management token rejected; fetching a new one");
                        continue;
                    }
                }
                if answer.status.is_success() {
                    record(&answer, None);
                    return Ok(answer);
                }
                return Err(refused(&answer));
            }
        }
        .await;
        self.observe(label, start, &r);
        r
    }

    /// `POST path` with a JSON object body.
    async fn post(&self, path: &str, body: Map<String, Value>) -> Result<Answer, ManagementError> {
        self.call(Method::POST, path, &[], Some(&Value::Object(body)))
            .await
    }

    /// `POST /api/v2/users` (201).
    #[instrument(name = "auth0.mgmt.create_user", skip_all, fields(connection = %user.connection, status, error_code))]
    pub async fn create_user(&self, user: &CreateUser) -> Result<ManagementUser, ManagementError> {
        let mut body = Map::new();
        body.insert("connection".into(), json!(user.connection));
        body.insert("email".into(), json!(user.email));
        body.insert("password".into(), json!(user.password.expose()));
        body.insert("email_verified".into(), json!(user.email_verified));
        body.insert("verify_email".into(), json!(user.verify_email));
        if let Some(name) = &user.name {
            body.insert("name".into(), json!(name));
        }
        if let Some(m) = &user.user_metadata {
            body.insert("user_metadata".into(), Value::Object(m.clone()));
        }
        if let Some(m) = &user.app_metadata {
            body.insert("app_metadata".into(), Value::Object(m.clone()));
        }
        let answer = self.post("api/v2/users", body).await?;
        parse(&answer, "create user")
    }

    /// `GET /api/v2/users/{id}`.
    #[instrument(name = "auth0.mgmt.get_user", skip_all, fields(user_id = %id, status, error_code))]
    pub async fn get_user(&self, id: &str) -> Result<ManagementUser, ManagementError> {
        let answer = self
            .call(Method::GET, &format!("api/v2/users/{}", enc(id)), &[], None)
            .await?;
        parse(&answer, "get user")
    }

    /// `GET /api/v2/users-by-email` (exact, case-sensitive match; Auth0 stores
    /// database emails lower-case).
    #[instrument(
        name = "auth0.mgmt.users_by_email",
        skip_all,
        fields(status, error_code)
    )]
    pub async fn users_by_email(
        &self,
        email: &str,
    ) -> Result<Vec<ManagementUser>, ManagementError> {
        let answer = self
            .call(
                Method::GET,
                "api/v2/users-by-email",
                &[("email", email.to_owned())],
                None,
            )
            .await?;
        parse(&answer, "users-by-email")
    }

    /// `GET /api/v2/users?q=…` (Lucene query, search engine v3), one page
    /// (traced by [`Self::search_users_sorted`]).
    pub async fn search_users(
        &self,
        q: &str,
        page: u32,
        per_page: u32,
    ) -> Result<UserPage, ManagementError> {
        self.search_users_sorted(q, None, page, per_page).await
    }

    /// [`Self::search_users`] in the order `sort` names (`field:1` ascending,
    /// `field:-1` descending), so that consecutive pages neither skip nor
    /// repeat a user.
    #[instrument(
        name = "auth0.mgmt.search_users",
        skip_all,
        fields(page, per_page, status, error_code)
    )]
    pub async fn search_users_sorted(
        &self,
        q: &str,
        sort: Option<&str>,
        page: u32,
        per_page: u32,
    ) -> Result<UserPage, ManagementError> {
        #[derive(Deserialize)]
        struct Page {
            users: Vec<ManagementUser>,
            total: Option<u64>,
        }
        let answer = self
            .call(
                Method::GET,
                "api/v2/users",
                &[
                    ("q", q.to_owned()),
                    ("search_engine", "v3".to_owned()),
                    ("page", page.to_string()),
                    ("per_page", per_page.to_string()),
                    ("include_totals", "true".to_owned()),
                ]
                .into_iter()
                .chain(sort.map(|s| ("sort", s.to_owned())))
                .collect::<Vec<_>>(),
                None,
            )
            .await?;
        // With include_totals Auth0 answers an object; tolerate a bare array.
        match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Array(_)) => {
                let users: Vec<ManagementUser> = parse(&answer, "user search")?;
                let total = users.len() as u64;
                Ok(UserPage { users, total })
            }
            _ => {
                let p: Page = parse(&answer, "user search")?;
                let total = p.total.unwrap_or(p.users.len() as u64);
                Ok(UserPage {
                    users: p.users,
                    total,
                })
            }
        }
    }

    /// Pages through a listing: with `include_totals`, Auth0 answers an
    /// object holding the items under `key` and a `total`; bare arrays are
    /// tolerated (then a short page ends the listing).
    async fn all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        extra: &[(&str, String)],
        key: &str,
    ) -> Result<Vec<T>, ManagementError> {
        let mut items: Vec<T> = Vec::new();
        for page in 0..MAX_PAGES {
            let mut query: Vec<(&str, String)> = extra.to_vec();
            query.push(("page", page.to_string()));
            query.push(("per_page", PAGE_SIZE.to_string()));
            query.push(("include_totals", "true".to_owned()));
            let answer = self.call(Method::GET, path, &query, None).await?;
            let (batch, total) = match parse::<Value>(&answer, key)? {
                Value::Array(batch) => (batch, None),
                Value::Object(mut o) => match o.remove(key) {
                    Some(Value::Array(batch)) => (batch, o.get("total").and_then(Value::as_u64)),
                    _ => return Err(unavailable(format!("unexpected {key} answer"))),
                },
                _ => return Err(unavailable(format!("unexpected {key} answer"))),
            };
            let batch_len = batch.len();
            for item in batch {
                items.push(
                    serde_json::from_value(item)
                        .map_err(|_| unavailable(format!("unexpected {key} answer")))?,
                );
            }
            let done = total.is_some_and(|total| items.len() as u64 >= total);
            if done || batch_len < PAGE_SIZE as usize {
                return Ok(items);
            }
        }
        tracing::warn!(pages = MAX_PAGES, key, "listing truncated");
        Ok(items)
    }

    async fn all_roles(
        &self,
        path: &str,
        extra: &[(&str, String)],
    ) -> Result<Vec<Role>, ManagementError> {
        self.all_pages(path, extra, "roles").await
    }

    /// `GET /api/v2/roles`, all pages, optionally filtered by name (case-insensitive, substring).
    #[instrument(name = "auth0.mgmt.list_roles", skip_all, fields(status, error_code))]
    pub async fn list_roles(
        &self,
        name_filter: Option<&str>,
    ) -> Result<Vec<Role>, ManagementError> {
        let extra: Vec<(&str, String)> = name_filter
            .filter(|f| !f.is_empty())
            .map(|f| vec![("name_filter", f.to_owned())])
            .unwrap_or_default();
        self.all_roles("api/v2/roles", &extra).await
    }

    /// Assigning and removing roles differ only in the method; an empty list
    /// makes no call, so callers need not check.
    async fn change_roles(
        &self,
        method: Method,
        user_id: &str,
        role_ids: &[String],
    ) -> Result<(), ManagementError> {
        if role_ids.is_empty() {
            return Ok(());
        }
        self.call(
            method,
            &format!("api/v2/users/{}/roles", enc(user_id)),
            &[],
            Some(&json!({ "roles": role_ids })),
        )
        .await?;
        Ok(())
    }

    /// `POST /api/v2/users/{id}/roles` (204).
    #[instrument(name = "auth0.mgmt.assign_roles", skip_all, fields(user_id = %user_id, count = role_ids.len(), status, error_code))]
    pub async fn assign_roles(
        &self,
        user_id: &str,
        role_ids: &[String],
    ) -> Result<(), ManagementError> {
        self.change_roles(Method::POST, user_id, role_ids).await
    }

    /// `DELETE /api/v2/users/{id}/roles` with `{"roles": [...]}` (204).
    #[instrument(name = "auth0.mgmt.remove_roles", skip_all, fields(user_id = %user_id, count = role_ids.len(), status, error_code))]
    pub async fn remove_roles(
        &self,
        user_id: &str,
        role_ids: &[String],
    ) -> Result<(), ManagementError> {
        self.change_roles(Method::DELETE, user_id, role_ids).await
    }

    /// `PATCH /api/v2/users/{id}` with `{"app_metadata": {...}}` (200, the
    /// updated user). Auth0 merges `app_metadata` at its top level: keys not
    /// named are kept, a key set to `null` is removed.
    #[instrument(name = "auth0.mgmt.update_user", skip_all, fields(user_id = %user_id, status, error_code))]
    pub async fn update_app_metadata(
        &self,
        user_id: &str,
        app_metadata: &Map<String, Value>,
    ) -> Result<ManagementUser, ManagementError> {
        let answer = self
            .call(
                Method::PATCH,
                &format!("api/v2/users/{}", enc(user_id)),
                &[],
                Some(&json!({ "app_metadata": app_metadata })),
            )
            .await?;
        parse(&answer, "update user")
    }

    /// `DELETE /api/v2/users/{id}` (204; 404 `inexistent_user` for an id
    /// the tenant does not know).
    #[instrument(name = "auth0.mgmt.delete_user", skip_all, fields(user_id = %user_id, status, error_code))]
    pub async fn delete_user(&self, user_id: &str) -> Result<(), ManagementError> {
        self.call(
            Method::DELETE,
            &format!("api/v2/users/{}", enc(user_id)),
            &[],
            None,
        )
        .await?;
        Ok(())
    }

    /// `GET /api/v2/users/{id}/roles`, all pages.
    #[instrument(name = "auth0.mgmt.user_roles", skip_all, fields(user_id = %user_id, status, error_code))]
    pub async fn user_roles(&self, user_id: &str) -> Result<Vec<Role>, ManagementError> {
        self.all_roles(&format!("api/v2/users/{}/roles", enc(user_id)), &[])
            .await
    }

    /// `GET /api/v2/roles/{id}/permissions`, all pages (`read:roles`).
    #[instrument(name = "auth0.mgmt.role_permissions", skip_all, fields(role_id = %role_id, status, error_code))]
    pub async fn role_permissions(
        &self,
        role_id: &str,
    ) -> Result<Vec<RolePermission>, ManagementError> {
        self.all_pages(
            &format!("api/v2/roles/{}/permissions", enc(role_id)),
            &[],
            "permissions",
        )
        .await
    }

    /// `POST /api/v2/tickets/password-change` (201) → the ticket URL (ends with `#`;
    /// append UI hints such as `type=invite` after it).
    #[instrument(name = "auth0.mgmt.password_change_ticket", skip_all, fields(user_id = %req.user_id, status, error_code))]
    pub async fn create_password_change_ticket(
        &self,
        req: &TicketRequest,
    ) -> Result<Url, ManagementError> {
        if req.result_url.is_some() && req.client_id.is_some() {
            return Err(ManagementError::BadRequest(
                "result_url and client_id are mutually exclusive".to_owned(),
            ));
        }
        let mut body = Map::new();
        body.insert("user_id".into(), json!(req.user_id));
        if let Some(u) = &req.result_url {
            body.insert("result_url".into(), json!(u.as_str()));
        }
        if let Some(c) = &req.client_id {
            body.insert("client_id".into(), json!(c));
        }
        if req.ttl_sec > 0 {
            body.insert("ttl_sec".into(), json!(req.ttl_sec));
        }
        body.insert(
            "mark_email_as_verified".into(),
            json!(req.mark_email_as_verified),
        );
        let answer = self.post("api/v2/tickets/password-change", body).await?;
        #[derive(Deserialize)]
        struct Ticket {
            ticket: String,
        }
        let t: Ticket = parse(&answer, "password-change ticket")?;
        Url::parse(&t.ticket)
            .map_err(|_| ManagementError::unavailable("password-change ticket is not a valid URL"))
    }
}
