//! Calls to Auth0 through the shared outbound client: bounded body reading
//! and retries of idempotent calls under the one outbound retry policy.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

use crate::outbound::{read_limited, BodyError, RetryPolicy};

/// Largest body read from Auth0 (its answers are a few KiB).
const MAX_BODY: usize = 1024 * 1024;

/// Auth0's retry waits: 50–100 ms, doubling per attempt up to 1–2 s.
fn policy(retries: u32) -> RetryPolicy {
    RetryPolicy {
        retries,
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
    }
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

async fn read_body(response: reqwest::Response) -> Result<Answer, String> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_limited(response, MAX_BODY)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => format!("answer larger than {MAX_BODY} bytes"),
            BodyError::Transport(e) => describe(&e),
        })?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// One attempt that did not give a usable answer.
enum Failed {
    /// A 5xx answer: retried, and returned as it is when retries are spent.
    ServerError(Answer),
    Transport(String),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::ServerError(a) => write!(f, "server error {}", a.status.as_u16()),
            Failed::Transport(reason) => f.write_str(reason),
        }
    }
}

/// Sends a request built by `build`; retries up to `retries` times on transport
/// errors and 5xx answers (pass 0 for calls that must never be retried).
/// Returns the last answer (which may be a 5xx) or the last transport error.
pub(crate) async fn send(
    build: impl Fn() -> RequestBuilder,
    timeout: Duration,
    retries: u32,
) -> Result<Answer, String> {
    let outcome = policy(retries)
        .run(
            None,
            || async {
                let answer = match build().timeout(timeout).send().await {
                    Ok(response) => read_body(response).await,
                    Err(e) => Err(describe(&e)),
                };
                match answer {
                    Ok(a) if a.status.is_server_error() => Err(Failed::ServerError(a)),
                    Ok(a) => Ok(a),
                    Err(reason) => Err(Failed::Transport(reason)),
                }
            },
            |_| true,
        )
        .await;
    match outcome {
        Ok(answer) | Err(Failed::ServerError(answer)) => Ok(answer),
        Err(Failed::Transport(reason)) => Err(reason),
    }
}
