//! The Authentication API client (`/dbconnections/*`, `/oauth/*`, `/userinfo`).

use async_trait::async_trait;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tracing::{instrument, Span};
use url::Url;

use super::error::{map_auth_error, Call};
use super::http::{send, Answer};
use super::{
    Auth0Settings, CallContext, IdentityProvider, ProviderError, SignupRequest, SignupResponse,
    TokenSet,
};
use crate::secret::Secret;

const PASSWORD_REALM_GRANT: &str = "http://auth0.com/oauth/grant-type/password-realm";
pub(super) const FORWARDED_FOR: &str = "auth0-forwarded-for";

/// Auth0 Authentication API client; cheap to clone (the HTTP client is shared).
#[derive(Debug, Clone)]
pub struct Auth0Client {
    pub(super) settings: Auth0Settings,
    pub(super) base: Url,
    pub(super) http: reqwest::Client,
}

/// The token endpoint's success body.
#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    expires_in: u64,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

/// Joins a relative path to the base URL (which ends with `/`).
pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url, ProviderError> {
    base.join(path)
        .map_err(|e| ProviderError::unavailable(format!("invalid endpoint URL `{path}`: {e}")))
}

/// Records the answer on the current span and logs the outcome.
pub(crate) fn record(answer: &Answer, code: Option<&str>) {
    let span = Span::current();
    span.record("status", answer.status.as_u16());
    if let Some(code) = code {
        span.record("error_code", code);
    }
}

/// Logs a failed call: status and Auth0 error code only, never the body.
/// Caller mistakes at debug; configuration and availability problems at warn.
pub(crate) fn log_failure(answer: &Answer, code: Option<&str>, err: &ProviderError) {
    let status = answer.status.as_u16();
    let code = code.unwrap_or("");
    match err {
        ProviderError::Misconfigured { .. }
        | ProviderError::Unavailable { .. }
        | ProviderError::RateLimited { .. } => {
            tracing::warn!(
                status,
                error_code = code,
                kind = err.kind(),
                "Auth0 call failed"
            )
        }
        _ => tracing::debug!(
            status,
            error_code = code,
            kind = err.kind(),
            "Auth0 call failed"
        ),
    }
}

/// Parses the token endpoint's answer.
pub(crate) fn token_set(answer: &Answer, call: Call) -> Result<TokenSet, ProviderError> {
    if !answer.status.is_success() {
        let err = map_auth_error(call, answer.status, &answer.headers, &answer.body);
        let code = super::error::ErrorBody::parse(&answer.body).and_then(|b| b.code);
        record(answer, code.as_deref());
        log_failure(answer, code.as_deref(), &err);
        return Err(err);
    }
    record(answer, None);
    let body: TokenBody = serde_json::from_slice(&answer.body).map_err(|e| {
        ProviderError::unavailable(format!(
            "unexpected token response (HTTP {}): {}",
            answer.status.as_u16(),
            // serde's message names the field, never the value of a string.
            e.classify_message()
        ))
    })?;
    if body.access_token.is_empty() {
        return Err(ProviderError::unavailable(
            "unexpected token response: empty access_token",
        ));
    }
    Ok(TokenSet {
        access_token: Secret::new(body.access_token),
        id_token: body.id_token.filter(|t| !t.is_empty()).map(Secret::new),
        refresh_token: body
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        expires_in: body.expires_in,
        scope: body.scope,
        token_type: body.token_type.unwrap_or_else(|| "Bearer".to_owned()),
    })
}

/// A short, value-free description of a serde_json error.
trait Classify {
    fn classify_message(&self) -> String;
}

impl Classify for serde_json::Error {
    fn classify_message(&self) -> String {
        use serde_json::error::Category;
        match self.classify() {
            Category::Io => "I/O error".to_owned(),
            Category::Syntax | Category::Eof => "not valid JSON".to_owned(),
            // "missing field `access_token`" / "invalid type: …" — keep only the
            // part before a quoted value could appear.
            Category::Data => {
                let msg = self.to_string();
                if msg.starts_with("missing field") {
                    msg.split(" at line").next().unwrap_or("").to_owned()
                } else {
                    "a field has an unexpected type".to_owned()
                }
            }
        }
    }
}

pub(crate) fn transport(reason: String) -> ProviderError {
    tracing::warn!(%reason, "Auth0 call failed");
    ProviderError::Unavailable { reason }
}

impl Auth0Client {
    /// A client for the tenant in `settings`, sharing `http` (see [`crate::outbound::client`]).
    pub fn new(settings: Auth0Settings, http: reqwest::Client) -> Self {
        let base = settings.base_url();
        Self {
            settings,
            base,
            http,
        }
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &Auth0Settings {
        &self.settings
    }

    pub(super) fn forwarded_for(&self, ctx: &CallContext) -> Option<HeaderValue> {
        if !self.settings.send_forwarded_for {
            return None;
        }
        ctx.client_ip
            .and_then(|ip| HeaderValue::from_str(&ip.to_string()).ok())
    }

    /// POSTs a form to `/oauth/token`, never retried (a retried login would
    /// count twice against brute-force protection).
    async fn token_call(
        &self,
        form: &[(&str, &str)],
        call: Call,
        ctx: &CallContext,
    ) -> Result<TokenSet, ProviderError> {
        let url = endpoint(&self.base, "oauth/token")?;
        let forwarded = self.forwarded_for(ctx);
        let answer = send(
            || {
                let mut req = self.http.post(url.clone()).form(form);
                if let Some(ip) = &forwarded {
                    req = req.header(FORWARDED_FOR, ip.clone());
                }
                req
            },
            self.settings.timeout,
            0,
        )
        .await
        .map_err(transport)?;
        token_set(&answer, call)
    }

    /// Maps a non-success answer of a non-token call, logging status and code.
    fn fail(&self, answer: &Answer, call: Call) -> ProviderError {
        let code = super::error::ErrorBody::parse(&answer.body).and_then(|b| b.code);
        record(answer, code.as_deref());
        let err = map_auth_error(call, answer.status, &answer.headers, &answer.body);
        log_failure(answer, code.as_deref(), &err);
        err
    }

    /// A success is recorded on the span; anything else is `call`'s error.
    fn success(&self, answer: &Answer, call: Call) -> Result<(), ProviderError> {
        if !answer.status.is_success() {
            return Err(self.fail(answer, call));
        }
        record(answer, None);
        Ok(())
    }

    /// POSTs `body` as JSON to the tenant's `path`, retried (idempotent calls only).
    async fn post_idempotent(&self, path: &str, body: &Value) -> Result<Answer, ProviderError> {
        let url = endpoint(&self.base, path)?;
        let s = &self.settings;
        send(
            || self.http.post(url.clone()).json(body),
            s.timeout,
            s.retries,
        )
        .await
        .map_err(transport)
    }

    /// `POST /dbconnections/signup` (JSON). Never retried.
    #[instrument(name = "auth0.dbconnections.signup", skip_all, fields(request_id = ctx.request_id.as_deref(), status, error_code))]
    async fn do_signup(
        &self,
        req: &SignupRequest,
        ctx: &CallContext,
    ) -> Result<SignupResponse, ProviderError> {
        let url = endpoint(&self.base, "dbconnections/signup")?;
        let mut body = Map::new();
        body.insert("client_id".into(), json!(self.settings.client_id));
        body.insert("connection".into(), json!(self.settings.connection));
        body.insert("email".into(), json!(req.email));
        body.insert("password".into(), json!(req.password.expose()));
        let optional = [
            ("username", &req.username),
            ("given_name", &req.given_name),
            ("family_name", &req.family_name),
            ("name", &req.name),
            ("nickname", &req.nickname),
            ("picture", &req.picture),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                body.insert(key.into(), json!(v));
            }
        }
        if let Some(meta) = &req.user_metadata {
            body.insert("user_metadata".into(), Value::Object(meta.clone()));
        }
        let body = Value::Object(body);
        let forwarded = self.forwarded_for(ctx);
        let answer = send(
            || {
                let mut r = self.http.post(url.clone()).json(&body);
                if let Some(ip) = &forwarded {
                    r = r.header(FORWARDED_FOR, ip.clone());
                }
                r
            },
            self.settings.timeout,
            0,
        )
        .await
        .map_err(transport)?;
        self.success(&answer, Call::Signup)?;
        parse_signup(&answer, &req.email)
    }

    /// `POST /oauth/token` with the password or password-realm grant.
    #[instrument(name = "auth0.oauth.token", skip_all, fields(grant = if self.settings.realm.is_some() { "password-realm" } else { "password" }, request_id = ctx.request_id.as_deref(), status, error_code))]
    async fn do_login(
        &self,
        email: &str,
        password: &Secret,
        ctx: &CallContext,
    ) -> Result<TokenSet, ProviderError> {
        let s = &self.settings;
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &s.client_id),
            ("client_secret", s.client_secret.expose()),
            ("username", email),
            ("password", password.expose()),
            ("audience", &s.audience),
            ("scope", &s.scope),
        ];
        match &s.realm {
            Some(realm) => {
                form.push(("grant_type", PASSWORD_REALM_GRANT));
                form.push(("realm", realm));
            }
            None => form.push(("grant_type", "password")),
        }
        self.token_call(&form, Call::PasswordGrant, ctx).await
    }

    /// `POST /oauth/token` with the refresh_token grant.
    #[instrument(name = "auth0.oauth.token", skip_all, fields(grant = "refresh_token", request_id = ctx.request_id.as_deref(), status, error_code))]
    async fn do_refresh(
        &self,
        refresh_token: &Secret,
        ctx: &CallContext,
    ) -> Result<TokenSet, ProviderError> {
        let s = &self.settings;
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", s.client_id.as_str()),
            ("client_secret", s.client_secret.expose()),
            ("refresh_token", refresh_token.expose()),
        ];
        self.token_call(&form, Call::RefreshGrant, ctx).await
    }

    /// `POST /oauth/revoke` (JSON); retried (idempotent).
    #[instrument(name = "auth0.oauth.revoke", skip_all, fields(request_id = ctx.request_id.as_deref(), status, error_code))]
    async fn do_revoke(
        &self,
        refresh_token: &Secret,
        ctx: &CallContext,
    ) -> Result<(), ProviderError> {
        let s = &self.settings;
        let body = json!({
            "client_id": s.client_id,
            "client_secret": s.client_secret.expose(),
            "token": refresh_token.expose(),
        });
        let answer = self.post_idempotent("oauth/revoke", &body).await?;
        self.success(&answer, Call::Revoke)
    }

    /// `POST /dbconnections/change_password` (JSON; 200 with a text body); retried.
    #[instrument(name = "auth0.dbconnections.change_password", skip_all, fields(request_id = ctx.request_id.as_deref(), status, error_code))]
    async fn do_change_password(
        &self,
        email: &str,
        ctx: &CallContext,
    ) -> Result<(), ProviderError> {
        let s = &self.settings;
        let body = json!({
            "client_id": s.client_id,
            "email": email,
            "connection": s.connection,
        });
        let answer = self
            .post_idempotent("dbconnections/change_password", &body)
            .await?;
        if answer.status == reqwest::StatusCode::NOT_FOUND {
            // Some docs list 404 "User not found": the caller must not learn
            // whether the user exists, so this is the same success.
            record(&answer, None);
            tracing::debug!("change_password: unknown user, answered as success");
            return Ok(());
        }
        self.success(&answer, Call::ChangePassword)
    }

    /// `GET /userinfo` with the access token; retried.
    #[instrument(name = "auth0.userinfo", skip_all, fields(request_id = ctx.request_id.as_deref(), status, error_code))]
    async fn do_userinfo(
        &self,
        access_token: &Secret,
        ctx: &CallContext,
    ) -> Result<Map<String, Value>, ProviderError> {
        let url = endpoint(&self.base, "userinfo")?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", access_token.expose()))
            .map_err(|_| ProviderError::InvalidAccessToken)?;
        bearer.set_sensitive(true);
        let answer = send(
            || {
                self.http
                    .get(url.clone())
                    .header(AUTHORIZATION, bearer.clone())
            },
            self.settings.timeout,
            self.settings.retries,
        )
        .await
        .map_err(transport)?;
        self.success(&answer, Call::Userinfo)?;
        match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(ProviderError::unavailable(
                "unexpected /userinfo answer: not a JSON object",
            )),
        }
    }
}

/// Reads the signup answer: the id may be `_id`, `id` or `user_id`.
fn parse_signup(answer: &Answer, requested_email: &str) -> Result<SignupResponse, ProviderError> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&answer.body) else {
        return Err(ProviderError::unavailable(
            "unexpected signup answer: not a JSON object",
        ));
    };
    let id = ["_id", "user_id", "id"]
        .iter()
        .find_map(|k| match obj.get(*k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        });
    let Some(id) = id else {
        return Err(ProviderError::unavailable(
            "unexpected signup answer: no _id, id or user_id",
        ));
    };
    let user_id = if id.contains('|') {
        id
    } else {
        format!("auth0|{id}")
    };
    let email = match obj.get("email") {
        Some(Value::String(e)) => e.clone(),
        _ => requested_email.to_owned(),
    };
    let email_verified = matches!(obj.get("email_verified"), Some(Value::Bool(true)));
    Ok(SignupResponse {
        user_id,
        email,
        email_verified,
    })
}

/// Writes the trait impl: each method is the inherent call of its endpoint
/// (those of the MFA API in `mfa.rs`, beside their wire types), so a
/// signature is spelled once, in the trait.
macro_rules! route_to_inherent {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $ok:ty => $inherent:ident;)+) => {
        #[async_trait]
        impl IdentityProvider for Auth0Client {
            $(
                async fn $method(&self, $($arg: $ty,)* ctx: &CallContext) -> Result<$ok, ProviderError> {
                    self.$inherent($($arg,)* ctx).await
                }
            )+
        }
    };
}

route_to_inherent! {
    signup(req: &SignupRequest) -> SignupResponse => do_signup;
    password_login(email: &str, password: &Secret) -> TokenSet => do_login;
    refresh(refresh_token: &Secret) -> TokenSet => do_refresh;
    revoke_refresh_token(refresh_token: &Secret) -> () => do_revoke;
    request_password_reset(email: &str) -> () => do_change_password;
    userinfo(access_token: &Secret) -> Map<String, Value> => do_userinfo;
    mfa_authenticators(mfa_token: &Secret) -> Vec<super::MfaAuthenticator> => do_mfa_authenticators;
    mfa_associate(mfa_token: &Secret, enrolment: &super::MfaEnrolment) -> super::MfaAssociation => do_mfa_associate;
    mfa_challenge(mfa_token: &Secret, req: &super::MfaChallengeRequest) -> super::MfaChallenge => do_mfa_challenge;
    mfa_grant(mfa_token: &Secret, grant: &super::MfaGrant) -> super::MfaTokens => do_mfa_grant;
}
