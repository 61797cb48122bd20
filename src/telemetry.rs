//! Logging: compact locally, JSON in production; `RUST_LOG` wins when set.
//!
//! Tracing: when an OTLP endpoint is configured (`telemetry.otlp.endpoint`,
//! else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`),
//! every `tracing` span the log filter lets through is also exported as an
//! OpenTelemetry span over OTLP/HTTP (protobuf), in batches from a bounded
//! queue, so a slow or dead collector never slows a request. Every span of a
//! request carries its `request_id`; an incoming W3C `traceparent` makes the
//! request join the caller's trace. See docs/telemetry.md.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

use crate::secret::Secret;

/// The standard variable naming the collector's base URL (`/v1/traces` is appended).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard variable naming the traces URL itself (used as given).
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// The attribute every span of a request carries.
pub const REQUEST_ID_ATTRIBUTE: &str = "request_id";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
/// `[telemetry]`: logs and trace export.
pub struct TelemetrySettings {
    /// `compact` (human) or `json` (one object per line).
    pub format: LogFormat,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set. It also decides
    /// which spans are exported over OTLP.
    pub filter: String,
    /// OpenTelemetry trace export over OTLP/HTTP (off unless an endpoint is set).
    #[serde(default)]
    pub otlp: OtlpSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Compact,
    Json,
}

impl TelemetrySettings {
    /// The problems with these settings, as `(key, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        if let Err(e) = EnvFilter::try_new(&self.filter) {
            issues.push((
                "telemetry.filter".to_owned(),
                format!("not a valid log filter: {e}"),
            ));
        }
        issues.extend(self.otlp.validate());
        issues
    }
}

/// `[telemetry.otlp]`: OpenTelemetry trace export.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpSettings {
    /// The collector's OTLP/HTTP base URL (`http://otel-collector:4318`);
    /// `/v1/traces` is appended unless the path already ends with it. Empty
    /// (the default): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, then
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, else no export.
    pub endpoint: String,
    /// Only `http/protobuf` (gRPC is not built in).
    pub protocol: OtlpProtocol,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Extra headers on every export request (e.g. an API key). Values are
    /// secrets: they never print.
    pub headers: BTreeMap<String, Secret>,
    /// Share of new traces recorded (0.0–1.0). A caller's `traceparent`
    /// decides for the traces it starts (parent-based sampling).
    pub sample_ratio: f64,
    /// Longest time one export request may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Spans waiting for export at most; beyond it new spans are dropped
    /// (counted, and logged once by the exporter) instead of slowing requests.
    pub max_queue_size: usize,
}

impl Default for OtlpSettings {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            protocol: OtlpProtocol::HttpProtobuf,
            service_name: "authgate".into(),
            headers: BTreeMap::new(),
            sample_ratio: 1.0,
            timeout: Duration::from_secs(10),
            max_queue_size: 2048,
        }
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum OtlpProtocol {
    /// OTLP over HTTP, protobuf bodies (port 4318 on a collector).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl OtlpSettings {
    /// The problems with these settings, as `(key, message)`; never echoes a header value.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        let key = |k: &str| format!("telemetry.otlp.{k}");
        if !self.endpoint.is_empty() {
            if let Err(m) = traces_url(&self.endpoint, true) {
                issues.push((key("endpoint"), m));
            }
        }
        if self.service_name.trim().is_empty() {
            issues.push((key("service_name"), "must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            issues.push((
                key("sample_ratio"),
                format!("must be between 0.0 and 1.0 (got {})", self.sample_ratio),
            ));
        }
        if self.timeout.is_zero() {
            issues.push((key("timeout"), "must be greater than zero".into()));
        }
        if self.max_queue_size == 0 {
            issues.push((key("max_queue_size"), "must be greater than zero".into()));
        }
        for (name, value) in &self.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                issues.push((
                    key(&format!("headers.{name}")),
                    "is not a valid header name".into(),
                ));
            } else if http::HeaderValue::from_str(value.expose()).is_err() {
                issues.push((
                    key(&format!("headers.{name}")),
                    "the value is not a valid header value (it is not shown)".into(),
                ));
            }
        }
        issues
    }

    /// Where spans go: the configured endpoint, else the standard variables
    /// (read through `env`), else `None` (export off).
    pub fn resolve_endpoint(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<url::Url>, TelemetryError> {
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let (origin, raw, append) = if !self.endpoint.is_empty() {
            (
                "telemetry.otlp.endpoint".to_owned(),
                self.endpoint.clone(),
                true,
            )
        } else if let Some(v) = non_empty(env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)) {
            (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.to_owned(), v, false)
        } else if let Some(v) = non_empty(env(OTEL_EXPORTER_OTLP_ENDPOINT)) {
            (OTEL_EXPORTER_OTLP_ENDPOINT.to_owned(), v, true)
        } else {
            return Ok(None);
        };
        traces_url(raw.trim(), append)
            .map(Some)
            .map_err(|message| TelemetryError::Endpoint { origin, message })
    }
}

/// `base` checked and turned into the traces URL (`/v1/traces` appended when asked).
fn traces_url(base: &str, append: bool) -> Result<url::Url, String> {
    let mut url = url::Url::parse(base)
        .map_err(|e| format!("`{base}` is not a URL ({e}); expected e.g. http://localhost:4318"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "`{}` must be an http:// or https:// URL with a host, e.g. http://localhost:4318",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; put them in telemetry.otlp.headers".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment".into());
    }
    if append && !url.path().trim_end_matches('/').ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(url)
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The endpoint (from the settings or an `OTEL_…` variable) is unusable.
    #[error("config error: {origin}: {message}")]
    Endpoint { origin: String, message: String },
    /// The OTLP exporter could not be built.
    #[error("the OTLP trace exporter could not be built: {0}")]
    Exporter(String),
    /// Export needs a Tokio runtime to send from.
    #[error("OTLP export must be started inside the Tokio runtime")]
    NoRuntime,
}

/// Keeps the exporter alive; [`TelemetryGuard::shutdown`] flushes what is queued.
#[must_use = "dropping the guard does not flush queued spans; call shutdown()"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    timeout: Duration,
}

impl TelemetryGuard {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the queued spans (bounded by the export timeout) and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let timeout = self.timeout + Duration::from_secs(1);
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout)).await;
        match done {
            Ok(Ok(())) => tracing::debug!("trace export flushed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "trace export did not flush"),
            Err(e) => tracing::warn!(error = %e, "trace export did not flush"),
        }
    }
}

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether OpenTelemetry export is on (set once by [`init`]).
pub fn otel_enabled() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

type Base = tracing_subscriber::layer::Layered<EnvFilter, Registry>;

/// Installs the global subscriber (once; later calls install nothing) and,
/// when an endpoint is set, the OTLP exporter. Call it inside the Tokio
/// runtime; keep the guard and shut it down after serving.
pub fn init(settings: &TelemetrySettings) -> Result<TelemetryGuard, TelemetryError> {
    let endpoint = settings.otlp.resolve_endpoint(|k| std::env::var(k).ok())?;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let mut layers: Vec<Box<dyn Layer<Base> + Send + Sync>> = Vec::new();
    layers.push(match settings.format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Compact => fmt::layer().compact().with_target(false).boxed(),
    });
    let mut guard = TelemetryGuard::default();
    if let Some(url) = endpoint {
        let provider = provider(&settings.otlp, &url)?;
        let tracer = provider.tracer("authgate");
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(filter_fn(|meta| !is_exporter_internal(meta.target())))
                .boxed(),
        );
        guard = TelemetryGuard {
            provider: Some(provider),
            timeout: settings.otlp.timeout,
        };
    }
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
        .is_ok();
    if !installed {
        // a subscriber was already installed (tests, a second call): the
        // exporter would receive nothing
        return Ok(TelemetryGuard::default());
    }
    if guard.exporting() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        EXPORTING.store(true, Ordering::Relaxed);
        tracing::info!(
            service_name = %settings.otlp.service_name,
            sample_ratio = settings.otlp.sample_ratio,
            "exporting traces over OTLP/HTTP"
        );
    }
    Ok(guard)
}

/// The exporter's own machinery: never traced (it would trace its own exports).
fn is_exporter_internal(target: &str) -> bool {
    ["opentelemetry", "hyper", "h2", "reqwest", "tower::buffer"]
        .iter()
        .any(|p| target.starts_with(p))
}

fn provider(settings: &OtlpSettings, url: &url::Url) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| TelemetryError::NoRuntime)?;
    crate::crypto::install();
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let headers = settings
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_owned()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url.as_str())
        .with_timeout(settings.timeout)
        .with_headers(headers)
        .with_http_client(TokioHttpClient { client, runtime })
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let batch = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(settings.max_queue_size)
                .with_max_export_batch_size(settings.max_queue_size.min(512))
                .build(),
        )
        .build();
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sample_ratio,
        ))))
        .with_resource(resource)
        .with_span_processor(RequestIdProcessor { inner: batch })
        .build())
}

/// Sends export requests with the gateway's async reqwest client on the
/// Tokio runtime (the batch processor exports from its own thread, where
/// no runtime is entered).
#[derive(Debug)]
struct TokioHttpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for TokioHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        let task = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut answer = http::Response::builder().status(response.status());
            for (k, v) in response.headers() {
                answer = answer.header(k, v);
            }
            let body = response.bytes().await?;
            Ok::<_, opentelemetry_http::HttpError>(answer.body(body)?)
        });
        task.await?
    }
}

/// The request id, carried in the OpenTelemetry context of a request's span
/// and so inherited by every span started under it.
#[derive(Debug, Clone)]
struct RequestIdValue(String);

/// Stamps `request_id` on every span started under a request span, then
/// hands finished spans to the batch exporter (`inner`).
#[derive(Debug)]
struct RequestIdProcessor<P> {
    inner: P,
}

impl<P: SpanProcessor> SpanProcessor for RequestIdProcessor<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        // the request span itself has the attribute from its own field; its
        // parent, when any, is the caller's (remote) span
        if cx.has_active_span() && !cx.span().span_context().is_remote() {
            if let Some(RequestIdValue(id)) = cx.get::<RequestIdValue>() {
                span.set_attribute(KeyValue::new(REQUEST_ID_ATTRIBUTE, id.clone()));
            }
        }
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        // spans that name the request id in a field of their own have it twice
        let mut seen = false;
        span.attributes.retain(|kv| {
            if kv.key.as_str() != REQUEST_ID_ATTRIBUTE {
                return true;
            }
            !std::mem::replace(&mut seen, true)
        });
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Makes `span` (a request's root span, not yet entered) join the caller's
/// trace when `headers` carry a valid W3C `traceparent`, and hands the
/// request id down to every span under it. A no-op when export is off.
pub fn join_trace(span: &tracing::Span, headers: &http::HeaderMap, request_id: &str) {
    if !otel_enabled() {
        return;
    }
    let parent = TraceContextPropagator::new()
        .extract_with_context(
            &Context::new(),
            &opentelemetry_http::HeaderExtractor(headers),
        )
        .with_value(RequestIdValue(request_id.to_owned()));
    let _ = span.set_parent(parent);
}

/// Sets an attribute on the exported span of `span` (nothing when export is off).
pub fn set_span_attribute(
    span: &tracing::Span,
    key: &'static str,
    value: impl Into<opentelemetry::Value>,
) {
    if otel_enabled() {
        span.set_attribute(key, value);
    }
}

/// Adds the current span's `traceparent` to an outgoing request's headers,
/// so the upstream joins the trace (nothing when export is off).
pub fn inject_trace_context(headers: &mut http::HeaderMap) {
    if !otel_enabled() {
        return;
    }
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new()
            .inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn empty_endpoint_and_no_env_is_off() {
        let s = OtlpSettings::default();
        assert!(s.validate().is_empty());
        assert!(s.resolve_endpoint(none).unwrap().is_none());
    }

    #[test]
    fn the_signal_path_is_appended_once() {
        let mut s = OtlpSettings {
            endpoint: "http://collector:4318".into(),
            ..Default::default()
        };
        let u = s.resolve_endpoint(none).unwrap().unwrap();
        assert_eq!(u.as_str(), "http://collector:4318/v1/traces");
        s.endpoint = "https://otlp.example.com/otlp/v1/traces".into();
        let u = s.resolve_endpoint(none).unwrap().unwrap();
        assert_eq!(u.as_str(), "https://otlp.example.com/otlp/v1/traces");
    }

    #[test]
    fn config_wins_over_env_and_traces_env_is_used_as_given() {
        let env = |k: &str| match k {
            OTEL_EXPORTER_OTLP_ENDPOINT => Some("http://generic:4318".to_owned()),
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT => Some("http://traces:4318/custom".to_owned()),
            _ => None,
        };
        let s = OtlpSettings::default();
        assert_eq!(
            s.resolve_endpoint(env).unwrap().unwrap().as_str(),
            "http://traces:4318/custom"
        );
        let generic = |k: &str| (k == OTEL_EXPORTER_OTLP_ENDPOINT).then(|| "http://g:4318".into());
        assert_eq!(
            s.resolve_endpoint(generic).unwrap().unwrap().as_str(),
            "http://g:4318/v1/traces"
        );
        let s = OtlpSettings {
            endpoint: "http://configured:4318".into(),
            ..Default::default()
        };
        assert_eq!(
            s.resolve_endpoint(env).unwrap().unwrap().as_str(),
            "http://configured:4318/v1/traces"
        );
    }

    #[test]
    fn a_bad_env_endpoint_names_the_variable() {
        let env = |k: &str| (k == OTEL_EXPORTER_OTLP_ENDPOINT).then(|| "collector:4318".into());
        let err = OtlpSettings::default()
            .resolve_endpoint(env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(OTEL_EXPORTER_OTLP_ENDPOINT), "{err}");
    }

    #[test]
    fn bad_values_are_named_and_secrets_not_echoed() {
        let mut headers = BTreeMap::new();
        headers.insert("x-api-key".to_owned(), Secret::new("sup3r\nsecret"));
        headers.insert("bad header".to_owned(), Secret::new("v"));
        let s = OtlpSettings {
            endpoint: "ftp://collector".into(),
            sample_ratio: 1.5,
            timeout: Duration::ZERO,
            headers,
            ..Default::default()
        };
        let issues = s.validate();
        let keys: Vec<&str> = issues.iter().map(|(k, _)| k.as_str()).collect();
        for k in [
            "telemetry.otlp.endpoint",
            "telemetry.otlp.sample_ratio",
            "telemetry.otlp.timeout",
            "telemetry.otlp.headers.x-api-key",
            "telemetry.otlp.headers.bad header",
        ] {
            assert!(keys.contains(&k), "{k} missing from {issues:?}");
        }
        assert!(!format!("{issues:?}").contains("sup3r"));
        let creds = OtlpSettings {
            endpoint: "http://user:pw@collector:4318".into(),
            ..Default::default()
        };
        let issues = creds.validate();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(!issues[0].1.contains("pw"), "{issues:?}");
    }
}
