//! The identity an upstream call carries: none, the caller's token, claims
//! as headers, or a client-credentials token of authgate's own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{HeaderName, HeaderValue};
use tracing::instrument;
use url::Url;

use super::error::DatasourceError;
use crate::auth::Principal;
use crate::config::Secret;

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
                    .collect(),
                None => Vec::new(),
            },
            Identity::Claims(map) => match principal.user() {
                Some(u) => map
                    .iter()
                    .filter_map(|(h, claim)| {
                        let text = match u.claims.get(claim).and_then(claim_text) {
                            Some(t) => t,
                            None if claim == "sub" => u.subject.clone(),
                            None if claim == "permissions" => u.permissions.join(","),
                            None => return None,
                        };
                        match HeaderValue::from_bytes(text.as_bytes()) {
                            Ok(v) => Some((h.clone(), v)),
                            Err(_) => {
                                tracing::warn!(header = %h, claim, "claim value cannot be a header value; not sent");
                                None
                            }
                        }
                    })
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
