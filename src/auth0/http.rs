//! The shared HTTP client, bounded body reading and retries of idempotent calls.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

/// Largest body read from Auth0 (its answers are a few KiB).
const MAX_BODY: usize = 1024 * 1024;
/// First retry delay; doubles per attempt, with jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest retry delay.
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Builds the one shared HTTP client: pooled, rustls, with timeouts and a user-agent.
pub fn http_client(
    user_agent: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    crate::crypto::install();
    reqwest::Client::builder()
        .user_agent(user_agent)
        .use_rustls_tls()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// An upstream answer, body read (bounded).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Describes a transport error without its URL.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "connection failed".to_owned()
    } else if err.is_body() || err.is_decode() {
        "reading the answer failed".to_owned()
    } else {
        let mut s = err.to_string();
        // reqwest's Display may include the URL; keep only the kind.
        if let Some(idx) = s.find(" for url") {
            s.truncate(idx);
        }
        format!("request failed: {s}")
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<Answer, String> {
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(format!("answer larger than {MAX_BODY} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(describe(&e)),
        }
    }
    Ok(Answer {
        status,
        headers,
        body: body.freeze(),
    })
}

fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(2u32.saturating_pow(attempt));
    let max = exp.min(BACKOFF_CAP);
    let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis))
}

/// Sends a request built by `build`; retries up to `retries` times on transport
/// errors and 5xx answers (pass 0 for calls that must never be retried).
/// Returns the last answer (which may be a 5xx) or the last transport error.
pub(crate) async fn send(
    build: impl Fn() -> RequestBuilder,
    timeout: Duration,
    retries: u32,
) -> Result<Answer, String> {
    let mut attempt = 0;
    loop {
        let result = match build().timeout(timeout).send().await {
            Ok(response) => read_body(response).await,
            Err(e) => Err(describe(&e)),
        };
        let retryable = match &result {
            Ok(answer) => answer.status.is_server_error(),
            Err(_) => true,
        };
        if !retryable || attempt >= retries {
            return result;
        }
        let delay = backoff(attempt);
        match &result {
            Ok(answer) => tracing::debug!(
                status = answer.status.as_u16(),
                attempt,
                ?delay,
                "retrying after a server error"
            ),
            Err(reason) => {
                tracing::debug!(%reason, attempt, ?delay, "retrying after a transport error")
            }
        }
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}
