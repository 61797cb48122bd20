//! The client contract's error codes, mapped to GraphQL in exactly one place.
//!
//! Resolvers return [`ApiError`]; `From<ApiError> for async_graphql::Error`
//! puts the stable `extensions.code` (and `reason`, `retryAfter`, …) on it.
//! Messages are safe for clients: nothing internal, no secret.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{ErrorExtensionValues, ServerError};

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

    /// Every code, for tables and tests.
    pub const ALL: [Code; 12] = [
        Code::Unauthenticated,
        Code::Forbidden,
        Code::BadUserInput,
        Code::InvalidCredentials,
        Code::UserExists,
        Code::RateLimited,
        Code::MfaRequired,
        Code::UpstreamUnavailable,
        Code::GraphqlValidationFailed,
        Code::GraphqlParseFailed,
        Code::BadRequest,
        Code::InternalServerError,
    ];

    /// The code a wire string names (an upstream's `extensions.code`, or an
    /// error whose typed code was lost); `None` for any other string.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Puts `code` on an error twice: typed, as its source, for the gateway's
/// own decisions (the HTTP status, metrics), and as `extensions.code` for
/// the client.
pub fn set_code(err: &mut ServerError, code: Code) {
    err.source = Some(Arc::new(code));
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
}

/// The code of an error: the typed one it carries, else its
/// `extensions.code` read back (an error built outside this module).
pub fn code_of(err: &ServerError) -> Option<Code> {
    err.source::<Code>()
        .copied()
        .or_else(|| match err.extensions.as_ref()?.get("code")? {
            async_graphql::Value::String(s) => Code::parse(s),
            _ => None,
        })
}

/// An error already reported, with its path, by the resolver that failed:
/// a non-null field answers it so that its parent becomes `null` (GraphQL's
/// propagation) and the HTTP layer drops it from the response
/// ([`is_propagated`]). Typed, so no message can be mistaken for it.
pub fn propagated() -> async_graphql::Error {
    async_graphql::Error {
        message: "an error of a non-null field, already reported".to_owned(),
        source: Some(Arc::new(Propagated)),
        extensions: None,
    }
}

/// Whether `err` is the marker of [`propagated`].
pub fn is_propagated(err: &ServerError) -> bool {
    err.source::<Propagated>().is_some()
}

/// The source of [`propagated`] errors.
struct Propagated;

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
        async_graphql::Error {
            message: e.message(),
            // typed, for the gateway's decisions; the client reads `extensions`
            source: Some(Arc::new(e.code())),
            extensions: Some(e.extensions()),
        }
    }
}

/// An error for a document or request (not a field), with its code.
pub fn request_error(code: Code, message: impl Into<String>) -> async_graphql::ServerError {
    let mut err = ServerError::new(message, None);
    set_code(&mut err, code);
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

    #[test]
    fn the_code_travels_typed() {
        let err: async_graphql::Error = ApiError::Forbidden("no".into()).into();
        let server = err.into_server_error(async_graphql::Pos::default());
        assert_eq!(code_of(&server), Some(Code::Forbidden));
        // an error built elsewhere: its wire code is read back
        let mut other = ServerError::new("x", None);
        other
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "RATE_LIMITED");
        assert_eq!(code_of(&other), Some(Code::RateLimited));
        assert_eq!(code_of(&ServerError::new("x", None)), None);
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(c));
        }
        assert_eq!(Code::parse("unauthenticated"), None);
    }

    #[tokio::test]
    async fn the_code_survives_execution() {
        use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, Schema, TypeRef};
        let query =
            Object::new("Query").field(Field::new("x", TypeRef::named(TypeRef::STRING), |_| {
                FieldFuture::new(async {
                    Err::<Option<FieldValue>, _>(ApiError::Forbidden("no".into()).into())
                })
            }));
        let schema = Schema::build("Query", None, None)
            .register(query)
            .finish()
            .unwrap();
        let resp = schema.execute("{ x }").await;
        // typed, not read back from the wire string
        assert_eq!(resp.errors[0].source::<Code>(), Some(&Code::Forbidden));
    }

    #[test]
    fn propagated_errors_are_marked_by_type_not_message() {
        let pos = async_graphql::Pos::default();
        assert!(is_propagated(&propagated().into_server_error(pos)));
        let lookalike = async_graphql::Error::new(propagated().message);
        assert!(!is_propagated(&lookalike.into_server_error(pos)));
    }
}
