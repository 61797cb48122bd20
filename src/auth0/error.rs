//! Errors of the Auth0 clients, and the parsing of Auth0's three error-body shapes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

use crate::secret::Secret;

/// Longest description kept from an upstream answer (a guard against huge bodies).
const MAX_TEXT: usize = 500;

/// What went wrong when calling the identity provider (Auth0 Authentication API).
///
/// Messages carry Auth0's descriptions (safe: they never contain a token or a
/// password) but never a token, password or client secret.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Wrong email or password (`invalid_grant` "Wrong email or password." or
    /// `invalid_user_password` on the password grants). Never says which.
    #[error("wrong email or password")]
    InvalidCredentials,

    /// The password does not satisfy the connection's password policy
    /// (`code: invalid_password`). `kind` is Auth0's `name`
    /// (`PasswordStrengthError`, `PasswordDictionaryError`, `PasswordNoUserInfoError`,
    /// `PasswordHistoryError`), `rules` the `description` (an object of rules for
    /// `PasswordStrengthError`, a string otherwise), `policy` the human policy text.
    #[error("password rejected by the password policy ({kind}): {message}")]
    PasswordPolicy {
        policy: Option<String>,
        rules: Value,
        kind: String,
        message: String,
    },

    /// The password is known from a data breach (`password_leaked`).
    #[error("password was found in a data breach and is blocked")]
    PasswordLeaked,

    /// Signup of an email or username that already exists (`user_exists`,
    /// `username_exists`, or `invalid_signup`, which Auth0 answers for duplicates).
    #[error("the user already exists")]
    UserExists,

    /// The request was rejected for another reason that depends on its input
    /// (a DB-connection error on signup, or an unknown 4xx code).
    #[error("request rejected by the identity provider ({code}): {description}")]
    BadRequest { code: String, description: String },

    /// Brute-force protection or suspicious-IP throttling blocked this login
    /// (`too_many_attempts`). Usually lifted by the user (email) or an admin;
    /// `retry_after` only when Auth0 sends `Retry-After`.
    #[error("too many failed attempts; login blocked")]
    TooManyAttempts { retry_after: Option<Duration> },

    /// Auth0's rate limit was hit (429 `too_many_requests`); `retry_after` comes
    /// from `x-ratelimit-reset` (UNIX epoch seconds) or `Retry-After`.
    #[error("rate limited by the identity provider")]
    RateLimited { retry_after: Option<Duration> },

    /// The user is blocked by an administrator ("user is blocked").
    #[error("the user is blocked")]
    Blocked,

    /// Multi-factor authentication is required (`mfa_required`); the `mfa_token`
    /// continues the flow at `/mfa/*`.
    #[error("multi-factor authentication required")]
    MfaRequired { mfa_token: Secret },

    /// A wrong, reused or expired OTP, binding code or recovery code
    /// (`invalid_grant` on an MFA grant, e.g. "Invalid otp_code.").
    #[error("the multi-factor code was refused")]
    MfaInvalidCode,

    /// The user rejected the push (`invalid_grant` "MFA Authorization rejected.").
    #[error("the multi-factor request was rejected by the user")]
    MfaRejected,

    /// The `mfa_token` expired (10 minutes), is malformed or is not this
    /// client's (`expired_token`, `invalid_grant`/`invalid_request` naming
    /// the mfa_token, 401 on `/mfa/*`): the login starts over.
    #[error("the multi-factor transaction expired")]
    MfaTokenInvalid,

    /// The out-of-band challenge is not answered yet (`authorization_pending`),
    /// or it was polled too often (`slow_down`).
    #[error("the multi-factor challenge is pending")]
    MfaPending { slow_down: bool },

    /// Enrolment refused: the user already has an authenticator
    /// (`access_denied` "User is already enrolled.").
    #[error("the user is already enrolled in multi-factor authentication")]
    MfaAlreadyEnrolled,

    /// Challenge refused: the user has no active authenticator (`association_required`).
    #[error("the user has no multi-factor authenticator")]
    MfaNotEnrolled,

    /// Challenge refused: none of the user's authenticators has the requested
    /// type, or the application does not accept it (`unsupported_challenge_type`).
    #[error("unsupported multi-factor challenge type")]
    MfaUnsupported,

    /// The refresh token is unknown, revoked, reused (rotation) or belongs to a
    /// deleted user (`invalid_grant` on the refresh grant).
    #[error("invalid or revoked refresh token")]
    InvalidRefreshToken,

    /// The access token given to `/userinfo` was rejected (401).
    #[error("access token rejected by the identity provider")]
    InvalidAccessToken,

    /// A rule or Action denied the request (`access_denied`/`unauthorized` with a
    /// custom description).
    #[error("access denied by the identity provider: {description}")]
    Denied { description: String },

    /// The tenant or the gateway is misconfigured (`unauthorized_client`,
    /// `access_denied` "Unauthorized"/"Service not enabled…", `invalid_client`,
    /// `invalid_scope`, `unsupported_grant_type`, `invalid_request`).
    #[error("identity provider misconfigured ({error}): {description}")]
    Misconfigured { error: String, description: String },

    /// Auth0 could not be reached or answered unusably: 5xx, timeout, connection
    /// refused, or a body that is not what the endpoint documents.
    #[error("identity provider unavailable: {reason}")]
    Unavailable { reason: String },

    /// A Management API call failed.
    #[error(transparent)]
    Management(#[from] ManagementError),
}

/// What went wrong when calling the Management API v2.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    /// 409: the resource already exists (e.g. the user).
    #[error("conflict: {message}")]
    Conflict { message: String },

    /// 404: the user, role or other resource does not exist.
    #[error("not found: {message}")]
    NotFound { message: String },

    /// 403 (e.g. `insufficient_scope`): the M2M application lacks a scope — a
    /// misconfiguration of the tenant.
    #[error("forbidden ({error_code}): {message}")]
    Forbidden { error_code: String, message: String },

    /// 401 even with a freshly fetched token.
    #[error("management token rejected: {message}")]
    Unauthorized { message: String },

    /// 429; `retry_after` from `x-ratelimit-reset` (UNIX epoch seconds).
    #[error("rate limited by the Management API")]
    RateLimited { retry_after: Option<Duration> },

    /// 400: the request was invalid (e.g. a weak password, a bad query).
    #[error("bad request: {0}")]
    BadRequest(String),

    /// The Management token could not be obtained because of configuration
    /// (client credentials grant not enabled, M2M app not authorised, bad secret).
    #[error("management client misconfigured ({error}): {description}")]
    Misconfigured { error: String, description: String },

    /// 5xx, timeout, connection error, or an unexpected answer.
    #[error("Management API unavailable: {reason}")]
    Unavailable { reason: String },
}

impl ProviderError {
    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
        }
    }

    /// The error's stable short name, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::PasswordPolicy { .. } => "password_policy",
            Self::PasswordLeaked => "password_leaked",
            Self::UserExists => "user_exists",
            Self::BadRequest { .. } => "bad_request",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::RateLimited { .. } => "rate_limited",
            Self::Blocked => "blocked",
            Self::MfaRequired { .. } => "mfa_required",
            Self::MfaInvalidCode => "mfa_invalid_code",
            Self::MfaRejected => "mfa_rejected",
            Self::MfaTokenInvalid => "mfa_token_invalid",
            Self::MfaPending { slow_down: false } => "mfa_pending",
            Self::MfaPending { slow_down: true } => "mfa_slow_down",
            Self::MfaAlreadyEnrolled => "mfa_already_enrolled",
            Self::MfaNotEnrolled => "mfa_not_enrolled",
            Self::MfaUnsupported => "mfa_unsupported",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::InvalidAccessToken => "invalid_access_token",
            Self::Denied { .. } => "denied",
            Self::Misconfigured { .. } => "misconfigured",
            Self::Unavailable { .. } => "unavailable",
            Self::Management(_) => "management",
        }
    }
}

impl ManagementError {
    /// The error's stable short name, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "conflict",
            Self::NotFound { .. } => "not_found",
            Self::Forbidden { .. } => "forbidden",
            Self::Unauthorized { .. } => "unauthorized",
            Self::RateLimited { .. } => "rate_limited",
            Self::BadRequest(_) => "bad_request",
            Self::Misconfigured { .. } => "misconfigured",
            Self::Unavailable { .. } => "unavailable",
        }
    }

    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
        }
    }
}

/// Truncates an upstream string to `MAX_TEXT` characters.
pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_TEXT).collect();
        out.push('…');
        out
    }
}

/// An Auth0 error body, read with the SDKs' precedence (auth0-wire.md §0).
#[derive(Debug, Default)]
pub(crate) struct ErrorBody {
    /// `errorCode` > `error` > `code`.
    pub code: Option<String>,
    /// DB-connection `name` (e.g. `PasswordStrengthError`).
    pub name: Option<String>,
    /// `description` (string or object) else `error_description`, as a value.
    pub description_value: Option<Value>,
    /// Human text: `error_description` > `description` (string) > `message` > `error`.
    pub text: Option<String>,
    /// `message` (DB-connection and Management shapes).
    pub message: Option<String>,
    /// `policy` (password policy text).
    pub policy: Option<String>,
    /// `mfa_token`.
    pub mfa_token: Option<String>,
}

fn str_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl ErrorBody {
    /// Parses any body; `None` when it is not a JSON object (text, HTML, empty, garbage).
    pub fn parse(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let obj = value.as_object()?;
        let code = str_field(obj, "errorCode")
            .or_else(|| str_field(obj, "error"))
            .or_else(|| str_field(obj, "code"));
        let description_value = match obj.get("description") {
            Some(v @ (Value::String(_) | Value::Object(_))) => Some(v.clone()),
            _ => obj
                .get("error_description")
                .filter(|v| v.is_string())
                .cloned(),
        };
        let message = str_field(obj, "message");
        let text = str_field(obj, "error_description")
            .or_else(|| str_field(obj, "description"))
            .or_else(|| message.clone())
            .or_else(|| str_field(obj, "error"))
            .map(|s| clip(&s));
        Some(Self {
            code,
            name: str_field(obj, "name"),
            description_value,
            text,
            message: message.map(|m| clip(&m)),
            policy: str_field(obj, "policy"),
            mfa_token: str_field(obj, "mfa_token"),
        })
    }

    fn text_or(&self, default: &str) -> String {
        self.text.clone().unwrap_or_else(|| default.to_owned())
    }
}

/// Which Authentication API call produced an error (the same code means
/// different things on different calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Signup,
    PasswordGrant,
    RefreshGrant,
    ClientCredentials,
    Revoke,
    ChangePassword,
    Userinfo,
    MfaAuthenticators,
    MfaAssociate,
    MfaChallenge,
    MfaGrant,
}

/// `retry_after` from `x-ratelimit-reset` (UNIX epoch seconds; small values are
/// taken as a delta) or `Retry-After` (seconds).
fn header_secs(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| header_secs(headers, name);
    if let Some(reset) = header("x-ratelimit-reset") {
        // Epoch seconds are ~1.7e9; anything below 1e9 cannot be an epoch.
        if reset < 1_000_000_000 {
            return Some(Duration::from_secs(reset));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Some(Duration::from_secs(reset.saturating_sub(now)));
    }
    header("retry-after").map(Duration::from_secs)
}

fn is_misconfiguration(desc: &str) -> bool {
    desc.eq_ignore_ascii_case("unauthorized") || desc.starts_with("Service not enabled")
}

/// Maps an unsuccessful Authentication API answer to a `ProviderError`.
pub(crate) fn map_auth_error(
    call: Call,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ProviderError {
    let parsed = ErrorBody::parse(body);
    let code = parsed
        .as_ref()
        .and_then(|b| b.code.clone())
        .unwrap_or_default();

    if call == Call::Userinfo && status == StatusCode::UNAUTHORIZED {
        return ProviderError::InvalidAccessToken;
    }
    if code == "too_many_attempts" {
        // `x-ratelimit-reset` here describes the endpoint's rate-limit bucket, not
        // the block (lifted by the user or an admin): only `Retry-After` counts.
        return ProviderError::TooManyAttempts {
            retry_after: header_secs(headers, "retry-after").map(Duration::from_secs),
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS || code == "too_many_requests" {
        return ProviderError::RateLimited {
            retry_after: retry_after(headers),
        };
    }
    if status.is_server_error() {
        return ProviderError::unavailable(if code.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {} ({code})", status.as_u16())
        });
    }
    let Some(body) = parsed else {
        let kind = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type");
        return ProviderError::unavailable(format!(
            "unexpected non-JSON answer (HTTP {}, {kind}, {} bytes)",
            status.as_u16(),
            body.len()
        ));
    };
    let text = body.text_or("");
    if text.to_ascii_lowercase().contains("user is blocked") {
        return ProviderError::Blocked;
    }
    match code.as_str() {
        "invalid_password" => ProviderError::PasswordPolicy {
            kind: body
                .name
                .clone()
                .unwrap_or_else(|| "PasswordStrengthError".to_owned()),
            message: body
                .message
                .clone()
                .or_else(|| body.text.clone())
                .unwrap_or_else(|| "Password is too weak".to_owned()),
            policy: body.policy.clone(),
            rules: body.description_value.clone().unwrap_or(Value::Null),
        },
        "password_leaked" => ProviderError::PasswordLeaked,
        "user_exists" | "username_exists" | "invalid_signup" => ProviderError::UserExists,
        "mfa_required" => match body.mfa_token {
            Some(token) => ProviderError::MfaRequired {
                mfa_token: Secret::new(token),
            },
            None => ProviderError::unavailable("mfa_required without an mfa_token"),
        },
        "invalid_user_password" => ProviderError::InvalidCredentials,
        "invalid_grant" => match call {
            Call::PasswordGrant => ProviderError::InvalidCredentials,
            Call::RefreshGrant => ProviderError::InvalidRefreshToken,
            _ => ProviderError::Misconfigured {
                error: code,
                description: text,
            },
        },
        "access_denied" if call == Call::RefreshGrant && !is_misconfiguration(&text) => {
            // Older tenants: 403 access_denied "Unknown or invalid refresh token";
            // rotation reuse detection also answers "access denied".
            ProviderError::InvalidRefreshToken
        }
        "access_denied" if is_misconfiguration(&text) || text.is_empty() => {
            ProviderError::Misconfigured {
                error: code,
                description: text,
            }
        }
        "access_denied" | "unauthorized" => ProviderError::Denied { description: text },
        "unauthorized_client"
        | "invalid_client"
        | "invalid_scope"
        | "unsupported_grant_type"
        | "invalid_request" => ProviderError::Misconfigured {
            error: code,
            description: text,
        },
        _ if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => {
            ProviderError::Misconfigured {
                error: if code.is_empty() {
                    format!("http_{}", status.as_u16())
                } else {
                    code
                },
                description: text,
            }
        }
        _ => ProviderError::BadRequest {
            code: if code.is_empty() {
                format!("http_{}", status.as_u16())
            } else {
                code
            },
            description: text,
        },
    }
}

/// Maps an unsuccessful Management API answer to a `ManagementError`.
pub(crate) fn map_management_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ManagementError {
    let parsed = ErrorBody::parse(body);
    let message = parsed
        .as_ref()
        .and_then(|b| b.message.clone().or_else(|| b.text.clone()))
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("unexpected answer")
                .to_owned()
        });
    match status.as_u16() {
        409 => ManagementError::Conflict { message },
        404 => ManagementError::NotFound { message },
        403 => ManagementError::Forbidden {
            error_code: parsed
                .and_then(|b| b.code)
                .unwrap_or_else(|| "forbidden".to_owned()),
            message,
        },
        401 => ManagementError::Unauthorized { message },
        429 => ManagementError::RateLimited {
            retry_after: retry_after(headers),
        },
        400 | 422 => ManagementError::BadRequest(message),
        s if s >= 500 => ManagementError::unavailable(format!("HTTP {s}")),
        s => ManagementError::unavailable(format!("unexpected HTTP {s}: {message}")),
    }
}

/// A token-endpoint failure of the client-credentials grant, seen from the
/// Management client.
pub(crate) fn management_token_error(err: ProviderError) -> ManagementError {
    match err {
        ProviderError::RateLimited { retry_after }
        | ProviderError::TooManyAttempts { retry_after } => {
            ManagementError::RateLimited { retry_after }
        }
        ProviderError::Unavailable { reason } => ManagementError::Unavailable { reason },
        ProviderError::Misconfigured { error, description } => {
            ManagementError::Misconfigured { error, description }
        }
        ProviderError::Denied { description } => ManagementError::Misconfigured {
            error: "access_denied".to_owned(),
            description,
        },
        ProviderError::BadRequest { code, description } => ManagementError::Misconfigured {
            error: code,
            description,
        },
        ProviderError::Management(inner) => inner,
        other => ManagementError::Misconfigured {
            error: other.kind().to_owned(),
            description: other.to_string(),
        },
    }
}
