//! What every request passes before the router: its request id, its trace
//! span, the whole-request deadline and the panic guard, as one service.
//!
//! These were four tower layers added with `Router::layer`. Axum boxes each
//! such layer into a route of its own and clones the whole stack for every
//! request, which cost about a quarter of a cached `me` request's
//! instructions. Here the settings sit behind one `Arc`: a request clones a
//! pointer, the router (itself an `Arc`) and the CORS layer, and awaits one
//! future.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use futures::FutureExt;
use http::header::{HeaderName, HeaderValue};
use http::StatusCode;
use tower::Service;
use tower_http::cors::Cors;
use tracing::Instrument;

use super::json_error;

/// The request id of a request (taken from `x-request-id` when sane, else generated).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub(super) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
    .then(|| s.to_owned())
}

/// What the edge needs besides the router, shared by every request.
struct Shared {
    /// `server.request_timeout`
    request_timeout: Duration,
    /// the routes a trace span may name (anything else: by method only)
    routes: [String; 3],
}

/// The router behind the edge: `oneshot` it, or serve it.
#[derive(Clone)]
pub struct Edge {
    inner: Cors<Router>,
    shared: Arc<Shared>,
}

impl Edge {
    pub(super) fn new(inner: Cors<Router>, request_timeout: Duration, graphql_path: &str) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                request_timeout,
                routes: [
                    graphql_path.to_owned(),
                    "/healthz".to_owned(),
                    "/readyz".to_owned(),
                ],
            }),
        }
    }
}

impl Service<Request> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // the request id: the client's when sane, else a fresh one; echoed
        // on the answer whatever happens below
        let id = req
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(sane_request_id)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let id_header = HeaderValue::from_str(&id).ok();
        if let Some(v) = &id_header {
            req.headers_mut().insert(X_REQUEST_ID.clone(), v.clone());
        }
        let span = self.shared.span(&req, &id);
        req.extensions_mut().insert(RequestId(id));
        // the deadline answers 408 while the body is still arriving, 504 after
        let read = Arc::new(AtomicBool::new(http_body::Body::is_end_stream(req.body())));
        let req = req.map(|b| {
            Body::new(Watched {
                inner: b,
                read: read.clone(),
            })
        });
        let started = Instant::now();
        let called = {
            let _entered = span.enter();
            std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req)))
        };
        let limit = self.shared.request_timeout;
        let answer = async move {
            let mut resp = match called {
                Err(payload) => panicked(payload),
                Ok(fut) => {
                    match tokio::time::timeout(limit, AssertUnwindSafe(fut).catch_unwind()).await {
                        Ok(Ok(Ok(resp))) => resp,
                        Ok(Ok(Err(never))) => match never {},
                        Ok(Err(payload)) => panicked(payload),
                        Err(_) => late(read.load(Ordering::Acquire)),
                    }
                }
            };
            if let Some(v) = id_header {
                resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
            }
            finished(&resp, started.elapsed());
            Ok(resp)
        };
        Box::pin(answer.instrument(span))
    }
}

impl Shared {
    /// The request's span; when trace export is on, also the exported
    /// server span ("POST /graphql"), joined to the caller's trace (W3C
    /// traceparent) when it sent one.
    fn span(&self, req: &Request, id: &str) -> tracing::Span {
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
            let route = self.routes.iter().find(|r| r.as_str() == req.uri().path());
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
    }
}

/// Runs inside the request's span: the answer's status on the exported
/// span, and the debug line every request ends with.
fn finished(resp: &Response, latency: Duration) {
    let status = resp.status();
    let span = tracing::Span::current();
    crate::telemetry::set_span_attribute(
        &span,
        "http.response.status_code",
        i64::from(status.as_u16()),
    );
    if status.is_server_error() && crate::telemetry::otel_enabled() {
        span.record("otel.status_code", "ERROR");
    }
    tracing::debug!(
        latency_ms = latency.as_secs_f64() * 1000.0,
        status = status.as_u16(),
        "finished processing request"
    );
}

/// A bug panicked while serving the request: the client gets the standard
/// internal error (nothing internal), the connection and the process live on.
fn panicked(_payload: Box<dyn Any + Send + 'static>) -> Response {
    // The payload is not logged: a panic message may quote anything the code
    // held (the panic hook has already written it, with its location, to stderr).
    tracing::error!("a request handler panicked; answered 500");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::error::Code::InternalServerError,
        "internal error",
    )
}

/// The whole request (its body, the guard, execution) is answered within
/// `server.request_timeout`: a client still sending its body then gets 408
/// and the connection is closed; a request whose body arrived but whose
/// work ran late gets 504.
fn late(body_read: bool) -> Response {
    if body_read {
        return json_error(
            StatusCode::GATEWAY_TIMEOUT,
            crate::error::Code::UpstreamUnavailable,
            "the request took longer than the gateway allows",
        );
    }
    let mut resp = json_error(
        StatusCode::REQUEST_TIMEOUT,
        crate::error::Code::BadRequest,
        "the request body did not arrive in time",
    );
    resp.headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    resp
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
