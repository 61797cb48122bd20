//! The client contract's error codes, mapped to GraphQL in exactly one place.
//!
//! Resolvers return [`ApiError`]; `From<ApiError> for async_graphql::Error`
//! puts the stable `extensions.code` (and `reason`, `retryAfter`, …) on it.
//! Messages are safe for clients: nothing internal, no secret.

use std::time::Duration;

use async_graphql::ErrorExtensionValues;

use crate::auth::Rejection;

/// Codes of `errors[].extensions.code` (DESIGN.md), plus `BAD_REQUEST` for
/// HTTP-level malformed requests (Apollo's convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    InvalidCredentials,
    UserExists,
    RateLimited,
    MfaRequired,
    MfaInvalidCode,
    MfaSessionExpired,
    UpstreamUnavailable,
    GraphqlValidationFailed,
    GraphqlParseFailed,
    BadRequest,
    InternalServerError,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::InvalidCredentials => "INVALID_CREDENTIALS",
            Code::UserExists => "USER_EXISTS",
            Code::RateLimited => "RATE_LIMITED",
            Code::MfaRequired => "MFA_REQUIRED",
            Code::MfaInvalidCode => "MFA_INVALID_CODE",
            Code::MfaSessionExpired => "MFA_SESSION_EXPIRED",
            Code::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Code::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Code::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Code::BadRequest => "BAD_REQUEST",
            Code::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// Why a field (or a request) could not be answered, as the client sees it.
///
/// Deliberately not `Display`: async-graphql converts any `Display` type into
/// an error without extensions, so `?` would silently drop the code. Without
/// it, `From<ApiError>` below is the only conversion.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// No usable token on a field that needs one; `reason` tells whether to refresh.
    Unauthenticated(Option<Rejection>),
    /// The refresh token is unknown, revoked, reused or expired: log in again.
    RefreshTokenInvalid,
    /// No refresh token was sent (no argument, no cookie): log in.
    RefreshTokenMissing,
    /// Authenticated, but without the grant the field requires.
    Forbidden(String),
    /// The input is wrong; `field` names the argument when known.
    BadUserInput {
        message: String,
        field: Option<String>,
        /// extra extension values (e.g. `policy`, `rules` for a weak password)
        extensions: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// Wrong email or password: never says which.
    InvalidCredentials,
    /// Sign-up with an email that is taken.
    UserExists,
    /// Our limiter or Auth0's brute-force protection refused the attempt.
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Auth0 requires a second factor; `extensions.mfa` carries the sealed
    /// MFA session and what the UI needs to choose a factor (never Auth0's
    /// `mfa_token`).
    MfaRequired { mfa: serde_json::Value },
    /// The OTP, binding code or recovery code was wrong, reused or expired,
    /// or (`reason: PUSH_REJECTED`) the user rejected the push.
    MfaInvalidCode { reason: Option<&'static str> },
    /// The MFA session is expired, used, forged or another client's: log in again.
    MfaSessionExpired,
    /// Auth0, a datasource or the key set could not be reached.
    UpstreamUnavailable {
        message: String,
        reason: Option<&'static str>,
    },
    /// A bug or a misconfiguration; the details are in the log, not here.
    Internal,
}

fn unauthenticated_message(r: Option<Rejection>) -> &'static str {
    match r {
        None => "authentication required: send an access token",
        Some(Rejection::Expired) => "the access token has expired; refresh it",
        Some(Rejection::Invalid) => "the access token is invalid",
        Some(Rejection::Revoked) => "the access token was revoked (logged out)",
        Some(Rejection::KeysUnavailable) => {
            "the access token could not be checked: signing keys are unavailable; retry later"
        }
        Some(Rejection::StoreUnavailable) => {
            "the access token could not be checked against the revocation list; retry later"
        }
    }
}

impl ApiError {
    /// The client-safe message.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated(r) => unauthenticated_message(*r).to_owned(),
            ApiError::RefreshTokenInvalid => {
                "the refresh token is invalid or expired; log in again".to_owned()
            }
            ApiError::RefreshTokenMissing => {
                "no refresh token: pass `refreshToken`, or log in first (cookie custody)".to_owned()
            }
            ApiError::Forbidden(m) => m.clone(),
            ApiError::BadUserInput { message, .. } => message.clone(),
            ApiError::InvalidCredentials => "wrong email or password".to_owned(),
            ApiError::UserExists => "a user with this email already exists".to_owned(),
            ApiError::RateLimited { message, .. } => message.clone(),
            ApiError::MfaRequired { .. } => "multi-factor authentication is required".to_owned(),
            ApiError::MfaInvalidCode { reason: Some(_) } => {
                "the sign-in request was rejected on the other device".to_owned()
            }
            ApiError::MfaInvalidCode { reason: None } => {
                "the code is wrong, expired or was already used".to_owned()
            }
            ApiError::MfaSessionExpired => {
                "the multi-factor session expired or is not valid here; log in again".to_owned()
            }
            ApiError::UpstreamUnavailable { message, .. } => message.clone(),
            ApiError::Internal => {
                "internal error; the x-request-id response header identifies it in the logs"
                    .to_owned()
            }
        }
    }

    pub fn code(&self) -> Code {
        match self {
            ApiError::Unauthenticated(Some(
                Rejection::KeysUnavailable | Rejection::StoreUnavailable,
            )) => Code::UpstreamUnavailable,
            ApiError::Unauthenticated(_)
            | ApiError::RefreshTokenInvalid
            | ApiError::RefreshTokenMissing => Code::Unauthenticated,
            ApiError::Forbidden(_) => Code::Forbidden,
            ApiError::BadUserInput { .. } => Code::BadUserInput,
            ApiError::InvalidCredentials => Code::InvalidCredentials,
            ApiError::UserExists => Code::UserExists,
            ApiError::RateLimited { .. } => Code::RateLimited,
            ApiError::MfaRequired { .. } => Code::MfaRequired,
            ApiError::MfaInvalidCode { .. } => Code::MfaInvalidCode,
            ApiError::MfaSessionExpired => Code::MfaSessionExpired,
            ApiError::UpstreamUnavailable { .. } => Code::UpstreamUnavailable,
            ApiError::Internal => Code::InternalServerError,
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        ApiError::BadUserInput {
            message: message.into(),
            field: None,
            extensions: None,
        }
    }

    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadUserInput {
            message: message.into(),
            field: Some(field.to_owned()),
            extensions: None,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::UpstreamUnavailable {
            message: message.into(),
            reason: None,
        }
    }

    fn extensions(&self) -> ErrorExtensionValues {
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", self.code().as_str());
        match self {
            ApiError::Unauthenticated(r) => {
                ext.set("reason", r.map_or("TOKEN_MISSING", Rejection::reason));
            }
            ApiError::RefreshTokenInvalid => ext.set("reason", "REFRESH_TOKEN_INVALID"),
            ApiError::RefreshTokenMissing => ext.set("reason", "REFRESH_TOKEN_MISSING"),
            ApiError::BadUserInput {
                field, extensions, ..
            } => {
                if let Some(f) = field {
                    ext.set("field", f.as_str());
                }
                for (k, v) in extensions.iter().flatten() {
                    if let Ok(v) = async_graphql::Value::from_json(v.clone()) {
                        ext.set(k.as_str(), v);
                    }
                }
            }
            ApiError::RateLimited {
                retry_after: Some(d),
                ..
            } => {
                // whole seconds, rounded up: retrying earlier would fail again
                let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                ext.set("retryAfter", secs.max(1));
            }
            ApiError::MfaRequired { mfa } if !mfa.is_null() => {
                if let Ok(v) = async_graphql::Value::from_json(mfa.clone()) {
                    ext.set("mfa", v);
                }
            }
            ApiError::MfaInvalidCode { reason: Some(r) } => ext.set("reason", *r),
            ApiError::UpstreamUnavailable {
                reason: Some(r), ..
            } => ext.set("reason", *r),
            _ => {}
        }
        ext
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        let mut err = async_graphql::Error::new(e.message());
        err.extensions = Some(e.extensions());
        err
    }
}

/// An error for a document or request (not a field), with its code.
pub fn request_error(code: Code, message: impl Into<String>) -> async_graphql::ServerError {
    let mut err = async_graphql::ServerError::new(message, None);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code.as_str());
    err.extensions = Some(ext);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(e: ApiError) -> serde_json::Value {
        let err: async_graphql::Error = e.into();
        serde_json::to_value(err.extensions.unwrap()).unwrap()
    }

    #[test]
    fn codes_and_reasons() {
        let v = ext(ApiError::Unauthenticated(None));
        assert_eq!(v["code"], "UNAUTHENTICATED");
        assert_eq!(v["reason"], "TOKEN_MISSING");
        let v = ext(ApiError::Unauthenticated(Some(Rejection::Expired)));
        assert_eq!(v["reason"], "TOKEN_EXPIRED");
        let v = ext(ApiError::Unauthenticated(Some(Rejection::KeysUnavailable)));
        assert_eq!(v["code"], "UPSTREAM_UNAVAILABLE");
        assert_eq!(v["reason"], "KEYS_UNAVAILABLE");
        let v = ext(ApiError::RateLimited {
            message: "slow down".into(),
            retry_after: Some(Duration::from_millis(1500)),
        });
        assert_eq!(v["retryAfter"], 2);
    }
}
