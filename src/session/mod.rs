//! The built-in auth mutations: `signup`, `login`, `refreshToken`, `logout`,
//! `requestPasswordReset`, and `me`'s profile fields.
//!
//! The browser never talks to Auth0: these resolvers call the identity
//! provider as a confidential client, verify what it issues (access token and
//! ID token), keep the refresh token in an HttpOnly cookie when configured,
//! and write an audit event for every attempt.

mod input;
mod mfa;
mod mfa_seal;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{Name, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use input::{email_arg, Email, Password};
pub use mfa::MfaSettings;

use crate::auth::{Authenticate, Principal, Rejection, User};
use crate::auth0::{CallContext, IdentityProvider, ProviderError, SignupRequest, TokenSet};
use crate::error::ApiError;
use crate::graphql::{object, viewer_fields, viewer_value, Bindings, RequestContext};
use crate::secret::Secret;
use crate::store::Store;

/// Where the refresh token lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Custody {
    /// In the mutation payload; the client stores it.
    Body,
    /// In an `HttpOnly; Secure; SameSite=Strict` cookie; never in the body.
    Cookie,
}

/// How audit events name the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditEmail {
    /// `a***@example.com`
    Mask,
    /// hex SHA-256 of the lower-cased address (joinable, not readable)
    Hash,
}

/// `[session]`: how tokens reach the client, and sign-up behaviour.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    pub custody: Custody,
    /// Name of the refresh-token cookie (cookie custody).
    pub cookie_name: String,
    /// `Secure` on the cookie. Browsers accept Secure cookies on http://localhost.
    pub cookie_secure: bool,
    /// Lifetime of the refresh-token cookie.
    #[serde(with = "humantime_serde")]
    pub cookie_max_age: Duration,
    /// Also accept the access token from this cookie (empty: header only).
    pub access_token_cookie: String,
    /// Log the user in right after sign-up and return tokens.
    pub login_after_signup: bool,
    /// Answer a taken email exactly like a successful sign-up awaiting
    /// verification (needs `login_after_signup = false`).
    pub enumeration_safe_signup: bool,
    /// The key of the user ids invented for taken emails (HMAC-SHA256), so
    /// that nobody can compute them offline. Unset: derived from
    /// `auth0.client_secret` (replicas sharing it agree), else random per
    /// process (replicas would then disagree on a retried sign-up).
    pub enumeration_key: Option<Secret>,
    /// Longest password accepted, in characters (Auth0 accepts at least 128).
    pub max_password_chars: usize,
    pub audit_email: AuditEmail,
    /// How long `/userinfo` answers are reused for `me`'s profile fields.
    #[serde(with = "humantime_serde")]
    pub userinfo_cache_ttl: Duration,
    /// `[session.mfa]`: the multi-factor login.
    pub mfa: MfaSettings,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            custody: Custody::Body,
            cookie_name: "authgate_refresh".into(),
            cookie_secure: true,
            cookie_max_age: Duration::from_secs(30 * 86_400),
            access_token_cookie: String::new(),
            login_after_signup: true,
            enumeration_safe_signup: false,
            enumeration_key: None,
            max_password_chars: 1024,
            audit_email: AuditEmail::Mask,
            userinfo_cache_ttl: Duration::from_secs(60),
            mfa: MfaSettings::default(),
        }
    }
}

impl SessionSettings {
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if self.enumeration_safe_signup && self.login_after_signup {
            v.push((
                "session.enumeration_safe_signup".into(),
                "needs session.login_after_signup = false (tokens would reveal which sign-ups were real)".into(),
            ));
        }
        if self
            .enumeration_key
            .as_ref()
            .is_some_and(|k| !k.is_empty() && k.expose().len() < 32)
        {
            v.push((
                "session.enumeration_key".into(),
                "must be at least 32 characters (or unset)".into(),
            ));
        }
        if self.cookie_name.is_empty()
            || !self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            v.push((
                "session.cookie_name".into(),
                "must be letters, digits, `_` or `-`".into(),
            ));
        }
        if self.max_password_chars < 128 {
            v.push((
                "session.max_password_chars".into(),
                "must be at least 128".into(),
            ));
        }
        v.extend(self.mfa.validate());
        v
    }
}

/// What the session resolvers need.
pub struct SessionService {
    pub settings: SessionSettings,
    pub provider: Arc<dyn IdentityProvider>,
    pub guard: Arc<dyn Authenticate>,
    pub store: Arc<dyn Store>,
    /// `Path` of the cookie: the GraphQL endpoint.
    pub cookie_path: String,
    userinfo: moka::future::Cache<String, Arc<serde_json::Map<String, serde_json::Value>>>,
    /// Keys the user ids of enumeration-safe answers (see [`fake_user_id`]).
    enumeration_key: Secret,
    /// Seals MFA session handles (`None` only if the cipher refused its key).
    mfa_sealer: Option<mfa_seal::Sealer>,
}

impl SessionService {
    pub fn new(
        settings: SessionSettings,
        provider: Arc<dyn IdentityProvider>,
        guard: Arc<dyn Authenticate>,
        store: Arc<dyn Store>,
        cookie_path: String,
    ) -> Self {
        let userinfo = moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(settings.userinfo_cache_ttl.max(Duration::from_millis(1)))
            .build();
        let enumeration_key = match &settings.enumeration_key {
            Some(k) if !k.is_empty() => k.clone(),
            _ => {
                let mut bytes = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
                Secret::new(hex::encode(bytes))
            }
        };
        let mfa_sealer = settings.mfa.sealer();
        Self {
            settings,
            provider,
            guard,
            store,
            cookie_path,
            userinfo,
            enumeration_key,
            mfa_sealer,
        }
    }

    /// Without `session.enumeration_key`, the key is derived from `secret`
    /// (the application's client secret) so that every replica invents the
    /// same id for the same email; an empty secret keeps the random key.
    /// The same holds for `session.mfa.key`, which seals MFA sessions (its
    /// own derivation: the two keys differ).
    pub fn with_enumeration_key_from(mut self, secret: &Secret) -> Self {
        if !self.settings.mfa.key_configured() && !secret.is_empty() {
            self.mfa_sealer = mfa_seal::Sealer::from_material(secret);
        }
        let configured = self
            .settings
            .enumeration_key
            .as_ref()
            .is_some_and(|k| !k.is_empty());
        if !configured && !secret.is_empty() {
            let derived = hmac_sha256(
                secret.expose().as_bytes(),
                b"authgate enumeration-safe signup",
            );
            self.enumeration_key = Secret::new(hex::encode(derived));
        }
        self
    }

    fn audit_user(&self, email: &str) -> String {
        match self.settings.audit_email {
            AuditEmail::Mask => mask_email(email),
            AuditEmail::Hash => hex::encode(Sha256::digest(email.to_lowercase().as_bytes())),
        }
    }

    fn cookie(&self, value: &str, max_age: Duration) -> String {
        let mut c = format!(
            "{}={value}; HttpOnly; SameSite=Strict; Path={}; Max-Age={}",
            self.settings.cookie_name,
            self.cookie_path,
            max_age.as_secs()
        );
        if self.settings.cookie_secure {
            c.push_str("; Secure");
        }
        c
    }

    /// Verifies the tokens the provider issued and builds the payload.
    async fn auth_payload(
        &self,
        ctx: &ResolverContext<'_>,
        tokens: TokenSet,
        previous_refresh: Option<&Secret>,
    ) -> Result<Value, ApiError> {
        let principal = self.guard.authenticate(tokens.access_token.expose()).await;
        // an outage (no keys, store down) is not a misconfiguration: say so;
        // a revoked token is the same-second twin of one logged out (see login)
        if let Principal::Anonymous {
            rejection:
                Some(
                    r @ (Rejection::KeysUnavailable
                    | Rejection::StoreUnavailable
                    | Rejection::Revoked),
                ),
        } = principal
        {
            return Err(ApiError::Unauthenticated(Some(r)));
        }
        let Principal::User(user) = principal else {
            tracing::error!(
                rejection = ?principal,
                "the identity provider issued an access token authgate cannot verify: check auth0.audience and the guard's issuer/JWKS (an opaque token means no audience was sent)"
            );
            return Err(ApiError::Internal);
        };
        let profile = match &tokens.id_token {
            Some(id) => match self.guard.verify_id_token(id.expose()).await {
                Ok(claims) => Some(claims),
                Err(why) => {
                    tracing::error!(rejection = ?why, "the ID token failed verification");
                    return Err(ApiError::Internal);
                }
            },
            None => None,
        };
        let refresh = tokens.refresh_token.as_ref().or(previous_refresh);
        let refresh_value = match (self.settings.custody, refresh) {
            (Custody::Cookie, Some(rt)) => {
                ctx.append_http_header(
                    "set-cookie",
                    self.cookie(rt.expose(), self.settings.cookie_max_age),
                );
                Value::Null
            }
            (Custody::Body, Some(rt)) => Value::String(rt.expose().to_owned()),
            (_, None) => Value::Null,
        };
        let opt = |s: &Option<Secret>| {
            s.as_ref()
                .map_or(Value::Null, |v| Value::String(v.expose().to_owned()))
        };
        Ok(object([
            (
                "accessToken",
                Value::String(tokens.access_token.expose().to_owned()),
            ),
            ("tokenType", Value::String(tokens.token_type.clone())),
            ("expiresIn", Value::from(tokens.expires_in)),
            (
                "expiresAt",
                Value::String(crate::graphql::rfc3339(user.expires_at)),
            ),
            (
                "scope",
                tokens.scope.clone().map_or(Value::Null, Value::String),
            ),
            ("idToken", opt(&tokens.id_token)),
            ("refreshToken", refresh_value),
            ("user", viewer_value(&user, profile.as_ref())),
        ]))
    }

    fn clear_cookie(&self, ctx: &ResolverContext<'_>) {
        if self.settings.custody == Custody::Cookie {
            ctx.append_http_header("set-cookie", self.cookie("", Duration::ZERO));
        }
    }

    /// The refresh token: the argument, else (cookie custody) the cookie.
    fn refresh_token(&self, ctx: &ResolverContext<'_>, rc: &RequestContext) -> Option<Secret> {
        let arg = ctx
            .args
            .get("refreshToken")
            .and_then(|v| v.string().ok().map(str::to_owned))
            .filter(|s| !s.is_empty());
        match arg {
            Some(a) => Some(Secret::new(a)),
            None if self.settings.custody == Custody::Cookie => rc
                .meta
                .cookie(&self.settings.cookie_name)
                .filter(|c| !c.is_empty())
                .cloned(),
            None => None,
        }
    }

    /// The request context and the `input` of login and signup, with its
    /// email and password parsed.
    fn credentials<'a>(
        &self,
        ctx: &'a ResolverContext<'_>,
    ) -> Result<
        (
            &'a RequestContext,
            async_graphql::dynamic::ObjectAccessor<'a>,
            Email,
            Password,
        ),
        ApiError,
    > {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        let input = ctx
            .args
            .try_get("input")
            .and_then(|v| v.object())
            .map_err(|_| ApiError::bad_input("`input` is required"))?;
        let email = email_arg(input.get("email"), "input.email")?;
        let password = Password::parse_arg(
            input.get("password"),
            "input.password",
            self.settings.max_password_chars,
        )?;
        Ok((rc, input, email, password))
    }

    /// A refresh token the client never receives (its login failed after
    /// the grant) is revoked rather than left live (best effort).
    async fn revoke_unused(&self, rt: &Secret, call: &CallContext) {
        if let Err(e) = self.provider.revoke_refresh_token(rt, call).await {
            tracing::warn!(
                error = e.kind(),
                "could not revoke the refresh token of a failed login"
            );
        }
    }

    async fn login(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let (rc, _input, email, password) = self.credentials(ctx)?;
        crate::limits::enforce(ctx, crate::limits::Operation::Login, Some(email.as_str())).await?;
        let call = call_context(rc);
        let user = self.audit_user(email.as_str());
        // the new access token must pass the revocation check: while the
        // store cannot answer, don't have tokens issued only to drop them
        if let Err(e) = self.store.revocation_check_ready().await {
            tracing::warn!(error = %e, "login refused before the grant: the store is unavailable");
            audit("login", &user, rc, "error", Some("store_unavailable"));
            return Err(ApiError::Unauthenticated(Some(Rejection::StoreUnavailable)));
        }
        let mut retried = false;
        loop {
            let tokens = match self
                .provider
                .password_login(email.as_str(), password.secret(), &call)
                .await
            {
                Ok(tokens) => tokens,
                Err(ProviderError::MfaRequired { mfa_token }) => {
                    return Err(self
                        .mfa_required(ctx, rc, &email, &user, &mfa_token, &call)
                        .await);
                }
                Err(e) => {
                    let api = map_provider_error(&e);
                    audit("login", &user, rc, "failure", Some(e.kind()));
                    return Err(api);
                }
            };
            let issued_refresh = tokens.refresh_token.clone();
            let payload = match self.auth_payload(ctx, tokens, None).await {
                // Auth0's default access token has no `jti`: two tokens for the
                // same user issued in the same second are byte-identical. After
                // a logout, a login within that second gets back the revoked
                // token; one grant a second later is a different token.
                Err(ApiError::Unauthenticated(Some(Rejection::Revoked))) if !retried => {
                    retried = true;
                    if let Some(rt) = &issued_refresh {
                        self.revoke_unused(rt, &call).await;
                    }
                    tracing::info!("the new access token equals one logged out this second; asking again in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(ApiError::Unauthenticated(Some(Rejection::Revoked))) => {
                    tracing::error!(
                        "the identity provider keeps issuing an access token that was logged out"
                    );
                    Err(ApiError::Internal)
                }
                other => other,
            };
            if let (Err(_), Some(rt)) = (&payload, &issued_refresh) {
                self.revoke_unused(rt, &call).await;
            }
            audit(
                "login",
                &user,
                rc,
                if payload.is_ok() { "success" } else { "error" },
                None,
            );
            return payload;
        }
    }

    async fn signup(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let (rc, input, email, password) = self.credentials(ctx)?;
        let text = |k: &str| -> Result<Option<String>, ApiError> {
            input::optional_text(input.get(k), &format!("input.{k}"), 300)
        };
        crate::limits::enforce(ctx, crate::limits::Operation::Signup, Some(email.as_str())).await?;
        let mut req = SignupRequest::new(email.as_str(), password.secret().clone());
        req.username = text("username")?;
        req.name = text("name")?;
        req.given_name = text("givenName")?;
        req.family_name = text("familyName")?;
        req.nickname = text("nickname")?;
        req.user_metadata = input::metadata(input.get("metadata"))?;
        let call = call_context(rc);
        let user = self.audit_user(email.as_str());
        let created = match self.provider.signup(&req, &call).await {
            Ok(c) => c,
            Err(ProviderError::UserExists) if self.settings.enumeration_safe_signup => {
                audit("signup", &user, rc, "exists-hidden", Some("user_exists"));
                return Ok(signup_payload(
                    fake_user_id(&self.enumeration_key, &email),
                    email.as_str().to_owned(),
                    false,
                    None,
                ));
            }
            Err(e) => {
                audit("signup", &user, rc, "failure", Some(e.kind()));
                return Err(map_provider_error(&e));
            }
        };
        audit("signup", &user, rc, "success", None);
        let auth = if self.settings.login_after_signup {
            match self
                .provider
                .password_login(email.as_str(), password.secret(), &call)
                .await
            {
                Ok(tokens) => {
                    audit("login", &user, rc, "success", None);
                    Some(self.auth_payload(ctx, tokens, None).await?)
                }
                Err(e) => {
                    // e.g. a rule that requires a verified email: the account exists
                    tracing::warn!(error = e.kind(), "login right after sign-up failed");
                    None
                }
            }
        } else {
            None
        };
        // With enumeration safety both answers echo the address as parsed
        // (lower-cased), never Auth0's spelling of it, so that they cannot differ.
        let echoed = if self.settings.enumeration_safe_signup {
            email.as_str().to_owned()
        } else {
            created.email
        };
        Ok(signup_payload(
            created.user_id,
            echoed,
            created.email_verified,
            auth,
        ))
    }

    async fn refresh(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        let Some(rt) = self.refresh_token(ctx, rc) else {
            return Err(ApiError::RefreshTokenMissing);
        };
        let call = call_context(rc);
        match self.provider.refresh(&rt, &call).await {
            Ok(tokens) => {
                let payload = match self.auth_payload(ctx, tokens, Some(&rt)).await {
                    Err(ApiError::Unauthenticated(Some(Rejection::Revoked))) => {
                        tracing::error!("the refreshed access token equals one logged out");
                        Err(ApiError::Internal)
                    }
                    other => other,
                };
                audit(
                    "refresh",
                    "-",
                    rc,
                    if payload.is_ok() { "success" } else { "error" },
                    None,
                );
                payload
            }
            Err(e) => {
                if matches!(e, ProviderError::InvalidRefreshToken) {
                    self.clear_cookie(ctx);
                }
                audit("refresh", "-", rc, "failure", Some(e.kind()));
                Err(map_provider_error(&e))
            }
        }
    }

    async fn logout(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        // the access token presented: denylisted until the guard stops
        // honouring it (exp plus the largest leeway a reload could set), plus a margin
        if let Principal::User(u) = &rc.principal {
            let ttl = Duration::from_secs(u.expires_at.saturating_sub(now_secs()) + 60)
                + crate::auth::MAX_LEEWAY;
            if let Err(e) = self.store.revoke(&u.token_id, ttl).await {
                tracing::error!(error = %e, "could not put the access token on the revocation list");
                return Err(ApiError::unavailable("logout could not be recorded; retry"));
            }
        }
        let rt = self.refresh_token(ctx, rc);
        self.clear_cookie(ctx);
        if let Some(rt) = rt {
            let call = call_context(rc);
            if let Err(e) = self.provider.revoke_refresh_token(&rt, &call).await {
                audit(
                    "logout",
                    subject(&rc.principal),
                    rc,
                    "failure",
                    Some(e.kind()),
                );
                return Err(map_provider_error(&e));
            }
        }
        audit("logout", subject(&rc.principal), rc, "success", None);
        Ok(object([("ok", Value::Boolean(true))]))
    }

    async fn password_reset(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        let email = email_arg(ctx.args.get("email"), "email")?;
        crate::limits::enforce(
            ctx,
            crate::limits::Operation::PasswordReset,
            Some(email.as_str()),
        )
        .await?;
        let call = call_context(rc);
        let user = self.audit_user(email.as_str());
        match self
            .provider
            .request_password_reset(email.as_str(), &call)
            .await
        {
            Ok(()) => audit("password_reset", &user, rc, "requested", None),
            // whatever Auth0 says about the user, the answer is the same
            Err(
                e @ (ProviderError::Unavailable { .. }
                | ProviderError::RateLimited { .. }
                | ProviderError::TooManyAttempts { .. }),
            ) => {
                audit("password_reset", &user, rc, "failure", Some(e.kind()));
                return Err(map_provider_error(&e));
            }
            Err(e) => audit("password_reset", &user, rc, "ignored", Some(e.kind())),
        }
        Ok(object([
            ("ok", Value::Boolean(true)),
            (
                "message",
                Value::String(
                    "If an account exists for this email, a password-reset link is on its way."
                        .into(),
                ),
            ),
        ]))
    }

    async fn me(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        let Principal::User(user) = &rc.principal else {
            return Err(ApiError::Unauthenticated(None));
        };
        // a client-credentials token speaks for a machine, not a person: it
        // has no profile, and answering with its client id as a user's id
        // would let a client pass for one
        if user.is_client() {
            return Err(ApiError::Forbidden(
                "`me` is for users; this access token was issued to a client".into(),
            ));
        }
        let look = ctx.look_ahead();
        let wants_profile = ["email", "emailVerified", "name", "nickname", "picture"]
            .iter()
            .any(|f| look.field(f).exists() && !user.claims.contains_key(claim_for(f)));
        let profile = if wants_profile {
            self.userinfo(user, rc).await
        } else {
            None
        };
        // only the selected fields: `{ me { id } }` builds no copy of the claims
        Ok(viewer_fields(user, profile.as_deref(), |f| {
            look.field(f).exists()
        }))
    }

    async fn userinfo(
        &self,
        user: &Arc<User>,
        rc: &RequestContext,
    ) -> Option<Arc<serde_json::Map<String, serde_json::Value>>> {
        if let Some(hit) = self.userinfo.get(&user.token_id).await {
            return Some(hit);
        }
        match self.provider.userinfo(&user.token, &call_context(rc)).await {
            Ok(map) => {
                let map = Arc::new(map);
                self.userinfo
                    .insert(user.token_id.clone(), map.clone())
                    .await;
                Some(map)
            }
            Err(e) => {
                tracing::warn!(error = e.kind(), "userinfo failed; profile fields are null");
                None
            }
        }
    }
}

fn claim_for(field: &str) -> &str {
    match field {
        "emailVerified" => "email_verified",
        other => other,
    }
}

fn subject(p: &Principal) -> &str {
    p.user().map_or("-", |u| u.subject.as_str())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn call_context(rc: &RequestContext) -> CallContext {
    CallContext {
        client_ip: Some(rc.meta.client_ip),
        request_id: Some(rc.meta.request_id.clone()),
    }
}

/// The `SignupPayload`. Without tokens, `auth` is left out rather than set
/// to `Value::Null`: the schema's default resolver hands a `Value::Null`
/// under an object-typed field to the sub-fields as if it were an object
/// (each then fails with INTERNAL_SERVER_ERROR); an absent key reads as null.
fn signup_payload(
    user_id: String,
    email: String,
    email_verified: bool,
    auth: Option<Value>,
) -> Value {
    let mut payload = object([
        ("userId", Value::String(user_id)),
        ("email", Value::String(email)),
        ("emailVerified", Value::Boolean(email_verified)),
    ]);
    if let (Value::Object(map), Some(auth)) = (&mut payload, auth) {
        map.insert(Name::new("auth"), auth);
    }
    payload
}

/// `ada@example.com` → `a***@example.com`
pub use crate::email::mask as mask_email;

/// A stable, plausible user id for enumeration-safe sign-up answers: keyed
/// (HMAC-SHA256), so that it cannot be told from a real id by computing it
/// offline from the email; 24 hex digits like a real database user id.
fn fake_user_id(key: &Secret, email: &Email) -> String {
    let mac = hmac_sha256(key.expose().as_bytes(), email.as_str().as_bytes());
    format!("auth0|{}", &hex::encode(mac)[..24])
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn audit(event: &str, user: &str, rc: &RequestContext, outcome: &str, reason: Option<&str>) {
    tracing::info!(
        target: "audit",
        event,
        user,
        client_ip = %rc.meta.client_ip,
        request_id = %rc.meta.request_id,
        outcome,
        reason = reason.unwrap_or("-"),
    );
}

/// The one mapping from provider errors to the client contract.
pub fn map_provider_error(e: &ProviderError) -> ApiError {
    match e {
        ProviderError::InvalidCredentials => ApiError::InvalidCredentials,
        ProviderError::PasswordPolicy {
            policy,
            rules,
            kind,
            message,
        } => {
            let mut ext = serde_json::Map::new();
            ext.insert(
                "reason".into(),
                serde_json::Value::String("PASSWORD_POLICY".into()),
            );
            ext.insert(
                "policyError".into(),
                serde_json::Value::String(kind.clone()),
            );
            if let Some(p) = policy {
                ext.insert("policy".into(), serde_json::Value::String(p.clone()));
            }
            // Auth0's `description` is `{"rules": [...], "verified": false}` for
            // a PasswordStrengthError and a sentence for the other policy
            // errors: the client gets the rule list itself, or nothing.
            let rule_list = match rules {
                serde_json::Value::Object(o) => o.get("rules").filter(|r| r.is_array()).cloned(),
                serde_json::Value::Array(_) => Some(rules.clone()),
                _ => None,
            };
            if let Some(list) = rule_list {
                ext.insert("rules".into(), list);
            }
            ApiError::BadUserInput {
                message: if message.is_empty() {
                    "the password does not meet the password policy".into()
                } else {
                    format!("the password does not meet the password policy: {message}")
                },
                field: Some("input.password".into()),
                extensions: Some(ext),
            }
        }
        ProviderError::PasswordLeaked => {
            let mut ext = serde_json::Map::new();
            ext.insert(
                "reason".into(),
                serde_json::Value::String("PASSWORD_LEAKED".into()),
            );
            ApiError::BadUserInput {
                message: "this password appeared in a data breach; reset it to continue".into(),
                field: Some("input.password".into()),
                extensions: Some(ext),
            }
        }
        ProviderError::UserExists => ApiError::UserExists,
        ProviderError::BadRequest { description, .. } => ApiError::bad_input(description.clone()),
        ProviderError::TooManyAttempts { retry_after } => ApiError::RateLimited {
            message: "too many attempts: the account is temporarily blocked for this address"
                .into(),
            retry_after: Some(retry_after.unwrap_or(Duration::from_secs(900))),
        },
        ProviderError::RateLimited { retry_after } => ApiError::RateLimited {
            message: "the identity provider is rate limiting; retry later".into(),
            retry_after: Some(retry_after.unwrap_or(Duration::from_secs(60))),
        },
        ProviderError::Blocked => ApiError::RateLimited {
            message: "this account is blocked; contact an administrator".into(),
            retry_after: Some(Duration::from_secs(3600)),
        },
        // only `login` can continue a multi-factor login (it seals the
        // mfa_token into a session): elsewhere the client just learns that
        // a login needs a second factor, never the mfa_token
        ProviderError::MfaRequired { .. } => ApiError::MfaRequired {
            mfa: serde_json::Value::Null,
        },
        ProviderError::MfaInvalidCode => ApiError::MfaInvalidCode { reason: None },
        ProviderError::MfaRejected => ApiError::MfaInvalidCode {
            reason: Some("PUSH_REJECTED"),
        },
        ProviderError::MfaTokenInvalid => ApiError::MfaSessionExpired,
        ProviderError::MfaPending { .. } => {
            ApiError::bad_input("the challenge is not answered yet: poll with mfaPoll")
        }
        ProviderError::MfaAlreadyEnrolled => mfa_input_error(
            "MFA_ALREADY_ENROLLED",
            "the user already has an authenticator: challenge it instead",
        ),
        ProviderError::MfaNotEnrolled => mfa_input_error(
            "MFA_ENROLLMENT_REQUIRED",
            "the user has no authenticator: enrol one with mfaEnroll",
        ),
        ProviderError::MfaUnsupported => mfa_input_error(
            "MFA_FACTOR_UNSUPPORTED",
            "this authenticator cannot be challenged by this application",
        ),
        ProviderError::InvalidRefreshToken => ApiError::RefreshTokenInvalid,
        ProviderError::InvalidAccessToken => {
            ApiError::Unauthenticated(Some(crate::auth::Rejection::Invalid))
        }
        ProviderError::Denied { .. } => {
            tracing::warn!(
                error = e.kind(),
                "the identity provider denied the request (rule or action)"
            );
            ApiError::Forbidden("the identity provider refused this request".into())
        }
        ProviderError::Unavailable { .. } => {
            tracing::warn!(error = e.kind(), "identity provider unavailable");
            ApiError::unavailable("the identity provider is unavailable; retry later")
        }
        other => {
            tracing::error!(error = other.kind(), detail = %other, "identity provider misconfiguration");
            ApiError::Internal
        }
    }
}

fn mfa_input_error(reason: &str, message: &str) -> ApiError {
    let mut ext = serde_json::Map::new();
    ext.insert("reason".into(), serde_json::Value::String(reason.into()));
    ApiError::BadUserInput {
        message: message.into(),
        field: None,
        extensions: Some(ext),
    }
}

/// Binds the session resolvers by name.
pub fn bind(b: &mut Bindings, svc: Arc<SessionService>) {
    macro_rules! bind_op {
        ($name:literal, $method:ident) => {{
            let svc = svc.clone();
            b.bind($name, move |ctx: ResolverContext<'_>| {
                let svc = svc.clone();
                FieldFuture::new(async move {
                    svc.$method(&ctx)
                        .await
                        .map(|v| Some(FieldValue::value(v)))
                        .map_err(async_graphql::Error::from)
                })
            });
        }};
    }
    bind_op!("Mutation.login", login);
    bind_op!("Mutation.signup", signup);
    bind_op!("Mutation.refreshToken", refresh);
    bind_op!("Mutation.logout", logout);
    bind_op!("Mutation.requestPasswordReset", password_reset);
    bind_op!("Query.me", me);
    bind_op!("Mutation.mfaEnroll", mfa_enroll);
    bind_op!("Mutation.mfaChallenge", mfa_challenge);
    bind_op!("Mutation.mfaVerify", mfa_verify);
    bind_op!("Mutation.mfaPoll", mfa_poll);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking() {
        assert_eq!(mask_email("ada@example.com"), "a***@example.com");
        assert_eq!(mask_email("nope"), "***");
    }

    #[test]
    fn enumeration_safe_needs_no_login_after_signup() {
        let s = SessionSettings {
            enumeration_safe_signup: true,
            ..Default::default()
        };
        assert_eq!(s.validate().len(), 1);
    }

    #[test]
    fn fake_ids_look_real_are_stable_and_keyed() {
        let key = Secret::new("k".repeat(32));
        let ada = Email::parse("Ada@example.com").unwrap();
        let a = fake_user_id(&key, &ada);
        assert_eq!(
            a,
            fake_user_id(&key, &Email::parse("ada@example.com").unwrap())
        );
        assert_eq!(a.len(), "auth0|".len() + 24);
        assert!(a["auth0|".len()..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, fake_user_id(&Secret::new("x".repeat(32)), &ada));
        // the old, unkeyed construction is not what comes out
        let unkeyed = Sha256::digest(b"authgate-signup:ada@example.com");
        assert_ne!(a, format!("auth0|{}", &hex::encode(unkeyed)[..24]));
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn short_enumeration_keys_are_refused() {
        let s = SessionSettings {
            enumeration_key: Some(Secret::new("short")),
            ..Default::default()
        };
        assert_eq!(s.validate()[0].0, "session.enumeration_key");
    }
}
