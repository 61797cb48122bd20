//! Who is calling: the outcome of the request guard.

use std::sync::Arc;

use crate::secret::Secret;

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

/// What a verified access token says: the part of a [`User`] that the
/// verified-token cache keeps. The claims are held once, plus the three lists
/// authorization reads on every request; the raw token is not kept (a
/// request brings its own): a typical Auth0 access token's entry is about
/// 2.4 KB, against 5.4 KB when it held the token and every claim twice.
#[derive(Clone, Debug)]
pub struct VerifiedClaims {
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
}

/// A verified user (or machine client) and what its access token grants.
/// Reads as its [`VerifiedClaims`] (`user.subject`, `user.permissions`, …),
/// shared with the cache, plus the raw token of this request.
#[derive(Clone, Debug)]
pub struct User {
    verified: Arc<VerifiedClaims>,
    /// the raw access token, for `forward_token` datasources and `/userinfo`
    pub token: Secret,
}

impl User {
    pub fn new(verified: VerifiedClaims, token: Secret) -> Self {
        Self::shared(Arc::new(verified), token)
    }

    /// A user whose claims are shared (with the verified-token cache).
    pub fn shared(verified: Arc<VerifiedClaims>, token: Secret) -> Self {
        Self { verified, token }
    }

    /// The claims, as shared with the cache.
    pub fn verified(&self) -> &Arc<VerifiedClaims> {
        &self.verified
    }
}

impl std::ops::Deref for User {
    type Target = VerifiedClaims;

    fn deref(&self) -> &VerifiedClaims {
        &self.verified
    }
}

/// What kind of principal a verified access token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A person, from a password, password-realm or refresh grant.
    User,
    /// A machine, from the client-credentials grant (`sub` = `<client id>@clients`).
    Client,
}

impl PrincipalKind {
    /// `user` or `client`: the value datasources receive in `x-authgate-principal`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Client => "client",
        }
    }
}

/// Auth0 marks client-credentials access tokens with this `gty`.
const CLIENT_CREDENTIALS_GTY: &str = "client-credentials";
/// …and gives them this subject suffix.
const CLIENT_SUBJECT_SUFFIX: &str = "@clients";

impl VerifiedClaims {
    /// A user or a client. A token is a client's when its `gty` says
    /// client-credentials, or when its subject has the client form
    /// (`<client id>@clients`, never the `provider|id` of a user): either
    /// mark is enough, so a client never passes for a user.
    pub fn kind(&self) -> PrincipalKind {
        let gty = self.claims.get("gty").and_then(serde_json::Value::as_str);
        let client_subject =
            self.subject.ends_with(CLIENT_SUBJECT_SUFFIX) && !self.subject.contains('|');
        if gty == Some(CLIENT_CREDENTIALS_GTY) || client_subject {
            PrincipalKind::Client
        } else {
            PrincipalKind::User
        }
    }

    pub fn is_client(&self) -> bool {
        self.kind() == PrincipalKind::Client
    }

    /// The client id of a client principal (`azp`, else the subject less
    /// `@clients`); `None` for a user.
    pub fn client_id(&self) -> Option<&str> {
        if !self.is_client() {
            return None;
        }
        self.claims
            .get("azp")
            .and_then(serde_json::Value::as_str)
            .or_else(|| self.subject.strip_suffix(CLIENT_SUBJECT_SUFFIX))
            .or(Some(self.subject.as_str()))
    }
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

    /// The kind of a verified principal; `None` when anonymous.
    pub fn kind(&self) -> Option<PrincipalKind> {
        self.user().map(|u| u.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(sub: &str, claims: serde_json::Value) -> User {
        let serde_json::Value::Object(claims) = claims else {
            panic!("claims are an object")
        };
        User::new(
            VerifiedClaims {
                subject: sub.into(),
                scopes: Vec::new(),
                permissions: Vec::new(),
                roles: Vec::new(),
                claims,
                expires_at: 0,
                token_id: String::new(),
            },
            Secret::new("t"),
        )
    }

    #[test]
    fn users_and_clients_are_told_apart() {
        let person = user("auth0|abc", serde_json::json!({"gty": "password"}));
        assert_eq!(person.kind(), PrincipalKind::User);
        assert_eq!(person.client_id(), None);
        let refreshed = user("auth0|abc", serde_json::json!({}));
        assert_eq!(refreshed.kind(), PrincipalKind::User);

        let m2m = user(
            "Xy12@clients",
            serde_json::json!({"gty": "client-credentials", "azp": "Xy12"}),
        );
        assert_eq!(m2m.kind(), PrincipalKind::Client);
        assert_eq!(m2m.client_id(), Some("Xy12"));
        // either mark alone is enough
        let no_gty = user("Xy12@clients", serde_json::json!({}));
        assert_eq!(no_gty.kind(), PrincipalKind::Client);
        assert_eq!(no_gty.client_id(), Some("Xy12"));
        let gty_only = user("svc", serde_json::json!({"gty": "client-credentials"}));
        assert!(gty_only.is_client());
        assert_eq!(gty_only.client_id(), Some("svc"));
        // a user whose id happens to end in `@clients` keeps the user form
        let odd = user("email|ann@clients", serde_json::json!({}));
        assert_eq!(odd.kind(), PrincipalKind::User);
    }
}
