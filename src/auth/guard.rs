//! The guard as a capability: what the HTTP layer and the session service
//! ask of it, declared here, beside the one implementation that matters
//! ([`Authenticator`]), so that callers depend on `auth` and never the
//! reverse. Test doubles implement [`Authenticate`] alone.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Authenticator, KeySource, Principal, Rejection};

/// Verifies the tokens a caller presents.
#[async_trait]
pub trait Authenticate: Send + Sync + 'static {
    /// An access token → who is calling (anonymous with the reason when
    /// refused). Never fails: a refusal is a principal too.
    async fn authenticate(&self, token: &str) -> Principal;

    /// Verifies an ID token (signature, `iss`, `aud` = the client id, `exp`)
    /// and returns its claims. The default refuses every token.
    async fn verify_id_token(&self, _token: &str) -> Result<Map<String, Value>, Rejection> {
        Err(Rejection::Invalid)
    }
}

#[async_trait]
impl Authenticate for Authenticator {
    async fn authenticate(&self, token: &str) -> Principal {
        Authenticator::authenticate(self, token).await
    }

    async fn verify_id_token(&self, token: &str) -> Result<Map<String, Value>, Rejection> {
        Authenticator::verify_id_token(self, token)
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, "ID token refused");
                Rejection::Invalid
            })
    }
}

/// The signing keys as `/readyz` shows them (no secrets): ready once one
/// key is loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeysReadiness {
    pub keys: usize,
    pub kids: Vec<String>,
    pub source: KeySource,
    /// The last load failed: the keys (if any) may be out of date.
    pub stale: bool,
    pub last_error: Option<String>,
}

impl KeysReadiness {
    pub fn ready(&self) -> bool {
        self.keys > 0
    }
}

impl Authenticator {
    /// The readiness of the signing keys (`/readyz`).
    pub fn keys_readiness(&self) -> KeysReadiness {
        let st = self.key_status();
        KeysReadiness {
            keys: st.keys,
            kids: st.kids,
            source: st.source,
            stale: st.last_error.is_some(),
            last_error: st.last_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_readiness_serialises_as_readyz_shows_it() {
        let r = KeysReadiness {
            keys: 1,
            kids: vec!["a".into()],
            source: KeySource::Fetched,
            stale: false,
            last_error: None,
        };
        assert!(r.ready());
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"keys": 1, "kids": ["a"], "source": "fetched", "stale": false, "last_error": null})
        );
        assert!(!KeysReadiness { keys: 0, ..r }.ready());
    }
}
