//! The multi-factor steps of a login: `mfaEnroll`, `mfaChallenge`,
//! `mfaVerify`, `mfaPoll` (docs/session.md, "Multi-factor login").
//!
//! When Auth0 answers the password grant with `mfa_required`, `login` lists
//! the user's authenticators and answers `MFA_REQUIRED` with a sealed session
//! handle ([`super::mfa_seal`]) instead of Auth0's `mfa_token`, which the
//! browser never sees. Each step opens the handle, checks that it is neither
//! spent nor another client's, and calls Auth0's MFA API as the confidential
//! client. A successful verification spends the session on every replica
//! (the shared store's revocation list) and answers the same `AuthPayload`
//! as `login`.

use std::time::Duration;

use async_graphql::dynamic::{ResolverContext, ValueAccessor};
use async_graphql::{Name, Value};
use serde::{Deserialize, Serialize};

use super::mfa_seal::{binding, random_id, remaining, MfaSession, Sealer};
use super::{
    audit, call_context, map_provider_error, now_secs, object, Custody, Email, SessionService,
};
use crate::auth0::{CallContext, MfaChallengeRequest, MfaEnrolment, MfaGrant, ProviderError};
use crate::error::ApiError;
use crate::graphql::RequestContext;
use crate::secret::Secret;

/// The factors a UI may offer, as `extensions.mfa.factors` names them.
const KNOWN_FACTORS: [&str; 4] = ["otp", "sms", "email", "push"];
/// Longest code accepted (OTPs are 6 digits, recovery codes 24 characters).
const MAX_CODE_CHARS: usize = 64;
/// RFC 8628 §3.5: after `slow_down`, wait 5 seconds longer.
const SLOW_DOWN_EXTRA: Duration = Duration::from_secs(5);

/// `[session.mfa]`: the multi-factor login.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaSettings {
    /// The key sealing MFA session handles (>= 32 characters; the same on
    /// every replica). Unset: derived from `auth0.client_secret`, else
    /// random per process.
    pub key: Option<Secret>,
    /// Lifetime of an MFA session. Auth0's mfa_token lives 10 minutes;
    /// longer would only hand out handles Auth0 refuses.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Codes one MFA session may try (`mfaVerify`), and codes it may have
    /// sent (`mfaEnroll`, `mfaChallenge`), before the user must log in again.
    pub max_attempts: u64,
    /// The factors offered for enrolment (`otp`, `sms`, `email`, `push`):
    /// those enabled in the tenant.
    pub factors: Vec<String>,
    /// How often a client may poll for a push approval.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            key: None,
            session_ttl: Duration::from_secs(600),
            max_attempts: 5,
            factors: vec!["otp".into(), "sms".into(), "email".into(), "push".into()],
            poll_interval: Duration::from_secs(5),
        }
    }
}

impl MfaSettings {
    /// `(key, message)` for each problem.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if self
            .key
            .as_ref()
            .is_some_and(|k| !k.is_empty() && k.expose().len() < 32)
        {
            v.push((
                "session.mfa.key".into(),
                "must be at least 32 characters (or unset)".into(),
            ));
        }
        if self.session_ttl < Duration::from_secs(1) || self.session_ttl > Duration::from_secs(600)
        {
            v.push((
                "session.mfa.session_ttl".into(),
                "must be 1s to 10m (Auth0's mfa_token lives 10 minutes)".into(),
            ));
        }
        if self.max_attempts == 0 {
            v.push((
                "session.mfa.max_attempts".into(),
                "must be at least 1".into(),
            ));
        }
        if self.factors.is_empty()
            || self
                .factors
                .iter()
                .any(|f| !KNOWN_FACTORS.contains(&f.as_str()))
        {
            v.push((
                "session.mfa.factors".into(),
                "must list some of \"otp\", \"sms\", \"email\", \"push\"".into(),
            ));
        }
        if self.poll_interval < Duration::from_secs(1) {
            v.push((
                "session.mfa.poll_interval".into(),
                "must be at least 1s".into(),
            ));
        }
        v
    }

    /// The sealer: the configured key, else a random one (replaced by one
    /// derived from the client secret at start-up, see
    /// [`SessionService::with_enumeration_key_from`]).
    pub(super) fn sealer(&self) -> Option<Sealer> {
        match &self.key {
            Some(k) if !k.is_empty() => Sealer::from_material(k),
            _ => Sealer::random(),
        }
    }

    pub(super) fn key_configured(&self) -> bool {
        self.key.as_ref().is_some_and(|k| !k.is_empty())
    }
}

/// The key of a spent session on the revocation list.
fn spent_key(sid: &str) -> String {
    format!("mfa-session:{sid}")
}

fn handle_arg(v: Option<ValueAccessor<'_>>, field: &str) -> Result<String, ApiError> {
    let s = v
        .and_then(|v| v.string().ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_field(field, "the MFA session is required"))?;
    if s.len() > super::mfa_seal::MAX_HANDLE_CHARS {
        // an oversized handle is no handle of ours
        return Err(ApiError::MfaSessionExpired);
    }
    Ok(s.to_owned())
}

fn code_arg(v: Option<ValueAccessor<'_>>, field: &str) -> Result<Option<Secret>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let s = v
        .string()
        .map_err(|_| ApiError::bad_field(field, "must be a string"))?
        .trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::bad_field(
            field,
            format!("at most {MAX_CODE_CHARS} characters"),
        ));
    }
    Ok(Some(Secret::new(s)))
}

/// `+` and 7 to 15 digits (E.164).
fn phone_number(raw: &str) -> Option<String> {
    let digits = raw.strip_prefix('+')?;
    let ok = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then(|| raw.to_owned())
}

fn enum_value(s: &str) -> Value {
    Value::Enum(Name::new(s))
}

fn opt_secret(s: &Option<Secret>) -> Value {
    s.as_ref()
        .map_or(Value::Null, |v| Value::String(v.expose().to_owned()))
}

impl SessionService {
    fn mfa_cookie_name(&self) -> String {
        format!("{}_mfa", self.settings.cookie_name)
    }

    fn mfa_cookie(&self, value: &str, max_age: Duration) -> String {
        let mut c = format!(
            "{}={value}; HttpOnly; SameSite=Strict; Path={}; Max-Age={}",
            self.mfa_cookie_name(),
            self.cookie_path,
            max_age.as_secs()
        );
        if self.settings.cookie_secure {
            c.push_str("; Secure");
        }
        c
    }

    /// What binds a new MFA session to the client that logged in: in cookie
    /// custody a random value in an HttpOnly cookie (scripts cannot read it,
    /// so a handle leaked from the page is useless elsewhere); in body
    /// custody the client's network (its IPv4 address, its IPv6 /64).
    fn new_binding(&self, ctx: &ResolverContext<'_>, rc: &RequestContext) -> String {
        match self.settings.custody {
            Custody::Cookie => {
                let value = random_id(32);
                ctx.append_http_header(
                    "set-cookie",
                    self.mfa_cookie(&value, self.settings.mfa.session_ttl),
                );
                binding("cookie", &value)
            }
            Custody::Body => binding("ip", &crate::limits::ip_bucket(rc.meta.client_ip, 64)),
        }
    }

    /// The binding the presenting client can show (`None`: no MFA cookie).
    fn current_binding(&self, rc: &RequestContext) -> Option<String> {
        match self.settings.custody {
            Custody::Cookie => rc
                .meta
                .cookie(&self.mfa_cookie_name())
                .filter(|c| !c.is_empty())
                .map(|c| binding("cookie", c.expose())),
            Custody::Body => Some(binding(
                "ip",
                &crate::limits::ip_bucket(rc.meta.client_ip, 64),
            )),
        }
    }

    fn seal(&self, session: &MfaSession) -> Result<String, ApiError> {
        let sealer = self.mfa_sealer.as_ref().ok_or(ApiError::Internal)?;
        sealer.seal(session).map_err(|()| {
            tracing::error!("could not seal an MFA session");
            ApiError::Internal
        })
    }

    /// `MFA_REQUIRED` for a login Auth0 answered with `mfa_required`: the
    /// user's active authenticators and a sealed session; never the mfa_token.
    pub(super) async fn mfa_required(
        &self,
        ctx: &ResolverContext<'_>,
        rc: &RequestContext,
        email: &Email,
        user: &str,
        mfa_token: &Secret,
        call: &CallContext,
    ) -> ApiError {
        let auths = match self.provider.mfa_authenticators(mfa_token, call).await {
            Ok(list) => list.into_iter().filter(|a| a.active).collect::<Vec<_>>(),
            Err(e) => {
                audit("login", user, rc, "failure", Some(e.kind()));
                return map_provider_error(&e);
            }
        };
        let ttl = self.settings.mfa.session_ttl;
        let session = MfaSession {
            sid: random_id(16),
            tok: mfa_token.expose().to_owned(),
            exp: now_secs() + ttl.as_secs(),
            bind: self.new_binding(ctx, rc),
            acct: email.as_str().to_lowercase(),
            user: user.to_owned(),
            auths: auths
                .iter()
                .map(|a| (a.id.clone(), a.factor().to_owned()))
                .collect(),
            oob: None,
            prompt: false,
        };
        let handle = match self.seal(&session) {
            Ok(h) => h,
            Err(e) => return e,
        };
        let enrolled = auths.iter().any(|a| a.factor() != "recovery-code");
        audit("login", user, rc, "mfa_required", None);
        let authenticators: Vec<serde_json::Value> = auths
            .iter()
            .map(|a| {
                serde_json::json!({
                    "id": a.id,
                    "type": a.factor(),
                    "name": a.name,
                })
            })
            .collect();
        ApiError::MfaRequired {
            mfa: serde_json::json!({
                "session": handle,
                "expiresIn": ttl.as_secs(),
                "enrollmentRequired": !enrolled,
                "authenticators": authenticators,
                "factors": self.settings.mfa.factors,
            }),
        }
    }

    /// Opens the handle in `field` of `args`: sealed by us, not expired,
    /// presented by the client that logged in, not spent.
    async fn mfa_open(
        &self,
        rc: &RequestContext,
        raw: Option<ValueAccessor<'_>>,
        field: &str,
    ) -> Result<MfaSession, ApiError> {
        let handle = handle_arg(raw, field)?;
        let sealer = self.mfa_sealer.as_ref().ok_or(ApiError::Internal)?;
        let Some(bind) = self.current_binding(rc) else {
            audit("mfa", "-", rc, "refused", Some("no_binding_cookie"));
            return Err(ApiError::MfaSessionExpired);
        };
        let session = sealer.open(&handle, now_secs(), &bind).map_err(|r| {
            audit("mfa", "-", rc, "refused", Some(r.as_str()));
            ApiError::MfaSessionExpired
        })?;
        match self.store.is_revoked(&spent_key(&session.sid)).await {
            Ok(false) => Ok(session),
            Ok(true) => {
                audit("mfa", &session.user, rc, "refused", Some("spent"));
                Err(ApiError::MfaSessionExpired)
            }
            Err(e) => {
                tracing::warn!(error = %e, "MFA step refused: the store is unavailable");
                Err(ApiError::unavailable(
                    "the MFA session could not be checked; retry later",
                ))
            }
        }
    }

    /// Counts one `kind` step of the session; refused past `max_attempts`.
    async fn mfa_budget(&self, session: &MfaSession, kind: &str) -> Result<(), ApiError> {
        let window = remaining(session.exp, now_secs());
        let key = format!("mfa:{kind}:{}", session.sid);
        match self.store.hit(&key, window).await {
            Ok(hit) if hit.count <= self.settings.mfa.max_attempts => Ok(()),
            Ok(_) => Err(ApiError::RateLimited {
                message: format!(
                    "too many {kind} attempts in this multi-factor session; log in again"
                ),
                retry_after: Some(window),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "MFA step refused: the store cannot count attempts");
                Err(ApiError::unavailable(
                    "the MFA session could not be checked; retry later",
                ))
            }
        }
    }

    fn mfa_input<'a>(
        ctx: &'a ResolverContext<'_>,
    ) -> Result<async_graphql::dynamic::ObjectAccessor<'a>, ApiError> {
        ctx.args
            .try_get("input")
            .and_then(|v| v.object())
            .map_err(|_| ApiError::bad_input("`input` is required"))
    }

    fn mfa_step_error(
        &self,
        rc: &RequestContext,
        event: &str,
        user: &str,
        e: &ProviderError,
    ) -> ApiError {
        audit(event, user, rc, "failure", Some(e.kind()));
        map_provider_error(e)
    }

    pub(super) async fn mfa_enroll(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        let input = Self::mfa_input(ctx)?;
        let factor = input
            .get("factor")
            .and_then(|v| v.enum_name().ok().map(str::to_owned))
            .ok_or_else(|| ApiError::bad_field("input.factor", "a factor is required"))?;
        let lower = factor.to_ascii_lowercase();
        if !self.settings.mfa.factors.contains(&lower) {
            return Err(ApiError::bad_field(
                "input.factor",
                format!("{factor} is not offered (extensions.mfa.factors)"),
            ));
        }
        let enrolment = match lower.as_str() {
            "otp" => MfaEnrolment::Otp,
            "sms" => {
                let raw =
                    super::input::optional_text(input.get("phoneNumber"), "input.phoneNumber", 20)?
                        .ok_or_else(|| {
                            ApiError::bad_field("input.phoneNumber", "SMS needs a phone number")
                        })?;
                let phone_number = phone_number(&raw).ok_or_else(|| {
                    ApiError::bad_field("input.phoneNumber", "use the E.164 form: +14155550123")
                })?;
                MfaEnrolment::Sms { phone_number }
            }
            "email" => {
                let email = match input.get("email").filter(|v| !v.is_null()) {
                    Some(_) => Some(
                        super::email_arg(input.get("email"), "input.email")?
                            .as_str()
                            .to_owned(),
                    ),
                    None => None,
                };
                MfaEnrolment::Email { email }
            }
            _ => MfaEnrolment::Push,
        };
        let mut session = self
            .mfa_open(rc, input.get("session"), "input.session")
            .await?;
        self.mfa_budget(&session, "send").await?;
        let call = call_context(rc);
        let assoc = self
            .provider
            .mfa_associate(&Secret::new(session.tok.clone()), &enrolment, &call)
            .await
            .map_err(|e| self.mfa_step_error(rc, "mfa_enroll", &session.user, &e))?;
        session.oob = assoc.oob_code.as_ref().map(|c| c.expose().to_owned());
        session.prompt = assoc.binding_method.as_deref() == Some("prompt");
        let handle = self.seal(&session)?;
        audit("mfa_enroll", &session.user, rc, "started", Some(&lower));
        Ok(object([
            ("session", Value::String(handle)),
            ("factor", enum_value(&factor)),
            ("secret", opt_secret(&assoc.secret)),
            ("otpauthUri", opt_secret(&assoc.barcode_uri)),
            (
                "recoveryCodes",
                Value::List(
                    assoc
                        .recovery_codes
                        .iter()
                        .map(|c| Value::String(c.expose().to_owned()))
                        .collect(),
                ),
            ),
            ("bindingCodeExpected", Value::Boolean(session.prompt)),
        ]))
    }

    pub(super) async fn mfa_challenge(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        let input = Self::mfa_input(ctx)?;
        let wanted = super::input::optional_text(
            input.get("authenticatorId"),
            "input.authenticatorId",
            200,
        )?;
        let mut session = self
            .mfa_open(rc, input.get("session"), "input.session")
            .await?;
        let challenge_type = match &wanted {
            Some(id) => match session.auths.iter().find(|(a, _)| a == id) {
                None => {
                    return Err(ApiError::bad_field(
                        "input.authenticatorId",
                        "not one of this login's authenticators",
                    ))
                }
                Some((_, f)) if f == "recovery-code" => {
                    return Err(ApiError::bad_field(
                        "input.authenticatorId",
                        "a recovery code needs no challenge: send it to mfaVerify",
                    ))
                }
                Some((_, f)) if f == "otp" => "otp",
                Some(_) => "oob",
            },
            None => "otp oob",
        };
        self.mfa_budget(&session, "send").await?;
        let call = call_context(rc);
        let req = MfaChallengeRequest {
            challenge_type: challenge_type.to_owned(),
            authenticator_id: wanted,
        };
        let challenge = self
            .provider
            .mfa_challenge(&Secret::new(session.tok.clone()), &req, &call)
            .await
            .map_err(|e| self.mfa_step_error(rc, "mfa_challenge", &session.user, &e))?;
        session.oob = challenge.oob_code.as_ref().map(|c| c.expose().to_owned());
        session.prompt = challenge.binding_method.as_deref() == Some("prompt");
        let handle = self.seal(&session)?;
        audit(
            "mfa_challenge",
            &session.user,
            rc,
            "started",
            Some(&challenge.challenge_type),
        );
        let kind = if challenge.challenge_type == "oob" {
            "OOB"
        } else {
            "OTP"
        };
        Ok(object([
            ("session", Value::String(handle)),
            ("challengeType", enum_value(kind)),
            ("bindingCodeExpected", Value::Boolean(session.prompt)),
        ]))
    }

    pub(super) async fn mfa_verify(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        let input = Self::mfa_input(ctx)?;
        let otp = code_arg(input.get("otp"), "input.otp")?;
        let binding_code = code_arg(input.get("bindingCode"), "input.bindingCode")?;
        let recovery = code_arg(input.get("recoveryCode"), "input.recoveryCode")?;
        let given = [otp.is_some(), binding_code.is_some(), recovery.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(ApiError::bad_input(
                "send exactly one of `otp`, `bindingCode` or `recoveryCode`",
            ));
        }
        let session = self
            .mfa_open(rc, input.get("session"), "input.session")
            .await?;
        let grant = match (otp, binding_code, recovery) {
            (Some(otp), _, _) => MfaGrant::Otp { otp },
            (_, Some(code), _) => {
                let Some(oob) = &session.oob else {
                    return Err(ApiError::bad_field(
                        "input.bindingCode",
                        "no code was sent in this session: call mfaChallenge or mfaEnroll first",
                    ));
                };
                MfaGrant::Oob {
                    oob_code: Secret::new(oob.clone()),
                    binding_code: Some(code),
                }
            }
            (_, _, Some(recovery_code)) => MfaGrant::RecoveryCode { recovery_code },
            (None, None, None) => return Err(ApiError::bad_input("a code is required")),
        };
        crate::limits::enforce(
            ctx,
            crate::limits::Operation::MfaVerify,
            Some(&session.acct),
        )
        .await?;
        self.mfa_budget(&session, "verify").await?;
        match self
            .mfa_grant(ctx, rc, &session, &grant, "mfa_verify")
            .await?
        {
            GrantOutcome::Done(payload) => Ok(payload),
            // only a grant without a binding code can be pending
            GrantOutcome::Pending { .. } => Err(ApiError::bad_input(
                "the challenge is not answered yet: poll with mfaPoll",
            )),
        }
    }

    pub(super) async fn mfa_poll(&self, ctx: &ResolverContext<'_>) -> Result<Value, ApiError> {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        let session = self
            .mfa_open(rc, ctx.args.get("session"), "session")
            .await?;
        let Some(oob) = &session.oob else {
            return Err(ApiError::bad_field(
                "session",
                "nothing to poll: challenge a push authenticator (mfaChallenge) first",
            ));
        };
        let interval = self.settings.mfa.poll_interval;
        let pending = |interval: Duration| {
            object([
                ("status", enum_value("PENDING")),
                ("interval", Value::from(interval.as_secs())),
            ])
        };
        // faster than the interval: answered here, Auth0 is not asked
        match self
            .store
            .hit(&format!("mfa:poll:{}", session.sid), interval)
            .await
        {
            Ok(hit) if hit.count > 1 => {
                return Ok(pending(hit.resets_in.max(Duration::from_secs(1))))
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "MFA poll refused: the store cannot count polls");
                return Err(ApiError::unavailable(
                    "the MFA session could not be checked; retry later",
                ));
            }
        }
        let grant = MfaGrant::Oob {
            oob_code: Secret::new(oob.clone()),
            binding_code: None,
        };
        match self
            .mfa_grant(ctx, rc, &session, &grant, "mfa_poll")
            .await?
        {
            GrantOutcome::Done(auth) => {
                let mut payload = object([
                    ("status", enum_value("APPROVED")),
                    ("interval", Value::from(interval.as_secs())),
                ]);
                if let Value::Object(map) = &mut payload {
                    map.insert(Name::new("auth"), auth);
                }
                Ok(payload)
            }
            GrantOutcome::Pending { slow_down: false } => Ok(pending(interval)),
            GrantOutcome::Pending { slow_down: true } => Ok(pending(interval + SLOW_DOWN_EXTRA)),
        }
    }

    /// Runs an MFA grant. Tokens: the session is spent on every replica,
    /// the tokens are verified and answered as `login` answers them.
    async fn mfa_grant(
        &self,
        ctx: &ResolverContext<'_>,
        rc: &RequestContext,
        session: &MfaSession,
        grant: &MfaGrant,
        event: &str,
    ) -> Result<GrantOutcome, ApiError> {
        // as in `login`: while the revocation check cannot answer, don't have
        // tokens issued only to drop them
        if let Err(e) = self.store.revocation_check_ready().await {
            tracing::warn!(error = %e, "MFA grant refused: the store is unavailable");
            audit(event, &session.user, rc, "error", Some("store_unavailable"));
            return Err(ApiError::Unauthenticated(Some(
                crate::auth::Rejection::StoreUnavailable,
            )));
        }
        let call = call_context(rc);
        let issued = match self
            .provider
            .mfa_grant(&Secret::new(session.tok.clone()), grant, &call)
            .await
        {
            Ok(t) => t,
            Err(ProviderError::MfaPending { slow_down }) => {
                return Ok(GrantOutcome::Pending { slow_down })
            }
            Err(e) => return Err(self.mfa_step_error(rc, event, &session.user, &e)),
        };
        // spent first: a replay racing the rest of this request is refused
        let left = remaining(session.exp, now_secs());
        if let Err(e) = self.store.revoke(&spent_key(&session.sid), left).await {
            tracing::error!(error = %e, "could not mark the MFA session as used");
        }
        if self.settings.custody == Custody::Cookie {
            ctx.append_http_header("set-cookie", self.mfa_cookie("", Duration::ZERO));
        }
        let crate::auth0::MfaTokens {
            tokens,
            recovery_code,
        } = issued;
        let refresh = tokens.refresh_token.clone();
        let payload = match self.auth_payload(ctx, tokens, None).await {
            Ok(p) => p,
            Err(e) => {
                if let Some(rt) = &refresh {
                    self.revoke_unused(rt, &call).await;
                }
                audit(event, &session.user, rc, "error", None);
                return Err(e);
            }
        };
        let mut payload = payload;
        if let (Value::Object(map), Some(code)) = (&mut payload, &recovery_code) {
            map.insert(
                Name::new("recoveryCode"),
                Value::String(code.expose().to_owned()),
            );
        }
        audit(event, &session.user, rc, "success", None);
        Ok(GrantOutcome::Done(payload))
    }
}

/// What an MFA grant came to.
enum GrantOutcome {
    /// The `AuthPayload`.
    Done(Value),
    /// The out-of-band challenge is not answered yet.
    Pending { slow_down: bool },
}
