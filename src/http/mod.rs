//! The HTTP surface: `/graphql`, `/healthz`, `/readyz`, and the layers every
//! request passes (request id, trace span, deadline, panic guard, CORS).

mod client_ip;
mod graphql;
pub(crate) mod serve;
mod settings;

pub use client_ip::client_ip;
pub use settings::{CorsSettings, CsrfSettings, ServerSettings};

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::auth::Authenticate;
use crate::graphql::{BuiltSchema, GraphqlSettings};

/// One readiness check of `/readyz`.
#[async_trait]
pub trait ReadinessCheck: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// `(ready, details)`; details are safe to show (no secrets).
    async fn check(&self) -> (bool, serde_json::Value);
}

/// What handlers share.
pub struct AppState {
    /// `[server]`: limits, CORS, CSRF, trusted proxies.
    pub server: ServerSettings,
    /// `[graphql]` as at start-up: the path, GraphiQL, the request limits
    /// (reloads change the schema, not these).
    pub graphql: GraphqlSettings,
    /// The cookie an access token is read from when no `Authorization`
    /// header is sent (`session.access_token_cookie`; empty: none).
    pub access_token_cookie: String,
    /// Swapped whole on reload; a request keeps the schema it started with.
    pub schema: Arc<ArcSwap<BuiltSchema>>,
    pub authenticator: Arc<dyn Authenticate>,
    pub readiness: Vec<Arc<dyn ReadinessCheck>>,
    /// Abuse limits (none: nothing is limited).
    pub limiter: Option<Arc<crate::limits::Limiter>>,
    /// Request, auth and rate-limit metrics (none: not recorded).
    pub metrics: Option<crate::metrics::Metrics>,
}

/// The request id of a request (taken from `x-request-id` when sane, else generated).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
    .then(|| s.to_owned())
}

async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(X_REQUEST_ID.clone(), v.clone());
        req.extensions_mut().insert(RequestId(id.clone()));
        let mut resp = next.run(req).await;
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
        resp
    } else {
        next.run(req).await
    }
}

/// The router, for `Application` and for in-process tests.
pub fn router(state: Arc<AppState>) -> Router {
    let s = &state.server;
    let path = state.graphql.path.clone();
    let routes = [path.clone(), "/healthz".to_owned(), "/readyz".to_owned()];
    let trace = TraceLayer::new_for_http()
        .make_span_with(move |req: &Request| {
            let id = req
                .extensions()
                .get::<RequestId>()
                .map(|r| r.0.as_str())
                .unwrap_or("");
            let span = tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.uri().path(),
                request_id = %id,
                otel.name = tracing::field::Empty,
                otel.kind = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            if crate::telemetry::otel_enabled() {
                // the exported span: "POST /graphql", a server span, joined
                // to the caller's trace (W3C traceparent) when it sent one
                let route = routes.iter().find(|r| r.as_str() == req.uri().path());
                let name = match route {
                    Some(r) => format!("{} {r}", req.method()),
                    None => req.method().to_string(),
                };
                span.record("otel.name", name.as_str());
                span.record("otel.kind", "server");
                crate::telemetry::join_trace(&span, req.headers(), id);
                crate::telemetry::set_span_attribute(
                    &span,
                    "http.request.method",
                    req.method().to_string(),
                );
                if let Some(r) = route {
                    crate::telemetry::set_span_attribute(&span, "http.route", r.clone());
                }
            }
            span
        })
        .on_response(|resp: &Response, latency: Duration, span: &tracing::Span| {
            let status = resp.status();
            crate::telemetry::set_span_attribute(
                span,
                "http.response.status_code",
                i64::from(status.as_u16()),
            );
            if status.is_server_error() && crate::telemetry::otel_enabled() {
                span.record("otel.status_code", "ERROR");
            }
            tower_http::trace::OnResponse::on_response(
                tower_http::trace::DefaultOnResponse::default(),
                resp,
                latency,
                span,
            );
        })
        .on_request(())
        .on_failure(());
    Router::new()
        .route(&path, get(graphql::graphql).post(graphql::graphql))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .layer(cors(s))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(s.request_timeout, deadline))
        .layer(trace)
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// A bug panicked while serving the request: the client gets the standard
/// internal error (nothing internal), the connection and the process live on.
fn panicked(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The payload is not logged: a panic message may quote anything the code
    // held (the panic hook has already written it, with its location, to stderr).
    tracing::error!("a request handler panicked; answered 500");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::error::Code::InternalServerError,
        "internal error",
    )
}

/// A GraphQL-shaped error answered outside GraphQL execution.
fn json_error(status: StatusCode, code: crate::error::Code, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code.as_str()}}]});
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// The whole request (its body, the guard, execution) is answered within
/// `server.request_timeout`: a client still sending its body then gets 408
/// and the connection is closed; a request whose body arrived but whose
/// work ran late gets 504.
async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let read = Arc::new(AtomicBool::new(http_body::Body::is_end_stream(req.body())));
    let req = req.map(|b| {
        Body::new(Watched {
            inner: b,
            read: read.clone(),
        })
    });
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) if read.load(Ordering::Acquire) => json_error(
            StatusCode::GATEWAY_TIMEOUT,
            crate::error::Code::UpstreamUnavailable,
            "the request took longer than the gateway allows",
        ),
        Err(_) => {
            let mut resp = json_error(
                StatusCode::REQUEST_TIMEOUT,
                crate::error::Code::BadRequest,
                "the request body did not arrive in time",
            );
            resp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    }
}

/// A request body that records when it has been read to its end.
struct Watched {
    inner: Body,
    read: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let r = http_body::Body::poll_frame(Pin::new(&mut self.inner), cx);
        if matches!(r, Poll::Ready(None)) || http_body::Body::is_end_stream(&self.inner) {
            self.read.store(true, Ordering::Release);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

fn cors(s: &ServerSettings) -> CorsLayer {
    let c = &s.cors;
    let origins: Vec<HeaderValue> = c
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let mut headers: Vec<HeaderName> = vec![
        http::header::CONTENT_TYPE,
        http::header::AUTHORIZATION,
        http::header::ACCEPT,
        X_REQUEST_ID.clone(),
    ];
    headers.extend(
        s.csrf
            .required_headers
            .iter()
            .chain(&c.allowed_headers)
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
    );
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(headers)
        .expose_headers([X_REQUEST_ID.clone()])
        .allow_credentials(c.allow_credentials)
        .max_age(c.max_age)
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "not found", "hint": "the GraphQL endpoint is /graphql"})),
    )
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut ready = true;
    let mut checks = serde_json::Map::new();
    for c in &state.readiness {
        let (ok, details) = match tokio::time::timeout(Duration::from_secs(2), c.check()).await {
            Ok(r) => r,
            Err(_) => (false, json!({"error": "check timed out"})),
        };
        ready &= ok;
        checks.insert(
            c.name().to_owned(),
            json!({"ready": ok, "details": details}),
        );
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"status": if ready {"ready"} else {"not ready"}, "checks": checks})),
    )
}

/// GraphiQL for browsers (assets from a CDN: it needs a network to render).
fn graphiql(endpoint: &str) -> Html<String> {
    let endpoint = serde_json::to_string(endpoint).unwrap_or_else(|_| "\"/graphql\"".into());
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>authgate — GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css"></head>
<body style="margin:0"><div id="graphiql" style="height:100vh">Loading GraphiQL… (it needs network access to its CDN; use curl or Postman offline)</div>
<script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
<script crossorigin src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
<script>
const fetcher = GraphiQL.createFetcher({{ url: {endpoint}, headers: {{ "apollo-require-preflight": "true" }} }});
ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, {{ fetcher }}));
</script></body></html>"#
    ))
}
