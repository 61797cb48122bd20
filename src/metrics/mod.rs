//! Prometheus metrics, served at `/metrics` on their own listener
//! (`[metrics]`), so the scrape port is never the public one.
//!
//! Each [`Metrics`] has its own registry (several gateways can run in one
//! process, as the tests do). Label values are bounded: operation names come
//! from clients, so only the first [`MAX_OPERATION_NAMES`] well-formed names
//! get their own series; the rest are counted as `_other`.

mod instrument;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use serde::{Deserialize, Serialize};

pub use instrument::{InstrumentedProvider, InstrumentedStore};

use crate::auth::{Principal, Rejection};
use crate::error::Code;

/// Distinct operation names given their own series.
pub const MAX_OPERATION_NAMES: usize = 200;

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve `GET /metrics` on `listen`.
    pub enabled: bool,
    /// A separate listener (keep it private: it is not authenticated).
    /// Port 0 picks one ([`crate::Application::metrics_addr`]).
    pub listen: SocketAddr,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 9100)),
        }
    }
}

/// The metrics could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A metric could not be created or registered (a bug: names are fixed).
    #[error("metrics registry: {0}")]
    Registry(#[from] prometheus::Error),
}

/// Guard counters read at scrape time.
type ScrapeHook = Box<dyn Fn(&Metrics) + Send + Sync>;

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    auth: IntCounterVec,
    rate_limited: IntCounterVec,
    store_seconds: HistogramVec,
    store_errors: IntCounterVec,
    idp_calls: IntCounterVec,
    idp_seconds: HistogramVec,
    upstream_calls: IntCounterVec,
    upstream_seconds: HistogramVec,
    token_verifications: IntCounter,
    token_cache_hits: IntCounter,
    document_cache_hits: IntCounterVec,
    document_cache_misses: IntCounterVec,
    jwks_fetches: IntCounter,
    signing_keys: IntGauge,
    reloads: IntCounterVec,
    last_reload_success: IntGauge,
    last_reload_successful: IntGauge,
    operation_names: Mutex<HashSet<String>>,
    hooks: Mutex<Vec<ScrapeHook>>,
}

/// The gateway's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_buckets() -> Vec<f64> {
    vec![
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn histogram_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<HistogramVec> {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(latency_buckets()),
        labels,
    )?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

fn counter(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let c = IntCounter::new(name, help)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let r = Registry::new_custom(Some("authgate".into()), None)?;
        let inner = Inner {
            requests: counter_vec(&r, "graphql_requests_total", "GraphQL operations by name and outcome (ok or the first error code)", &["operation", "outcome"])?,
            request_seconds: histogram_vec(&r, "graphql_request_duration_seconds", "Time to answer a GraphQL operation", &["operation"])?,
            auth: counter_vec(&r, "auth_outcomes_total", "Requests by authentication outcome (anonymous, authenticated, expired, invalid, revoked, keys_unavailable, store_unavailable, forbidden, unauthenticated)", &["outcome"])?,
            rate_limited: counter_vec(&r, "rate_limited_total", "Attempts refused by the abuse limits, by operation and scope (ip, account, principal)", &["operation", "scope"])?,
            store_seconds: histogram_vec(&r, "store_operation_duration_seconds", "Shared-store calls (revocations, counters)", &["backend", "op"])?,
            store_errors: counter_vec(&r, "store_errors_total", "Shared-store calls that failed (Redis down or slow)", &["backend", "op"])?,
            idp_calls: counter_vec(&r, "idp_requests_total", "Identity-provider (Auth0) calls by endpoint and result", &["endpoint", "status"])?,
            idp_seconds: histogram_vec(&r, "idp_request_duration_seconds", "Identity-provider (Auth0) call latency", &["endpoint"])?,
            upstream_calls: counter_vec(&r, "upstream_requests_total", "Datasource calls by source and HTTP status (0: no answer)", &["source", "status"])?,
            upstream_seconds: histogram_vec(&r, "upstream_request_duration_seconds", "Datasource call latency", &["source"])?,
            token_verifications: counter(&r, "token_verifications_total", "Access-token signature verifications (verified-token cache misses)")?,
            token_cache_hits: counter(&r, "token_cache_hits_total", "Access tokens answered from the verified-token cache")?,
            document_cache_hits: counter_vec(&r, "document_cache_hits_total", "GraphQL document-cache lookups answered from the cache, by step (parse, validate)", &["step"])?,
            document_cache_misses: counter_vec(&r, "document_cache_misses_total", "GraphQL document-cache lookups that found nothing (new, evicted, mutation or refused documents), by step", &["step"])?,
            jwks_fetches: counter(&r, "jwks_fetches_total", "HTTP requests to the JWKS endpoint")?,
            signing_keys: gauge(&r, "signing_keys", "Signing keys currently loaded (0: no token can be verified)")?,
            reloads: {
                let c = counter_vec(&r, "reloads_total", "Configuration/schema reloads by result (success, failure)", &["result"])?;
                // both series exist from the start (rate() needs a zero)
                c.with_label_values(&["success"]);
                c.with_label_values(&["failure"]);
                c
            },
            last_reload_success: gauge(&r, "config_last_reload_success_timestamp_seconds", "Unix time the serving configuration and schema were loaded")?,
            last_reload_successful: {
                let g = gauge(&r, "config_last_reload_successful", "1 if the last reload succeeded (or none was tried), 0 if it failed")?;
                g.set(1);
                g
            },
            registry: r,
            operation_names: Mutex::new(HashSet::new()),
            hooks: Mutex::new(Vec::new()),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Runs `hook` before each scrape (to copy counters kept elsewhere).
    pub fn on_scrape(&self, hook: impl Fn(&Metrics) + Send + Sync + 'static) {
        if let Ok(mut hooks) = self.inner.hooks.lock() {
            hooks.push(Box::new(hook));
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        if let Ok(hooks) = self.inner.hooks.lock() {
            for h in hooks.iter() {
                h(self);
            }
        }
        let families = self.inner.registry.gather();
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }

    /// A bounded label for a client-chosen operation name.
    fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return "_anonymous".into();
        };
        let well_formed = name.len() <= 64
            && name.bytes().enumerate().all(|(i, b)| {
                b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit())
            });
        if !well_formed {
            return "_other".into();
        }
        let Ok(mut seen) = self.inner.operation_names.lock() else {
            return "_other".into();
        };
        if seen.contains(name) {
            return name.to_owned();
        }
        if seen.len() < MAX_OPERATION_NAMES {
            seen.insert(name.to_owned());
            return name.to_owned();
        }
        "_other".into()
    }

    /// One GraphQL operation answered: `outcome` is `None` (`ok`) or the
    /// first error's code. Typed, so the label set is the contract's codes.
    pub fn record_request(
        &self,
        operation: Option<&str>,
        outcome: Option<Code>,
        elapsed: Duration,
    ) {
        let op = self.operation_label(operation);
        let outcome = outcome.map_or("ok", Code::as_str);
        self.inner
            .requests
            .with_label_values(&[op.as_str(), outcome])
            .inc();
        self.inner
            .request_seconds
            .with_label_values(&[op.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    /// The guard's verdict on a request's credentials.
    pub fn record_principal(&self, p: &Principal) {
        let outcome = match p {
            Principal::User(_) => "authenticated",
            Principal::Anonymous { rejection: None } => "anonymous",
            Principal::Anonymous { rejection: Some(r) } => match r {
                Rejection::Expired => "expired",
                Rejection::Invalid => "invalid",
                Rejection::Revoked => "revoked",
                Rejection::KeysUnavailable => "keys_unavailable",
                Rejection::StoreUnavailable => "store_unavailable",
            },
        };
        self.record_auth(outcome);
    }

    /// An authentication/authorization outcome (`forbidden`, `unauthenticated`…).
    pub fn record_auth(&self, outcome: &'static str) {
        self.inner.auth.with_label_values(&[outcome]).inc();
    }

    /// An attempt refused by the abuse limits.
    pub fn record_rate_limited(&self, operation: &'static str, scope: &'static str) {
        self.inner
            .rate_limited
            .with_label_values(&[operation, scope])
            .inc();
    }

    /// One shared-store call.
    pub fn record_store(
        &self,
        backend: &'static str,
        op: &'static str,
        ok: bool,
        elapsed: Duration,
    ) {
        self.inner
            .store_seconds
            .with_label_values(&[backend, op])
            .observe(elapsed.as_secs_f64());
        if !ok {
            self.inner
                .store_errors
                .with_label_values(&[backend, op])
                .inc();
        }
    }

    /// One identity-provider call: `status` is `ok` or the error kind.
    pub fn record_idp(&self, endpoint: &'static str, status: &'static str, elapsed: Duration) {
        self.inner
            .idp_calls
            .with_label_values(&[endpoint, status])
            .inc();
        self.inner
            .idp_seconds
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
    }

    /// One datasource call: its configured name, the HTTP status (0 when
    /// there was no answer: timeout, refused) and how long it took.
    pub fn record_upstream(&self, source: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        self.inner
            .upstream_calls
            .with_label_values(&[source, status.as_str()])
            .inc();
        self.inner
            .upstream_seconds
            .with_label_values(&[source])
            .observe(elapsed.as_secs_f64());
    }

    /// The serving configuration and schema were loaded at `at` (Unix
    /// seconds): at start-up, before any reload.
    pub fn set_config_loaded_at(&self, at: u64) {
        self.inner
            .last_reload_success
            .set(i64::try_from(at).unwrap_or(i64::MAX));
    }

    /// One configuration/schema reload, applied (`ok`, at `at` Unix
    /// seconds) or refused (the previous configuration keeps serving).
    pub fn record_reload(&self, ok: bool, at: u64) {
        let result = if ok { "success" } else { "failure" };
        self.inner.reloads.with_label_values(&[result]).inc();
        if ok {
            self.set_config_loaded_at(at);
        }
        self.inner.last_reload_successful.set(i64::from(ok));
    }

    /// The document cache's counters, resolved once (the series exist from
    /// now on, at zero): a lookup then costs one atomic add.
    pub fn document_cache_counters(&self) -> DocumentCacheCounters {
        let pair = |step: &str| HitMiss {
            hits: self.inner.document_cache_hits.with_label_values(&[step]),
            misses: self.inner.document_cache_misses.with_label_values(&[step]),
        };
        DocumentCacheCounters {
            parse: pair("parse"),
            validate: pair("validate"),
        }
    }

    /// Copies the guard's counters (monotonic totals) at scrape time.
    pub fn set_guard_stats(&self, stats: crate::auth::GuardStats, keys: usize) {
        fn catch_up(c: &IntCounter, total: u64) {
            let now = c.get();
            if total > now {
                c.inc_by(total - now);
            }
        }
        catch_up(&self.inner.token_verifications, stats.verifications);
        catch_up(&self.inner.token_cache_hits, stats.cache_hits);
        catch_up(&self.inner.jwks_fetches, stats.jwks_fetches);
        self.inner
            .signing_keys
            .set(i64::try_from(keys).unwrap_or(i64::MAX));
    }
}

/// The hit and miss counters of one document-cache step.
#[derive(Clone)]
pub struct HitMiss {
    hits: IntCounter,
    misses: IntCounter,
}

impl HitMiss {
    /// One lookup: found (`true`) or not.
    pub fn record(&self, hit: bool) {
        if hit {
            self.hits.inc();
        } else {
            self.misses.inc();
        }
    }
}

/// `authgate_document_cache_{hits,misses}_total{step}`, handed to the
/// schema's document cache ([`Metrics::document_cache_counters`]).
#[derive(Clone)]
pub struct DocumentCacheCounters {
    pub parse: HitMiss,
    pub validate: HitMiss,
}

/// The name of the first operation of `query` (for metrics, when the
/// client sent no `operationName`): `query Me { … }` → `Me`. A cheap lexical
/// look, not a parse: comments and whitespace before the keyword are skipped.
pub fn operation_name_of(query: &str) -> Option<&str> {
    let mut rest = query;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == '\u{feff}');
        if rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let rest = ["query", "mutation", "subscription"]
        .iter()
        .find_map(|k| rest.strip_prefix(k))?;
    if !rest.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// `GET /metrics` (for the metrics listener).
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

async fn scrape(State(m): State<Metrics>) -> Response {
    let body = tokio::task::spawn_blocking(move || m.render()).await;
    match body {
        Ok(text) => {
            let mut resp = text.into_response();
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded() {
        let m = Metrics::new().unwrap();
        assert_eq!(m.operation_label(None), "_anonymous");
        assert_eq!(m.operation_label(Some("Login")), "Login");
        assert_eq!(m.operation_label(Some("bad name{}")), "_other");
        for i in 0..MAX_OPERATION_NAMES {
            m.operation_label(Some(&format!("op{i}")));
        }
        assert_eq!(m.operation_label(Some("Login")), "Login");
        assert_eq!(m.operation_label(Some("brandNew")), "_other");
    }

    #[test]
    fn operation_names_from_the_document() {
        assert_eq!(operation_name_of("query Me { me { id } }"), Some("Me"));
        assert_eq!(
            operation_name_of("# hi\n mutation Login($e: String) { x }"),
            Some("Login")
        );
        assert_eq!(operation_name_of("{ me { id } }"), None);
        assert_eq!(operation_name_of("query { me { id } }"), None);
        assert_eq!(operation_name_of("queryX { a }"), None);
    }

    #[test]
    fn renders_counters() {
        let m = Metrics::new().unwrap();
        m.record_request(
            Some("Login"),
            Some(Code::RateLimited),
            Duration::from_millis(3),
        );
        m.record_request(Some("Login"), None, Duration::from_millis(3));
        m.record_upstream("orders", 503, Duration::from_millis(10));
        let text = m.render();
        assert!(
            text.contains(
                r#"authgate_graphql_requests_total{operation="Login",outcome="RATE_LIMITED"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"authgate_graphql_requests_total{operation="Login",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"authgate_upstream_requests_total{source="orders",status="503"} 1"#)
        );
    }
}
