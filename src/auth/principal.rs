//! Who is calling: the outcome of the request guard.

use std::sync::Arc;

use crate::config::Secret;

/// Why credentials that were presented did not yield a user. A client reads
/// the reason (`extensions.reason`) to decide whether to refresh or log out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The token was well formed and signed, but `exp` has passed.
    Expired,
    /// Malformed, badly signed, wrong issuer/audience/algorithm, not an access token…
    Invalid,
    /// The token was logged out (it is on the revocation list).
    Revoked,
    /// No signing keys could be loaded: the token could not be checked at all.
    /// This is an outage, not the client's fault; it must not log the user out.
    KeysUnavailable,
    /// The revocation list could not be consulted, so the token was refused
    /// (fail closed). An outage, not the client's fault.
    StoreUnavailable,
}

impl Rejection {
    /// The value of `extensions.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Expired => "TOKEN_EXPIRED",
            Rejection::Invalid => "TOKEN_INVALID",
            Rejection::Revoked => "TOKEN_REVOKED",
            Rejection::KeysUnavailable => "KEYS_UNAVAILABLE",
            Rejection::StoreUnavailable => "STORE_UNAVAILABLE",
        }
    }
}

/// A verified user (or machine client) and what its access token grants.
#[derive(Clone, Debug)]
pub struct User {
    /// `sub`
    pub subject: String,
    /// from the space-separated `scope` claim
    pub scopes: Vec<String>,
    /// from Auth0 RBAC's `permissions` claim
    pub permissions: Vec<String>,
    /// from the configured namespaced roles claim
    pub roles: Vec<String>,
    /// every claim of the access token, for datasource templates and `me`
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// `exp`, seconds since the Unix epoch
    pub expires_at: u64,
    /// a stable, non-reversible id of the token (hex SHA-256): the revocation key
    pub token_id: String,
    /// the raw access token, for `forward_token` datasources and `/userinfo`
    pub token: Secret,
}

/// The caller of one request.
#[derive(Clone, Debug)]
pub enum Principal {
    /// No token, or a token that was refused (and why).
    Anonymous { rejection: Option<Rejection> },
    /// A verified access token.
    User(Arc<User>),
}

impl Principal {
    pub fn anonymous() -> Self {
        Principal::Anonymous { rejection: None }
    }

    pub fn rejected(why: Rejection) -> Self {
        Principal::Anonymous {
            rejection: Some(why),
        }
    }

    pub fn user(&self) -> Option<&User> {
        match self {
            Principal::User(u) => Some(u),
            Principal::Anonymous { .. } => None,
        }
    }
}
