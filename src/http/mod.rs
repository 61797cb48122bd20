//! The HTTP surface: `/graphql`, `/healthz`, `/readyz`, and the layers every
//! request passes (request id, trace span, deadline, panic guard, CORS).

mod client_ip;
mod edge;
mod graphql;
pub(crate) mod serve;
mod settings;

pub use client_ip::client_ip;
pub use edge::{Edge, RequestId};
pub use settings::{CorsSettings, CsrfSettings, ServerSettings};

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};
use serde_json::json;
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::Authenticate;
use crate::graphql::{BuiltSchema, GraphqlSettings};
use edge::X_REQUEST_ID;

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

/// The router behind its edge (request id, trace span, deadline, panic
/// guard) and CORS, for `Application` and for in-process tests.
pub fn router(state: Arc<AppState>) -> Edge {
    let cors = cors(&state.server);
    let timeout = state.server.request_timeout;
    let path = state.graphql.path.clone();
    let routes = Router::new()
        .route(&path, get(graphql::graphql).post(graphql::graphql))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(state);
    Edge::new(cors.layer(routes), timeout, &path)
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
