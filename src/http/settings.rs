//! `[server]`: the listener, CORS and CSRF, validated here (`config` only
//! composes them).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address the GraphQL listener binds (`127.0.0.1:4000`; port 0 picks one).
    pub listen: SocketAddr,
    /// Longest time one request may take before it is answered 504.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long SIGTERM/SIGINT waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Longest time a client may take to send a request's headers (HTTP/1.1).
    /// Hyper also runs it while a kept-alive connection waits for its next
    /// request.
    #[serde(with = "humantime_serde", default = "default_header_timeout")]
    pub header_timeout: Duration,
    /// A connection with no request in flight and no traffic for this long
    /// is closed.
    #[serde(with = "humantime_serde", default = "default_idle_timeout")]
    pub idle_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Proxies whose `X-Forwarded-For` is believed (CIDRs). Empty: the socket
    /// peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub cors: CorsSettings,
    pub csrf: CsrfSettings,
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_connections() -> usize {
    4096
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins allowed to call from a browser (`https://app.example.com`).
    /// Empty: no cross-origin access.
    pub allowed_origins: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true` (needed for the cookie mode).
    pub allow_credentials: bool,
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Request headers a browser may send cross-origin, besides
    /// `content-type`, `authorization`, `accept`, `x-request-id` and the CSRF
    /// headers (always allowed). Default: Apollo Client's client-awareness
    /// headers and W3C trace context.
    #[serde(default = "default_cors_allowed_headers")]
    pub allowed_headers: Vec<String>,
}

fn default_cors_allowed_headers() -> Vec<String> {
    [
        "apollographql-client-name",
        "apollographql-client-version",
        "traceparent",
        "tracestate",
    ]
    .map(String::from)
    .to_vec()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CsrfSettings {
    /// Refuse requests a browser could send cross-site without a preflight.
    pub enabled: bool,
    /// Headers whose presence proves a preflight happened (any one suffices,
    /// besides `Authorization` and a JSON content type).
    pub required_headers: Vec<String>,
}

impl ServerSettings {
    /// The problems with these settings, as `(key, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut issues: Vec<(String, String)> = Vec::new();
        let s = self;
        if s.body_limit < 1024 {
            issues.push((
                "server.body_limit".into(),
                "must be at least 1024 bytes".into(),
            ));
        }
        if s.request_timeout.is_zero() {
            issues.push((
                "server.request_timeout".into(),
                "must be greater than zero".into(),
            ));
        }
        for (key, d) in [
            ("server.header_timeout", s.header_timeout),
            ("server.idle_timeout", s.idle_timeout),
        ] {
            if d.is_zero() {
                issues.push((key.into(), "must be greater than zero".into()));
            }
        }
        if s.max_connections == 0 {
            issues.push(("server.max_connections".into(), "must be at least 1".into()));
        }
        for (i, origin) in s.cors.allowed_origins.iter().enumerate() {
            match url::Url::parse(origin) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.path() == "/"
                        && !origin.ends_with('/')
                        && u.query().is_none() => {}
                _ => issues.push((
                    format!("server.cors.allowed_origins.{i}"),
                    format!(
                        "`{origin}` is not an origin (scheme://host[:port], no path, no trailing slash)"
                    ),
                )),
            }
            if origin == "*" && s.cors.allow_credentials {
                issues.push((
                    "server.cors.allowed_origins".into(),
                    "`*` cannot be combined with allow_credentials".into(),
                ));
            }
        }
        for (i, h) in s.csrf.required_headers.iter().enumerate() {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                issues.push((
                    format!("server.csrf.required_headers.{i}"),
                    format!("`{h}` is not a valid header name"),
                ));
            }
        }
        for (i, h) in s.cors.allowed_headers.iter().enumerate() {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                issues.push((
                    format!("server.cors.allowed_headers.{i}"),
                    format!("`{h}` is not a valid header name"),
                ));
            }
        }
        issues
    }
}
