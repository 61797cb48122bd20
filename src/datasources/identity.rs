//! The identity an upstream call carries: none, the caller's token, claims
//! as headers, or a client-credentials token of authgate's own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{HeaderName, HeaderValue};
use tracing::instrument;
use url::Url;

use super::error::DatasourceError;
use crate::auth::{Principal, User};
use crate::secret::Secret;

/// A freshly issued service token.
#[derive(Clone, Debug)]
pub struct FetchedToken {
    pub access_token: Secret,
    pub expires_in: Duration,
}

/// Issues client-credentials access tokens for an audience. The lead wires
/// the default one to the Auth0 client; [`ClientCredentials`] speaks Auth0's
/// `/oauth/token` wire format to any endpoint.
#[async_trait]
pub trait ServiceTokenSource: Send + Sync + 'static {
    async fn fetch(&self, audience: &str) -> Result<FetchedToken, DatasourceError>;
}

/// `POST {token_url}` with `grant_type=client_credentials` (JSON body, client
/// secret in the body as Auth0 expects).
pub struct ClientCredentials {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    client_secret: Secret,
}

impl ClientCredentials {
    pub fn new(
        http: reqwest::Client,
        token_url: Url,
        client_id: String,
        client_secret: Secret,
    ) -> Self {
        Self {
            http,
            token_url,
            client_id,
            client_secret,
        }
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[async_trait]
impl ServiceTokenSource for ClientCredentials {
    #[instrument(skip(self), fields(token_url = %self.token_url, client_id = %self.client_id))]
    async fn fetch(&self, audience: &str) -> Result<FetchedToken, DatasourceError> {
        let fail = |detail: String| DatasourceError::ServiceToken {
            source_name: audience.to_owned(),
            detail,
        };
        let resp = self
            .http
            .post(self.token_url.clone())
            .json(&serde_json::json!({
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret.expose(),
                "audience": audience,
            }))
            .send()
            .await
            .map_err(|e| fail(format!("token endpoint unreachable: {}", e.without_url())))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| {
            fail(format!(
                "token endpoint answer unreadable: {}",
                e.without_url()
            ))
        })?;
        if !status.is_success() {
            let why = super::error::upstream_message(&body).unwrap_or_default();
            tracing::warn!(%status, why, "the token endpoint refused the client-credentials grant");
            return Err(fail(format!("token endpoint answered {status}")));
        }
        let t: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| fail("token endpoint answer is not a token".into()))?;
        Ok(FetchedToken {
            access_token: Secret::new(t.access_token),
            expires_in: Duration::from_secs(t.expires_in.unwrap_or(3600)),
        })
    }
}

/// A service token, cached until shortly before it expires; concurrent
/// fetches are coalesced into one.
pub(crate) struct CachedServiceToken {
    source: Arc<dyn ServiceTokenSource>,
    audience: String,
    cached: Mutex<Option<(Secret, Instant)>>,
    gate: tokio::sync::Mutex<()>,
}

impl CachedServiceToken {
    pub fn new(source: Arc<dyn ServiceTokenSource>, audience: String) -> Self {
        Self {
            source,
            audience,
            cached: Mutex::new(None),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Secret> {
        let guard = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|(_, renew_at)| Instant::now() < *renew_at)
            .map(|(t, _)| t.clone())
    }

    pub async fn get(&self, source_name: &str) -> Result<Secret, DatasourceError> {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        // one fetch at a time; whoever waited finds the fresh token
        let _gate = self.gate.lock().await;
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let fetched = self
            .source
            .fetch(&self.audience)
            .await
            .map_err(|e| match e {
                DatasourceError::ServiceToken { detail, .. } => DatasourceError::ServiceToken {
                    source_name: source_name.to_owned(),
                    detail,
                },
                other => other,
            })?;
        let margin = (fetched.expires_in / 10).min(Duration::from_secs(60));
        let renew_at = Instant::now() + fetched.expires_in.saturating_sub(margin);
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((fetched.access_token.clone(), renew_at));
        Ok(fetched.access_token)
    }
}

/// The configured identity of one datasource, ready to use.
pub(crate) enum Identity {
    None,
    Forward,
    Claims(Vec<(HeaderName, String)>),
    Service(CachedServiceToken),
}

fn bearer(token: &Secret) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Tells an upstream whether the caller is a person (`user`) or a machine
/// (`client`, a client-credentials token), with every identity that
/// forwards the caller (`forward_token`, `claims_headers`). Set by authgate
/// over anything the client sent.
pub const PRINCIPAL_HEADER: &str = "x-authgate-principal";

fn kind_header(u: &User) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(PRINCIPAL_HEADER),
        HeaderValue::from_static(u.kind().as_str()),
    )
}

fn claim_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .filter_map(claim_text)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    }
}

impl Identity {
    /// The identity headers for this caller. An anonymous caller gets none
    /// (authorization directives decide whether it may call at all).
    pub async fn headers(
        &self,
        source_name: &str,
        principal: &Principal,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, DatasourceError> {
        Ok(match self {
            Identity::None => Vec::new(),
            Identity::Forward => match principal.user() {
                Some(u) => bearer(&u.token)
                    .map(|v| (http::header::AUTHORIZATION, v))
                    .into_iter()
                    .chain([kind_header(u)])
                    .collect(),
                None => Vec::new(),
            },
            Identity::Claims(map) => match principal.user() {
                Some(u) => map
                    .iter()
                    .filter_map(|(h, claim)| {
                        // a client's subject is its client id, not the
                        // `<id>@clients` form a user id could be mistaken for
                        let client_subject = (claim == "sub").then(|| u.client_id()).flatten();
                        let text = match client_subject {
                            Some(id) => id.to_owned(),
                            None => match u.claims.get(claim).and_then(claim_text) {
                                Some(t) => t,
                                None if claim == "sub" => u.subject.clone(),
                                None if claim == "permissions" => u.permissions.join(","),
                                None => return None,
                            },
                        };
                        match HeaderValue::from_bytes(text.as_bytes()) {
                            Ok(v) => Some((h.clone(), v)),
                            Err(_) => {
                                tracing::warn!(header = %h, claim, "claim value cannot be a header value; not sent");
                                None
                            }
                        }
                    })
                    .chain([kind_header(u)])
                    .collect(),
                None => Vec::new(),
            },
            Identity::Service(t) => {
                let token = t.get(source_name).await?;
                bearer(&token)
                    .map(|v| (http::header::AUTHORIZATION, v))
                    .into_iter()
                    .collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::User;

    fn principal(sub: &str, claims: serde_json::Value) -> Principal {
        let serde_json::Value::Object(claims) = claims else {
            panic!("claims are an object")
        };
        Principal::User(Arc::new(User {
            subject: sub.into(),
            scopes: Vec::new(),
            permissions: vec!["read:orders".into()],
            roles: Vec::new(),
            claims,
            expires_at: 0,
            token_id: String::new(),
            token: Secret::new("the-token"),
        }))
    }

    fn header<'a>(headers: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(h, _)| h.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[tokio::test]
    async fn upstreams_are_told_users_from_clients() {
        let claims = Identity::Claims(vec![
            (HeaderName::from_static("x-user-id"), "sub".into()),
            (
                HeaderName::from_static("x-user-permissions"),
                "permissions".into(),
            ),
        ]);
        let user = principal("auth0|abc", serde_json::json!({"sub": "auth0|abc"}));
        let client = principal(
            "m2m@clients",
            serde_json::json!({"sub": "m2m@clients", "gty": "client-credentials", "azp": "m2m"}),
        );

        let h = claims.headers("svc", &user).await.unwrap();
        assert_eq!(header(&h, "x-user-id"), Some("auth0|abc"));
        assert_eq!(header(&h, PRINCIPAL_HEADER), Some("user"));
        let h = claims.headers("svc", &client).await.unwrap();
        assert_eq!(
            header(&h, "x-user-id"),
            Some("m2m"),
            "the client id is the subject"
        );
        assert_eq!(header(&h, "x-user-permissions"), Some("read:orders"));
        assert_eq!(header(&h, PRINCIPAL_HEADER), Some("client"));

        let h = Identity::Forward.headers("svc", &client).await.unwrap();
        assert_eq!(header(&h, "authorization"), Some("Bearer the-token"));
        assert_eq!(header(&h, PRINCIPAL_HEADER), Some("client"));
        // nobody to speak for: no identity, no kind
        let h = claims
            .headers("svc", &Principal::anonymous())
            .await
            .unwrap();
        assert!(h.is_empty());
        assert!(Identity::None
            .headers("svc", &client)
            .await
            .unwrap()
            .is_empty());
    }
}
