//! Outbound HTTP, one place for every call authgate makes to another service
//! (Auth0, the JWKS endpoint, datasources): the shared client, bounded body
//! reading and the one retry policy. A leaf module: it imports nothing of the
//! gateway but `crypto` (the TLS provider), so every caller can import it.

mod body;
mod retry;

use std::time::Duration;

pub(crate) use body::{read_limited, BodyError};
pub use retry::RetryPolicy;

/// The `User-Agent` authgate sends.
pub const USER_AGENT: &str = concat!("authgate/", env!("CARGO_PKG_VERSION"));

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// What every outbound client shares: rustls (with the process's crypto
/// provider), pooled connections, a connect timeout and no redirects (a
/// redirect would carry credentials to a host nobody configured).
pub(crate) fn builder(user_agent: &str, connect_timeout: Duration) -> reqwest::ClientBuilder {
    crate::crypto::install();
    reqwest::Client::builder()
        .user_agent(user_agent)
        .use_rustls_tls()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(POOL_IDLE)
        .redirect(reqwest::redirect::Policy::none())
}

/// Builds the one shared HTTP client: pooled, rustls, with timeouts and a
/// user-agent. Auth0, the JWKS fetch and every datasource without TLS
/// settings of its own use it.
pub fn client(
    user_agent: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    builder(user_agent, connect_timeout)
        .timeout(timeout)
        .build()
}
