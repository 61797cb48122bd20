//! One datasource: a shared HTTP client with a timeout that respects the
//! request's deadline, GET retries with backoff and jitter, a concurrency cap
//! and a circuit breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tokio::sync::Semaphore;
use tracing::instrument;
use url::Url;

use super::error::{upstream_message, DatasourceError};
use super::identity::Identity;
use super::settings::DatasourceSettings;
use crate::auth::Principal;
use crate::outbound::{read_limited, BodyError, RetryPolicy};

/// One upstream call, built from scratch (nothing of the client's request
/// is copied but what the configuration says).
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<serde_json::Value>,
    pub deadline: Instant,
}

/// A 2xx answer (its body parsed as JSON), or a 404 (which a nullable field
/// turns into `null`; its body kept for the upstream's message).
///
/// The body is parsed once, straight into the GraphQL value the executor
/// answers with: no `serde_json::Value` in between, no copy of the whole
/// answer per field (a field clones only what it selects).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
    value: async_graphql::Value,
}

impl Answer {
    /// The parsed body of a 2xx answer (`null` for an empty body or a 404).
    pub fn value(&self) -> &async_graphql::Value {
        &self.value
    }

    /// Parses a 2xx body: an answer that is not JSON is a failure of the
    /// upstream (so it counts for the circuit breaker), not a success.
    /// serde_json's recursion limit bounds how deep it may nest.
    fn parsed(mut self, source_name: &str) -> Result<Self, DatasourceError> {
        if !(200..300).contains(&self.status) || self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(self);
        }
        self.value =
            serde_json::from_slice(&self.body).map_err(|e| DatasourceError::InvalidAnswer {
                source_name: source_name.to_owned(),
                detail: format!("not JSON: {e}"),
            })?;
        // the parsed value is what callers read
        self.body = Bytes::new();
        Ok(self)
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// Opens after `threshold` consecutive failures; after `open_for`, one probe
/// call goes through: success closes it, failure opens it again.
pub(crate) struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    open_for: Duration,
}

pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    done: bool,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn permit(&self) -> Option<Permit<'_>> {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Some(Permit {
                breaker: self,
                probe: false,
                done: false,
            }),
            State::Open { until } if Instant::now() >= until => {
                *s = State::HalfOpen;
                Some(Permit {
                    breaker: self,
                    probe: true,
                    done: false,
                })
            }
            State::Open { .. } | State::HalfOpen => None,
        }
    }

    fn record(&self, ok: bool, probe: bool) {
        let mut s = self.lock();
        let next = match (*s, ok) {
            (_, true) => State::Closed { failures: 0 },
            (State::HalfOpen, false) if probe => State::Open {
                until: Instant::now() + self.open_for,
            },
            (State::Closed { failures }, false) => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    tracing::warn!(failures, "circuit opened");
                    State::Open {
                        until: Instant::now() + self.open_for,
                    }
                } else {
                    State::Closed { failures }
                }
            }
            (other, false) => other,
        };
        *s = next;
    }

    /// `closed`, `open` or `half_open`.
    pub fn state_name(&self) -> &'static str {
        match *self.lock() {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl Permit<'_> {
    pub fn finish(mut self, ok: bool) {
        self.done = true;
        self.breaker.record(ok, self.probe);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done && self.probe {
            // a cancelled probe: let the next call probe again
            *self.breaker.lock() = State::Open {
                until: Instant::now(),
            };
        }
    }
}

/// A configured datasource.
pub(crate) struct Upstream {
    pub name: String,
    pub settings: DatasourceSettings,
    pub identity: Identity,
    pub static_headers: HeaderMap,
    http: reqwest::Client,
    semaphore: Semaphore,
    pub breaker: Breaker,
    /// the app's metrics (calls by source, status and latency)
    metrics: Option<crate::metrics::Metrics>,
}

impl Upstream {
    pub fn new(
        name: String,
        settings: DatasourceSettings,
        identity: Identity,
        http: reqwest::Client,
        metrics: Option<crate::metrics::Metrics>,
    ) -> Self {
        let mut static_headers = HeaderMap::new();
        for (k, v) in &settings.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                static_headers.insert(k, v);
            }
        }
        Self {
            semaphore: Semaphore::new(settings.max_concurrency.max(1)),
            breaker: Breaker::new(
                settings.circuit_breaker.failure_threshold,
                settings.circuit_breaker.open_for,
            ),
            name,
            identity,
            static_headers,
            http,
            settings,
            metrics,
        }
    }

    /// The headers of one call, in the order that decides which wins: the
    /// configured static headers, then the field's own (`field_headers` adds
    /// them), then the caller's identity, the request id and `Accept`.
    pub async fn call_headers(
        &self,
        principal: &Principal,
        request_id: &str,
        field_headers: impl FnOnce(&mut HeaderMap) -> Result<(), DatasourceError>,
    ) -> Result<HeaderMap, DatasourceError> {
        let identity = self.identity.headers(&self.name, principal).await?;
        let mut headers = self.static_headers.clone();
        field_headers(&mut headers)?;
        for (k, v) in identity {
            headers.insert(k, v);
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert(HeaderName::from_static("x-request-id"), v);
        }
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        Ok(headers)
    }

    /// `base url` + `path` (already encoded).
    pub fn url(&self, path: &str) -> Result<Url, DatasourceError> {
        let base = self.settings.url.as_str().trim_end_matches('/');
        let path = if path.starts_with('/') || path.is_empty() {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Url::parse(&format!("{base}{path}"))
            .map_err(|e| DatasourceError::BadValue(format!("cannot build the upstream URL: {e}")))
    }

    /// Sends the call through the breaker, the concurrency cap and retries.
    #[instrument(skip(self, call), fields(source = %self.name, method = %call.method, path = %call.url.path()))]
    pub async fn send(&self, call: &Call) -> Result<Answer, DatasourceError> {
        let Some(permit) = self.breaker.permit() else {
            tracing::debug!("circuit open: call refused");
            return Err(DatasourceError::CircuitOpen {
                source_name: self.name.clone(),
            });
        };
        let outcome = self
            .retry_policy(&call.method)
            .run(
                Some(call.deadline),
                || self.attempt(call),
                DatasourceError::retryable,
            )
            .await;
        let outcome = outcome.and_then(|a| a.parsed(&self.name));
        permit.finish(match &outcome {
            Ok(_) => true,
            Err(e) => !e.is_upstream_failure(),
        });
        if let Err(e) = &outcome {
            if e.is_upstream_failure() {
                tracing::warn!(error = %e, "datasource call failed");
            } else {
                tracing::debug!(error = %e, "datasource refused the call");
            }
        }
        outcome
    }

    /// GETs are retried (`retries`, waits from `retry_backoff` doubling, plus
    /// up to as much jitter); any other method is sent once.
    fn retry_policy(&self, method: &Method) -> RetryPolicy {
        if *method != Method::GET {
            return RetryPolicy::NEVER;
        }
        RetryPolicy {
            retries: self.settings.retries,
            first_delay: self.settings.retry_backoff,
            // no cap of its own: the request's deadline bounds the waits
            max_delay: Duration::MAX,
        }
    }

    async fn attempt(&self, call: &Call) -> Result<Answer, DatasourceError> {
        let now = Instant::now();
        let budget = call
            .deadline
            .saturating_duration_since(now)
            .min(self.settings.timeout);
        let timeout = || DatasourceError::Timeout {
            source_name: self.name.clone(),
        };
        if budget.is_zero() {
            return Err(timeout());
        }
        let work = async {
            let _slot = self
                .semaphore
                .acquire()
                .await
                .map_err(|_| DatasourceError::Connect {
                    source_name: self.name.clone(),
                    detail: "shutting down".into(),
                })?;
            let mut headers = call.headers.clone();
            // the upstream joins the trace (W3C traceparent) when export is on
            crate::telemetry::inject_trace_context(&mut headers);
            let mut req = self
                .http
                .request(call.method.clone(), call.url.clone())
                .headers(headers);
            if let Some(b) = &call.body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| self.transport(e))?;
            let status = resp.status().as_u16();
            let body = read_limited(resp, self.settings.max_response_bytes)
                .await
                .map_err(|e| match e {
                    BodyError::TooLarge => DatasourceError::TooLarge {
                        source_name: self.name.clone(),
                        limit: self.settings.max_response_bytes,
                    },
                    BodyError::Transport(e) => self.transport(e),
                })?;
            Ok::<_, DatasourceError>(Answer {
                status,
                body,
                value: async_graphql::Value::Null,
            })
        };
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(budget, work).await;
        // status 0: no answer (timeout, connection error)
        let status = match &answer {
            Ok(Ok(a)) => a.status,
            _ => 0,
        };
        if let Some(m) = &self.metrics {
            m.record_upstream(&self.name, status, started.elapsed());
        }
        let answer = answer.map_err(|_| timeout())??;
        match answer.status {
            200..=299 | 404 => Ok(answer),
            status => Err(DatasourceError::Status {
                source_name: self.name.clone(),
                status,
                message: if (400..500).contains(&status) {
                    upstream_message(&answer.body)
                } else {
                    None
                },
            }),
        }
    }

    fn transport(&self, e: reqwest::Error) -> DatasourceError {
        if e.is_timeout() {
            DatasourceError::Timeout {
                source_name: self.name.clone(),
            }
        } else {
            DatasourceError::Connect {
                source_name: self.name.clone(),
                detail: e.without_url().to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_probes_and_closes() {
        let b = Breaker::new(2, Duration::ZERO);
        b.permit().unwrap().finish(false);
        assert_eq!(b.state_name(), "closed");
        b.permit().unwrap().finish(false);
        assert_eq!(b.state_name(), "open");
        // open_for elapsed (zero): one probe, and only one
        let probe = b.permit().unwrap();
        assert_eq!(b.state_name(), "half_open");
        assert!(b.permit().is_none());
        probe.finish(false);
        assert_eq!(b.state_name(), "open");
        let probe = b.permit().unwrap();
        probe.finish(true);
        assert_eq!(b.state_name(), "closed");
    }

    #[test]
    fn open_breaker_refuses_until_open_for() {
        let b = Breaker::new(1, Duration::from_secs(3600));
        b.permit().unwrap().finish(false);
        assert!(b.permit().is_none());
        let b = Breaker::new(1, Duration::ZERO);
        b.permit().unwrap().finish(false);
        drop(b.permit().unwrap()); // a cancelled probe
        assert!(b.permit().is_some());
    }
}
