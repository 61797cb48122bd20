//! Settings of one datasource (`[datasources.NAME]`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::Secret;

/// How authgate calls one upstream service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasourceSettings {
    /// Base URL; `@rest(path:)` is appended to it. For `@graphql`, the endpoint itself.
    pub url: Url,
    /// Longest wait for one upstream answer (never past the request's deadline).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries of a failed GET (5xx, timeout, connection error). Other methods are never retried.
    pub retries: u32,
    /// First backoff between retries; doubled each time, plus up to as much jitter.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// Upstream calls in flight at once, across all requests.
    pub max_concurrency: usize,
    /// Static headers sent on every call (e.g. an API version).
    pub headers: BTreeMap<String, String>,
    /// Whose identity the upstream sees.
    pub identity: IdentityMode,
    pub circuit_breaker: CircuitBreakerSettings,
    /// Most keys in one batched call (`@rest(batch:)`); more are split.
    pub batch_max: usize,
    /// `@graphql`: pass the upstream's error messages to clients. Off, a
    /// client sees a generic message (upstream messages may carry internals).
    pub expose_upstream_errors: bool,
    /// How long a batch waits for more parents when it cannot know how many
    /// will come (parents from a list `@rest` did not return); the window
    /// restarts with each parent that joins.
    #[serde(with = "humantime_serde")]
    pub batch_window: Duration,
    /// Largest answer body read from this service; a bigger one is refused
    /// (and counts as a failure for the circuit breaker).
    pub max_response_bytes: usize,
    /// A private CA and a client certificate (mutual TLS) for this service.
    pub tls: super::tls::TlsSettings,
}

impl Default for DatasourceSettings {
    fn default() -> Self {
        Self {
            url: default_url(),
            timeout: Duration::from_secs(5),
            retries: 2,
            retry_backoff: Duration::from_millis(50),
            max_concurrency: 64,
            headers: BTreeMap::new(),
            identity: IdentityMode::None,
            circuit_breaker: CircuitBreakerSettings::default(),
            batch_max: 100,
            expose_upstream_errors: false,
            batch_window: Duration::from_millis(2),
            max_response_bytes: 4 * 1024 * 1024,
            tls: Default::default(),
        }
    }
}

#[allow(clippy::expect_used)] // a literal that parses
fn default_url() -> Url {
    Url::parse("http://127.0.0.1:4001/").expect("a valid literal URL")
}

/// The circuit opens after `failure_threshold` consecutive failures and lets
/// one probe through after `open_for`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerSettings {
    pub failure_threshold: u32,
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
}

impl Default for CircuitBreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(10),
        }
    }
}

/// Whose identity an upstream call carries. In TOML: `identity = "none"`,
/// `identity = "forward_token"`,
/// `identity = { claims_headers = { headers = { "x-user-id" = "sub" } } }`,
/// `identity = { service_token = { audience = "https://orders" } }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMode {
    /// No identity: only `x-request-id` and the static headers.
    #[default]
    None,
    /// `Authorization: Bearer <the caller's access token>` (when there is a caller).
    ForwardToken,
    /// One header per claim of the verified token.
    ClaimsHeaders(ClaimsHeaders),
    /// `Authorization: Bearer <a client-credentials token of authgate itself>`.
    ServiceToken(ServiceTokenSettings),
}

/// `header name → claim name` (`sub`, `permissions`, `email`, a namespaced claim…).
/// A list claim is sent comma-separated.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsHeaders {
    pub headers: BTreeMap<String, String>,
}

/// A client-credentials grant for `audience`. The token endpoint and client
/// default to the Auth0 settings' (`/oauth/token`, `auth0.client_id`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTokenSettings {
    pub audience: String,
    #[serde(default)]
    pub token_url: Option<Url>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<Secret>,
}

/// Headers authgate sets itself; configuration and `@rest(headers:)` may not.
pub(crate) const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "x-request-id",
    "host",
    "content-length",
    "content-type",
    "cookie",
];

impl DatasourceSettings {
    /// Checks the settings of `datasources.NAME`; every problem comes with its key path.
    pub fn validate(&self, name: &str) -> Result<(), Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut err =
            |key: &str, msg: String| errors.push((format!("datasources.{name}.{key}"), msg));
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || name.is_empty()
        {
            err(
                "",
                "a datasource name is letters, digits, `_` and `-`".into(),
            );
        }
        if !matches!(self.url.scheme(), "http" | "https") {
            err("url", "must be an http:// or https:// URL".into());
        }
        if self.url.query().is_some() || self.url.fragment().is_some() {
            err("url", "must not carry a query or a fragment".into());
        }
        if self.timeout.is_zero() {
            err("timeout", "must be greater than zero".into());
        }
        if self.max_concurrency == 0 {
            err("max_concurrency", "must be greater than zero".into());
        }
        if self.batch_max == 0 {
            err("batch_max", "must be greater than zero".into());
        }
        if self.batch_window > Duration::from_secs(1) {
            err(
                "batch_window",
                "at most 1s: every batched level waits this long".into(),
            );
        }
        if self.max_response_bytes == 0 {
            err("max_response_bytes", "must be greater than zero".into());
        }
        if self.retries > 10 {
            err("retries", "at most 10".into());
        }
        if self.circuit_breaker.failure_threshold == 0 {
            err(
                "circuit_breaker.failure_threshold",
                "must be greater than zero".into(),
            );
        }
        let mut identity_headers: Vec<&str> = Vec::new();
        match &self.identity {
            IdentityMode::ClaimsHeaders(c) => {
                if c.headers.is_empty() {
                    err("identity.claims_headers.headers", "names no header".into());
                }
                for (h, claim) in &c.headers {
                    if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                        err(
                            "identity.claims_headers.headers",
                            format!("`{h}` is not a valid header name"),
                        );
                    } else if RESERVED_HEADERS.contains(&h.to_ascii_lowercase().as_str()) {
                        err(
                            "identity.claims_headers.headers",
                            format!("`{h}` is set by authgate itself"),
                        );
                    }
                    if claim.is_empty() {
                        err(
                            "identity.claims_headers.headers",
                            format!("`{h}` names no claim"),
                        );
                    }
                    identity_headers.push(h);
                }
            }
            IdentityMode::ServiceToken(s) => {
                if s.audience.is_empty() {
                    err(
                        "identity.service_token.audience",
                        "must not be empty".into(),
                    );
                }
                if s.client_id.is_some() != s.client_secret.is_some() {
                    err(
                        "identity.service_token",
                        "set both client_id and client_secret, or neither".into(),
                    );
                }
                if s.token_url.is_some() && s.client_id.is_none() {
                    err(
                        "identity.service_token.client_id",
                        "is required with token_url".into(),
                    );
                }
            }
            IdentityMode::None | IdentityMode::ForwardToken => {}
        }
        for (h, v) in &self.headers {
            let lower = h.to_ascii_lowercase();
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                err("headers", format!("`{h}` is not a valid header name"));
            } else if RESERVED_HEADERS.contains(&lower.as_str())
                || identity_headers
                    .iter()
                    .any(|i| i.eq_ignore_ascii_case(&lower))
            {
                err(
                    "headers",
                    format!("`{h}` is set by authgate itself (identity or request id)"),
                );
            }
            if http::HeaderValue::from_str(v).is_err() {
                err(
                    "headers",
                    format!("the value of `{h}` is not a valid header value"),
                );
            }
        }
        errors.extend(self.tls.validate(name));
        crate::validate::outcome(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_toml_shapes_parse() {
        assert!(DatasourceSettings::default().validate("orders").is_ok());
        let s: DatasourceSettings = toml::from_str(
            r#"
            url = "http://orders.internal:8080/api"
            timeout = "2s"
            identity = { claims_headers = { headers = { "x-user-id" = "sub", "x-user-permissions" = "permissions" } } }
            [circuit_breaker]
            open_for = "1s"
            "#,
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert!(
            matches!(s.identity, IdentityMode::ClaimsHeaders(ref c) if c.headers["x-user-id"] == "sub")
        );
        let s: DatasourceSettings = toml::from_str("identity = \"forward_token\"").unwrap();
        assert!(matches!(s.identity, IdentityMode::ForwardToken));
        let s: DatasourceSettings =
            toml::from_str("identity = { service_token = { audience = \"https://x\" } }").unwrap();
        assert!(matches!(s.identity, IdentityMode::ServiceToken(_)));
        assert!(toml::from_str::<DatasourceSettings>("timeot = \"1s\"").is_err());
    }

    #[test]
    fn validation_names_keys() {
        let mut s = DatasourceSettings {
            timeout: Duration::ZERO,
            ..Default::default()
        };
        s.headers.insert("Authorization".into(), "x".into());
        s.identity = IdentityMode::ServiceToken(ServiceTokenSettings {
            audience: String::new(),
            token_url: None,
            client_id: Some("id".into()),
            client_secret: None,
        });
        let errs = s.validate("orders").unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"datasources.orders.timeout"), "{keys:?}");
        assert!(keys.contains(&"datasources.orders.headers"));
        assert!(keys.contains(&"datasources.orders.identity.service_token.audience"));
        assert!(keys.contains(&"datasources.orders.identity.service_token"));
    }
}
