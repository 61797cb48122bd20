//! Auth0's MFA API for the password grant (docs/auth0-mfa-wire.md):
//! `GET /mfa/authenticators`, `POST /mfa/associate`, `POST /mfa/challenge`
//! and the token endpoint's `mfa-otp`, `mfa-oob` and `mfa-recovery-code`
//! grants. Every call carries the `mfa_token` Auth0 answered the password
//! grant with; it never appears in a log line or an error.

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::instrument;

use super::client::{endpoint, log_failure, record, token_set, transport, Auth0Client};
use super::error::{map_auth_error, Call, ErrorBody};
use super::http::{send, Answer};
use super::{CallContext, ProviderError, TokenSet};
use crate::secret::Secret;

const MFA_OTP_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
const MFA_OOB_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-oob";
const MFA_RECOVERY_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";

/// An enrolled authenticator (`GET /mfa/authenticators`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MfaAuthenticator {
    /// e.g. `totp|dev_abc`, `sms|dev_xyz`, `recovery-code|dev_…`
    pub id: String,
    /// `otp`, `oob` or `recovery-code`
    pub authenticator_type: String,
    /// For `oob`: `sms`, `voice`, `email` or `auth0` (push).
    #[serde(default)]
    pub oob_channel: Option<String>,
    /// A display name (the masked phone number, the address, "Authenticator App").
    #[serde(default)]
    pub name: Option<String>,
    /// An association started but never confirmed is listed inactive.
    #[serde(default)]
    pub active: bool,
}

impl MfaAuthenticator {
    /// The factor as a UI names it: `otp`, `sms`, `voice`, `email`, `push`
    /// or `recovery-code`.
    pub fn factor(&self) -> &str {
        match (
            self.authenticator_type.as_str(),
            self.oob_channel.as_deref(),
        ) {
            ("oob", Some("auth0")) => "push",
            ("oob", Some(channel)) => channel,
            (other, _) => other,
        }
    }
}

/// What to enrol (`POST /mfa/associate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaEnrolment {
    /// A TOTP authenticator app.
    Otp,
    /// A code by SMS to this E.164 number.
    Sms { phone_number: String },
    /// A code by e-mail (Auth0 may default to the user's address).
    Email { email: Option<String> },
    /// Guardian push notifications.
    Push,
}

/// The answer of `POST /mfa/associate`. `Debug` redacts the secrets.
#[derive(Debug, Clone)]
pub struct MfaAssociation {
    pub authenticator_type: String,
    pub oob_channel: Option<String>,
    /// The TOTP secret (base32), for `otp`.
    pub secret: Option<Secret>,
    /// `otpauth://…` for a QR code (`otp`, push).
    pub barcode_uri: Option<Secret>,
    /// Only on the user's first association.
    pub recovery_codes: Vec<Secret>,
    /// For `oob`: confirms the association through the `mfa-oob` grant.
    pub oob_code: Option<Secret>,
    /// `prompt` when the user must type the code they received.
    pub binding_method: Option<String>,
}

/// Which challenge to start (`POST /mfa/challenge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallengeRequest {
    /// `otp`, `oob`, or a space-separated list.
    pub challenge_type: String,
    pub authenticator_id: Option<String>,
}

/// The answer of `POST /mfa/challenge`.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    /// `otp` or `oob`
    pub challenge_type: String,
    pub oob_code: Option<Secret>,
    /// `prompt` when a binding code is expected.
    pub binding_method: Option<String>,
}

/// One of the token endpoint's MFA grants.
#[derive(Debug, Clone)]
pub enum MfaGrant {
    /// `mfa-otp`: a TOTP code.
    Otp { otp: Secret },
    /// `mfa-oob`: the challenge's `oob_code`, with the binding code the user
    /// received (SMS, e-mail) or without one (polling a push).
    Oob {
        oob_code: Secret,
        binding_code: Option<Secret>,
    },
    /// `mfa-recovery-code`
    RecoveryCode { recovery_code: Secret },
}

impl MfaGrant {
    fn name(&self) -> &'static str {
        match self {
            MfaGrant::Otp { .. } => "mfa-otp",
            MfaGrant::Oob { .. } => "mfa-oob",
            MfaGrant::RecoveryCode { .. } => "mfa-recovery-code",
        }
    }
}

/// Tokens from an MFA grant; after a recovery code, the new recovery code
/// (the one used is spent).
#[derive(Debug, Clone)]
pub struct MfaTokens {
    pub tokens: TokenSet,
    pub recovery_code: Option<Secret>,
}

#[derive(Deserialize)]
struct AssociationBody {
    authenticator_type: String,
    #[serde(default)]
    oob_channel: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    barcode_uri: Option<String>,
    #[serde(default)]
    recovery_codes: Vec<String>,
    #[serde(default)]
    oob_code: Option<String>,
    #[serde(default)]
    binding_method: Option<String>,
}

#[derive(Deserialize)]
struct ChallengeBody {
    challenge_type: String,
    #[serde(default)]
    oob_code: Option<String>,
    #[serde(default)]
    binding_method: Option<String>,
}

fn secret(s: Option<String>) -> Option<Secret> {
    s.filter(|v| !v.is_empty()).map(Secret::new)
}

/// Maps an unsuccessful answer of an MFA call: the MFA-specific codes first
/// (auth0-mfa-wire.md §6), then the Authentication API's general rules.
pub(crate) fn map_mfa_error(call: Call, answer: &Answer) -> ProviderError {
    let body = ErrorBody::parse(&answer.body);
    let code = body
        .as_ref()
        .and_then(|b| b.code.clone())
        .unwrap_or_default();
    let text = body
        .as_ref()
        .and_then(|b| b.text.clone())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mentions_token = text.contains("mfa_token") || text.contains("mfa token");
    match code.as_str() {
        "authorization_pending" => return ProviderError::MfaPending { slow_down: false },
        "slow_down" => return ProviderError::MfaPending { slow_down: true },
        "expired_token" | "invalid_token" => return ProviderError::MfaTokenInvalid,
        "invalid_grant" if mentions_token => return ProviderError::MfaTokenInvalid,
        "invalid_grant" if text.contains("rejected") => return ProviderError::MfaRejected,
        // a wrong OTP, binding code or recovery code, a reused OTP, or an
        // oob_code that expired: the same answer, the user types again
        "invalid_grant" => return ProviderError::MfaInvalidCode,
        "invalid_request" if mentions_token => return ProviderError::MfaTokenInvalid,
        "access_denied" if text.contains("already enrolled") => {
            return ProviderError::MfaAlreadyEnrolled
        }
        "association_required" => return ProviderError::MfaNotEnrolled,
        "unsupported_challenge_type" => return ProviderError::MfaUnsupported,
        _ => {}
    }
    // the bearer of `/mfa/*` is the mfa_token: a 401 there means it is dead
    if answer.status == reqwest::StatusCode::UNAUTHORIZED
        && matches!(call, Call::MfaAuthenticators | Call::MfaAssociate)
        && code != "access_denied"
    {
        return ProviderError::MfaTokenInvalid;
    }
    map_auth_error(call, answer.status, &answer.headers, &answer.body)
}

fn fail(call: Call, answer: &Answer) -> ProviderError {
    let code = ErrorBody::parse(&answer.body).and_then(|b| b.code);
    record(answer, code.as_deref());
    let err = map_mfa_error(call, answer);
    log_failure(answer, code.as_deref(), &err);
    err
}

fn bearer(mfa_token: &Secret) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", mfa_token.expose()))
        .map_err(|_| ProviderError::MfaTokenInvalid)?;
    v.set_sensitive(true);
    Ok(v)
}

fn unexpected(what: &str, e: &serde_json::Error) -> ProviderError {
    // the category only: serde's message could quote a value
    ProviderError::unavailable(format!("unexpected {what} answer ({:?})", e.classify()))
}

impl Auth0Client {
    /// `GET /mfa/authenticators` (bearer: the mfa_token); retried (read-only).
    #[instrument(name = "auth0.mfa.authenticators", skip_all, fields(request_id = ctx.request_id.as_deref(), status, error_code))]
    pub(crate) async fn do_mfa_authenticators(
        &self,
        mfa_token: &Secret,
        ctx: &CallContext,
    ) -> Result<Vec<MfaAuthenticator>, ProviderError> {
        let url = endpoint(&self.base, "mfa/authenticators")?;
        let auth = bearer(mfa_token)?;
        let answer = send(
            || {
                self.http
                    .get(url.clone())
                    .header(AUTHORIZATION, auth.clone())
            },
            self.settings.timeout,
            self.settings.retries,
        )
        .await
        .map_err(transport)?;
        if !answer.status.is_success() {
            return Err(fail(Call::MfaAuthenticators, &answer));
        }
        record(&answer, None);
        serde_json::from_slice(&answer.body).map_err(|e| unexpected("/mfa/authenticators", &e))
    }

    /// `POST /mfa/associate` (bearer: the mfa_token); never retried (an SMS
    /// would be sent twice).
    #[instrument(name = "auth0.mfa.associate", skip_all, fields(request_id = ctx.request_id.as_deref(), status, error_code))]
    pub(crate) async fn do_mfa_associate(
        &self,
        mfa_token: &Secret,
        enrolment: &MfaEnrolment,
        ctx: &CallContext,
    ) -> Result<MfaAssociation, ProviderError> {
        let url = endpoint(&self.base, "mfa/associate")?;
        let auth = bearer(mfa_token)?;
        let body = match enrolment {
            MfaEnrolment::Otp => json!({"authenticator_types": ["otp"]}),
            MfaEnrolment::Sms { phone_number } => json!({
                "authenticator_types": ["oob"], "oob_channels": ["sms"], "phone_number": phone_number,
            }),
            MfaEnrolment::Email { email: Some(email) } => json!({
                "authenticator_types": ["oob"], "oob_channels": ["email"], "email": email,
            }),
            MfaEnrolment::Email { email: None } => {
                json!({"authenticator_types": ["oob"], "oob_channels": ["email"]})
            }
            MfaEnrolment::Push => {
                json!({"authenticator_types": ["oob"], "oob_channels": ["auth0"]})
            }
        };
        let answer = send(
            || {
                self.http
                    .post(url.clone())
                    .header(AUTHORIZATION, auth.clone())
                    .json(&body)
            },
            self.settings.timeout,
            0,
        )
        .await
        .map_err(transport)?;
        if !answer.status.is_success() {
            return Err(fail(Call::MfaAssociate, &answer));
        }
        record(&answer, None);
        let b: AssociationBody =
            serde_json::from_slice(&answer.body).map_err(|e| unexpected("/mfa/associate", &e))?;
        Ok(MfaAssociation {
            authenticator_type: b.authenticator_type,
            oob_channel: b.oob_channel,
            secret: secret(b.secret),
            barcode_uri: secret(b.barcode_uri),
            recovery_codes: b
                .recovery_codes
                .into_iter()
                .filter(|c| !c.is_empty())
                .map(Secret::new)
                .collect(),
            oob_code: secret(b.oob_code),
            binding_method: b.binding_method,
        })
    }

    /// `POST /mfa/challenge` with the client's credentials; never retried
    /// (it sends the SMS, e-mail or push).
    #[instrument(name = "auth0.mfa.challenge", skip_all, fields(request_id = ctx.request_id.as_deref(), status, error_code))]
    pub(crate) async fn do_mfa_challenge(
        &self,
        mfa_token: &Secret,
        req: &MfaChallengeRequest,
        ctx: &CallContext,
    ) -> Result<MfaChallenge, ProviderError> {
        let url = endpoint(&self.base, "mfa/challenge")?;
        let s = &self.settings;
        let mut body = json!({
            "client_id": s.client_id,
            "client_secret": s.client_secret.expose(),
            "mfa_token": mfa_token.expose(),
            "challenge_type": req.challenge_type,
        });
        if let (Some(id), Value::Object(map)) = (&req.authenticator_id, &mut body) {
            map.insert("authenticator_id".into(), json!(id));
        }
        let answer = send(|| self.http.post(url.clone()).json(&body), s.timeout, 0)
            .await
            .map_err(transport)?;
        if !answer.status.is_success() {
            return Err(fail(Call::MfaChallenge, &answer));
        }
        record(&answer, None);
        let b: ChallengeBody =
            serde_json::from_slice(&answer.body).map_err(|e| unexpected("/mfa/challenge", &e))?;
        Ok(MfaChallenge {
            challenge_type: b.challenge_type,
            oob_code: secret(b.oob_code),
            binding_method: b.binding_method,
        })
    }

    /// `POST /oauth/token` with an MFA grant; never retried (a retried code
    /// counts twice against the brute-force bucket, and a used OTP is refused).
    #[instrument(name = "auth0.oauth.token", skip_all, fields(grant = grant.name(), request_id = ctx.request_id.as_deref(), status, error_code))]
    pub(crate) async fn do_mfa_grant(
        &self,
        mfa_token: &Secret,
        grant: &MfaGrant,
        ctx: &CallContext,
    ) -> Result<MfaTokens, ProviderError> {
        let url = endpoint(&self.base, "oauth/token")?;
        let s = &self.settings;
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &s.client_id),
            ("client_secret", s.client_secret.expose()),
            ("mfa_token", mfa_token.expose()),
        ];
        match grant {
            MfaGrant::Otp { otp } => {
                form.push(("grant_type", MFA_OTP_GRANT));
                form.push(("otp", otp.expose()));
            }
            MfaGrant::Oob {
                oob_code,
                binding_code,
            } => {
                form.push(("grant_type", MFA_OOB_GRANT));
                form.push(("oob_code", oob_code.expose()));
                if let Some(b) = binding_code {
                    form.push(("binding_code", b.expose()));
                }
            }
            MfaGrant::RecoveryCode { recovery_code } => {
                form.push(("grant_type", MFA_RECOVERY_GRANT));
                form.push(("recovery_code", recovery_code.expose()));
            }
        }
        let forwarded = self.forwarded_for(ctx);
        let answer = send(
            || {
                let mut r = self.http.post(url.clone()).form(&form);
                if let Some(ip) = &forwarded {
                    r = r.header(super::client::FORWARDED_FOR, ip.clone());
                }
                r
            },
            s.timeout,
            0,
        )
        .await
        .map_err(transport)?;
        if !answer.status.is_success() {
            return Err(fail(Call::MfaGrant, &answer));
        }
        let tokens = token_set(&answer, Call::MfaGrant)?;
        let recovery_code = match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Object(map)) => match map.get("recovery_code") {
                Some(Value::String(c)) if !c.is_empty() => Some(Secret::new(c.clone())),
                _ => None,
            },
            _ => None,
        };
        Ok(MfaTokens {
            tokens,
            recovery_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(kind: &str, channel: Option<&str>) -> MfaAuthenticator {
        MfaAuthenticator {
            id: "x".into(),
            authenticator_type: kind.into(),
            oob_channel: channel.map(str::to_owned),
            name: None,
            active: true,
        }
    }

    #[test]
    fn factors_as_a_ui_names_them() {
        assert_eq!(auth("otp", None).factor(), "otp");
        assert_eq!(auth("oob", Some("sms")).factor(), "sms");
        assert_eq!(auth("oob", Some("email")).factor(), "email");
        assert_eq!(auth("oob", Some("auth0")).factor(), "push");
        assert_eq!(auth("recovery-code", None).factor(), "recovery-code");
    }

    #[test]
    fn association_debug_redacts_the_secrets() {
        let a = MfaAssociation {
            authenticator_type: "otp".into(),
            oob_channel: None,
            secret: Some(Secret::new("JBSWY3DPEHPK3PXP")),
            barcode_uri: Some(Secret::new("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP")),
            recovery_codes: vec![Secret::new("RECOVERYCODE1234")],
            oob_code: None,
            binding_method: None,
        };
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("JBSWY3DPEHPK3PXP") && !dbg.contains("RECOVERYCODE1234"));
    }
}
