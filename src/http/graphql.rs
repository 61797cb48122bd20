//! `POST/GET {graphql.path}` per the GraphQL-over-HTTP spec, with the status
//! contract of DESIGN.md (401/503/429 only when no root field produced data).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use serde_json::json;

use super::{AppState, RequestId};
use crate::auth::{Principal, Rejection};
use crate::error::{code_of, is_propagated, set_code, Code};
use crate::graphql::LimitSettings;
use crate::graphql::{RequestContext, RequestMeta};
use crate::secret::Secret;
use crate::strict_json;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// The media type the client gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Media {
    /// `application/graphql-response+json`: request errors are 4xx.
    GraphqlResponse,
    /// legacy `application/json`: request errors are 200.
    Json,
}

impl Media {
    fn content_type(self) -> HeaderValue {
        match self {
            Media::GraphqlResponse => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
            Media::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }
}

/// A request refused before GraphQL execution, answered as a GraphQL error.
fn refuse(status: StatusCode, media: Media, code: Code, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code.as_str()}}]});
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    resp
}

fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let accept = match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        None => return Some(Media::Json),
        Some(a) if a.trim().is_empty() => return Some(Media::Json),
        Some(a) => a,
    };
    let mut json_ok = false;
    for part in accept.split(',') {
        let mut params = part.split(';');
        let mt = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let q_zero = params.any(|p| {
            let p = p.trim();
            p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
        });
        if q_zero {
            continue;
        }
        match mt.as_str() {
            GRAPHQL_RESPONSE_JSON => return Some(Media::GraphqlResponse),
            APPLICATION_JSON | "*/*" | "application/*" => json_ok = true,
            _ => {}
        }
    }
    json_ok.then_some(Media::Json)
}

/// Browsers send these cross-site without a preflight; refuse them unless a
/// header proves a preflight (Apollo Server's CSRF prevention).
fn csrf_refused(state: &AppState, headers: &HeaderMap) -> bool {
    let csrf = &state.server.csrf;
    if !csrf.enabled {
        return false;
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let simple_ct = match ct.as_deref() {
        None => true,
        Some("text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data") => true,
        Some(_) => false,
    };
    if !simple_ct {
        return false;
    }
    let proven = headers.contains_key(header::AUTHORIZATION)
        || csrf
            .required_headers
            .iter()
            .any(|h| headers.get(h.as_str()).is_some_and(|v| !v.is_empty()));
    !proven
}

fn client_ip(state: &AppState, req: &Request) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
    // every line, in order; an unreadable one is an empty hop, which stops the walk
    let xff = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or(""));
    super::client_ip(&state.server.trusted_proxies, peer, xff)
}

/// The bearer token: exactly one `Authorization` header, scheme
/// case-insensitive. `Err` for a malformed or duplicated header.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let s = first.to_str().map_err(|_| ())?;
    let (scheme, token) = s.trim().split_once(' ').ok_or(())?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(());
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(());
    }
    Ok(Some(token.to_owned()))
}

fn cookies(headers: &HeaderMap) -> Vec<(String, Secret)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            let (n, v) = c.trim().split_once('=')?;
            Some((n.trim().to_owned(), Secret::new(v.trim())))
        })
        .collect()
}

/// The handler for both methods.
pub async fn graphql(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let is_get = req.method() == Method::GET;
    if is_get
        && state.graphql.graphiql
        && req.uri().query().is_none_or(|q| !q.contains("query="))
        && accepts_html(req.headers())
    {
        return super::graphiql(&state.graphql.path).into_response();
    }
    let Some(media) = negotiate(req.headers()) else {
        return refuse(
            StatusCode::NOT_ACCEPTABLE,
            Media::Json,
            Code::BadRequest,
            "accept application/graphql-response+json or application/json",
        );
    };
    if csrf_refused(&state, req.headers()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            media,
            Code::BadRequest,
            "this request could be a cross-site request forgery: send `Content-Type: application/json`, or a non-empty `apollo-require-preflight` header",
        );
    }
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let ip = client_ip(&state, &req);
    let headers = req.headers().clone();

    let batch = if is_get {
        match from_query_string(req.uri().query().unwrap_or(""), &state.graphql.limits) {
            Ok(r) => r,
            Err(resp) => return resp.into_response_with(media),
        }
    } else {
        match from_body(&state, req).await {
            Ok(b) => b,
            Err(resp) => return resp.into_response_with(media),
        }
    };

    let (principal, token) = match bearer(&headers) {
        // no header: the access-token cookie, when configured
        Ok(None) => {
            let name = &state.access_token_cookie;
            let token = if name.is_empty() {
                None
            } else {
                cookies(&headers)
                    .into_iter()
                    .find(|(n, v)| n == name && !v.is_empty())
                    .map(|(_, v)| v.expose().to_owned())
            };
            (None, token)
        }
        Ok(t) => (None, t),
        Err(()) => (Some(Principal::rejected(Rejection::Invalid)), None),
    };
    let principal = match (principal, &token) {
        (Some(p), _) => p,
        (None, Some(t)) => state.authenticator.authenticate(t).await,
        (None, None) => Principal::anonymous(),
    };
    // fleet: auth metrics and the whole-request limit
    if let Some(m) = &state.metrics {
        m.record_principal(&principal);
    }
    if let Some(limiter) = &state.limiter {
        let sub = principal.user().map(|u| u.subject.as_str());
        if let Err(e) = limiter.check_request(ip, sub).await {
            return refuse_api_error(media, &e);
        }
    }
    let rc = RequestContext {
        principal,
        meta: RequestMeta {
            request_id,
            client_ip: ip,
            bearer: token.map(Secret::new),
            cookies: cookies(&headers),
            deadline: Instant::now() + state.server.request_timeout,
        },
    };
    execute(&state, batch, media, rc).await
}

/// The whole request refused by our limiter (429 + `Retry-After`) or
/// because the limiter could not count (503).
fn refuse_api_error(media: Media, e: &crate::error::ApiError) -> Response {
    let err: async_graphql::Error = e.clone().into();
    let body = json!({"errors": [{"message": err.message, "extensions": err.extensions}]});
    let status = match e.code() {
        Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, media.content_type());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = body["errors"][0]["extensions"]["retryAfter"].as_u64() {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The largest `retryAfter` among a response's errors.
fn retry_after(r: &async_graphql::Response) -> Option<u64> {
    r.errors
        .iter()
        .filter_map(|e| match e.extensions.as_ref()?.get("retryAfter")? {
            async_graphql::Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .max()
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// A refusal whose media type is decided later.
struct Refusal {
    status: StatusCode,
    code: Code,
    message: String,
    allow_post_only: bool,
}

impl Refusal {
    fn bad(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code: Code::BadRequest,
            message: message.into(),
            allow_post_only: false,
        }
    }

    fn into_response_with(self, media: Media) -> Response {
        let mut r = refuse(self.status, media, self.code, &self.message);
        if self.allow_post_only {
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        r
    }
}

enum Batch {
    Single(Box<async_graphql::Request>),
    Many(Vec<async_graphql::Request>),
}

/// A JSON error of a request, said plainly: our own refusals (duplicate
/// key, nesting) are not syntax errors.
fn json_refusal(what: &str, e: &serde_json::Error) -> Refusal {
    match e.classify() {
        serde_json::error::Category::Data => Refusal::bad(format!("{what} is refused: {e}")),
        _ => Refusal::bad(format!("{what} is not valid JSON: {e}")),
    }
}

fn from_query_string(qs: &str, limits: &LimitSettings) -> Result<Batch, Refusal> {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(qs)
        .map_err(|_| Refusal::bad("the query string is not valid URL encoding"))?;
    // one value per parameter, as in a JSON body: never "first (or last) wins"
    for name in ["query", "operationName", "variables", "extensions"] {
        if params.iter().filter(|(n, _)| n == name).count() > 1 {
            return Err(Refusal::bad(format!(
                "the `{name}` parameter is given more than once"
            )));
        }
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let query = get("query").ok_or_else(|| Refusal::bad("the `query` parameter is missing"))?;
    let mut request = async_graphql::Request::new(query);
    if let Some(op) = get("operationName").filter(|s| !s.is_empty()) {
        request = request.operation_name(op);
    }
    if let Some(vars) = get("variables").filter(|s| !s.is_empty()) {
        let v = strict_json::value(vars, limits.max_nesting)
            .map_err(|e| json_refusal("`variables`", &e))?;
        if !v.is_object() {
            return Err(Refusal::bad("`variables` must be a JSON object"));
        }
        request = request.variables(async_graphql::Variables::from_json(v));
    }
    if let Some(ext) = get("extensions").filter(|s| !s.is_empty()) {
        let v = strict_json::value(ext, limits.max_nesting)
            .map_err(|e| json_refusal("`extensions`", &e))?;
        if !v.is_object() {
            return Err(Refusal::bad("`extensions` must be a JSON object"));
        }
    }
    // A GET must not change anything: refuse mutations before executing.
    // The parser is recursive: only a document within the limits is parsed
    // here; any other is refused, as it is, when the schema runs it.
    let within_limits = crate::graphql::limits::precheck(limits, query).is_ok();
    if let Some(doc) = within_limits
        .then(|| async_graphql::parser::parse_query(query).ok())
        .flatten()
    {
        let op_name = get("operationName").filter(|s| !s.is_empty());
        let ty = doc
            .operations
            .iter()
            .find(|(name, _)| match op_name {
                Some(n) => name.is_some_and(|x| x.as_str() == n),
                None => true,
            })
            .map(|(_, op)| op.node.ty);
        if ty == Some(OperationType::Mutation) {
            return Err(Refusal {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: Code::BadRequest,
                message: "mutations are only accepted with POST".into(),
                allow_post_only: true,
            });
        }
    }
    Ok(Batch::Single(Box::new(request)))
}

async fn from_body(state: &AppState, req: Request) -> Result<Batch, Refusal> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mt = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mt != APPLICATION_JSON {
        return Err(Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: Code::BadRequest,
            message: "send the request as `Content-Type: application/json`".into(),
            allow_post_only: false,
        });
    }
    let charset_ok = ct.split(';').skip(1).all(|p| {
        let p = p.trim().to_ascii_lowercase();
        !p.starts_with("charset=") || p == "charset=utf-8" || p == "charset=\"utf-8\""
    });
    if !charset_ok {
        return Err(Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: Code::BadRequest,
            message: "only the utf-8 charset is supported".into(),
            allow_post_only: false,
        });
    }
    let limit = state.server.body_limit;
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: Code::BadRequest,
            message: format!("the request body is larger than {limit} bytes"),
            allow_post_only: false,
        })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Refusal::bad("the body is not UTF-8"))?;
    let limits = &state.graphql.limits;
    let value =
        strict_json::body(text, limits.max_nesting).map_err(|e| json_refusal("the body", &e))?;
    match value {
        serde_json::Value::Array(items) => {
            if !limits.batching {
                return Err(Refusal::bad("batched requests are disabled"));
            }
            if items.is_empty() || items.len() > limits.max_batch_size {
                return Err(Refusal::bad(format!(
                    "a batch holds 1 to {} requests",
                    limits.max_batch_size
                )));
            }
            items
                .into_iter()
                .map(to_request)
                .collect::<Result<Vec<_>, _>>()
                .map(Batch::Many)
        }
        v => to_request(v).map(|r| Batch::Single(Box::new(r))),
    }
}

fn to_request(v: serde_json::Value) -> Result<async_graphql::Request, Refusal> {
    let serde_json::Value::Object(map) = v else {
        return Err(Refusal::bad("the body must be a JSON object"));
    };
    let query = match map.get("query") {
        Some(serde_json::Value::String(q)) => q.clone(),
        Some(_) => return Err(Refusal::bad("`query` must be a string")),
        None => return Err(Refusal::bad("`query` is missing")),
    };
    let mut request = async_graphql::Request::new(query);
    match map.get("operationName") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(op)) => request = request.operation_name(op.clone()),
        Some(_) => return Err(Refusal::bad("`operationName` must be a string")),
    }
    match map.get("variables") {
        None | Some(serde_json::Value::Null) => {}
        Some(v @ serde_json::Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(v.clone()))
        }
        Some(_) => return Err(Refusal::bad("`variables` must be an object")),
    }
    match map.get("extensions") {
        None | Some(serde_json::Value::Null | serde_json::Value::Object(_)) => {}
        Some(_) => return Err(Refusal::bad("`extensions` must be an object")),
    }
    Ok(request)
}

/// Runs the operation(s) of one HTTP request, within `server.request_timeout`.
async fn execute(
    state: &Arc<AppState>,
    batch: Batch,
    media: Media,
    rc: RequestContext,
) -> Response {
    let timeout = state.server.request_timeout;
    let schema = state.schema.load_full();
    // fleet: the limiter for resolvers, and per-operation metrics
    let run_one = |r: async_graphql::Request| {
        let schema = &schema;
        let rc = rc.clone();
        async move {
            let started = Instant::now();
            let op = r
                .operation_name
                .clone()
                .or_else(|| crate::metrics::operation_name_of(&r.query).map(str::to_owned));
            if let Some(op) = op.as_ref().filter(|_| crate::telemetry::otel_enabled()) {
                // the exported request span names the operation (never the document)
                crate::telemetry::set_span_attribute(
                    &tracing::Span::current(),
                    "graphql.operation.name",
                    op.clone(),
                );
            }
            let r = match &state.limiter {
                Some(l) => r.data(rc).data(l.clone()),
                None => r.data(rc),
            };
            let resp = schema.execute(r).await;
            if let Some(m) = &state.metrics {
                record(m, op.as_deref(), &resp, started);
            }
            resp
        }
    };
    let run = async {
        match batch {
            Batch::Single(r) => {
                let resp = run_one(*r).await;
                Outcome::from_responses(vec![resp], false)
            }
            Batch::Many(rs) => {
                let mut out = Vec::with_capacity(rs.len());
                for r in rs {
                    out.push(run_one(r).await);
                }
                Outcome::from_responses(out, true)
            }
        }
    };
    let outcome = match tokio::time::timeout(timeout, run).await {
        Ok(o) => o,
        Err(_) => {
            return refuse(
                StatusCode::GATEWAY_TIMEOUT,
                media,
                Code::UpstreamUnavailable,
                "the request took longer than the gateway allows",
            )
        }
    };
    let refused = match &rc.principal {
        Principal::Anonymous { rejection } => *rejection,
        Principal::User(_) => None,
    };
    outcome.into_response(media, refused)
}

/// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3): a presented
/// credential that was refused (a bad, expired or revoked token, or a
/// malformed `Authorization` header) gets `error="invalid_token"`; a
/// request without credentials only the realm. The description is fixed
/// text: it never echoes the token.
fn challenge(refused: Option<Rejection>) -> String {
    let Some(why) = refused else {
        return "Bearer realm=\"authgate\"".to_owned();
    };
    let description = match why {
        Rejection::Expired => "the access token expired",
        Rejection::Revoked => "the access token was revoked",
        _ => "the access token is invalid",
    };
    format!(
        "Bearer realm=\"authgate\", error=\"invalid_token\", error_description=\"{description}\""
    )
}

fn record(
    m: &crate::metrics::Metrics,
    op: Option<&str>,
    resp: &async_graphql::Response,
    started: Instant,
) {
    let mut outcome = None;
    for e in &resp.errors {
        let code = code_of(e);
        match code {
            Some(Code::Forbidden) => m.record_auth("forbidden"),
            Some(Code::Unauthenticated) => m.record_auth("unauthenticated"),
            _ => {}
        }
        if outcome.is_none() {
            outcome = Some(code.unwrap_or(Code::InternalServerError));
        }
    }
    m.record_request(op, outcome, started.elapsed());
}

struct Outcome {
    responses: Vec<async_graphql::Response>,
    batched: bool,
}

/// How one response went, for its status code.
#[derive(Default)]
struct Verdict {
    request_error: bool,
    no_data: bool,
    unauthenticated: bool,
    unavailable: bool,
    rate_limited: bool,
}

impl Outcome {
    fn from_responses(mut responses: Vec<async_graphql::Response>, batched: bool) -> Self {
        for r in &mut responses {
            r.errors.retain(|e| !is_propagated(e));
            let request_error = r.data == async_graphql::Value::Null
                && !r.errors.is_empty()
                && r.errors.iter().all(|e| e.path.is_empty());
            if request_error {
                for e in &mut r.errors {
                    if code_of(e).is_none() {
                        set_code(e, Code::GraphqlValidationFailed);
                    }
                }
            }
            // resolver errors without a code are bugs: say nothing internal
            for e in &mut r.errors {
                if !e.path.is_empty() && code_of(e).is_none() {
                    tracing::error!(error = %e.message, path = ?e.path, "resolver failed");
                    e.message = "internal error".into();
                    set_code(e, Code::InternalServerError);
                }
            }
        }
        Outcome { responses, batched }
    }

    fn verdict(r: &async_graphql::Response) -> Verdict {
        let mut v = Verdict {
            request_error: r.data == async_graphql::Value::Null
                && !r.errors.is_empty()
                && r.errors.iter().all(|e| e.path.is_empty()),
            no_data: match &r.data {
                async_graphql::Value::Null => true,
                async_graphql::Value::Object(m) => {
                    m.values().all(|v| *v == async_graphql::Value::Null)
                }
                _ => false,
            },
            ..Default::default()
        };
        for e in &r.errors {
            match code_of(e) {
                Some(Code::Unauthenticated) => v.unauthenticated = true,
                Some(Code::UpstreamUnavailable) => v.unavailable = true,
                Some(Code::RateLimited) => v.rate_limited = true,
                _ => {}
            }
        }
        v
    }

    fn into_response(self, media: Media, refused: Option<Rejection>) -> Response {
        let mut status = StatusCode::OK;
        let mut www_auth = None;
        let mut retry_after_secs = None;
        if !self.batched {
            if let Some(r) = self.responses.first() {
                let v = Self::verdict(r);
                if v.request_error {
                    if media == Media::GraphqlResponse {
                        status = StatusCode::BAD_REQUEST;
                    }
                } else if v.no_data && !r.errors.is_empty() {
                    if v.unauthenticated {
                        status = StatusCode::UNAUTHORIZED;
                        www_auth = Some(challenge(refused));
                    } else if v.rate_limited {
                        status = StatusCode::TOO_MANY_REQUESTS;
                        retry_after_secs = retry_after(r);
                    } else if v.unavailable {
                        status = StatusCode::SERVICE_UNAVAILABLE;
                    }
                }
            }
        }
        let mut http_headers = HeaderMap::new();
        let body = if self.batched {
            let mut parts = Vec::with_capacity(self.responses.len());
            for mut r in self.responses {
                http_headers.extend(std::mem::take(&mut r.http_headers));
                parts.push(r);
            }
            serde_json::to_vec(&parts)
        } else {
            let mut parts = self.responses;
            let mut r = parts.pop().unwrap_or_default();
            http_headers.extend(std::mem::take(&mut r.http_headers));
            if Self::verdict(&r).request_error {
                // before execution there is no `data` entry at all (GraphQL spec)
                serde_json::to_vec(&serde_json::json!({ "errors": r.errors }))
            } else {
                serde_json::to_vec(&r)
            }
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "response could not be encoded");
                return refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    media,
                    Code::InternalServerError,
                    "internal error",
                );
            }
        };
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        for (name, value) in http_headers.iter() {
            h.append(name.clone(), value.clone());
        }
        h.insert(header::CONTENT_TYPE, media.content_type());
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(w) = www_auth.and_then(|w| HeaderValue::from_str(&w).ok()) {
            h.insert(header::WWW_AUTHENTICATE, w);
        }
        if let Some(secs) = retry_after_secs {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&h(&[])), Some(Media::Json));
        assert_eq!(
            negotiate(&h(&[(
                "accept",
                "application/graphql-response+json, application/json;q=0.9"
            )])),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(negotiate(&h(&[("accept", "*/*")])), Some(Media::Json));
        assert_eq!(negotiate(&h(&[("accept", "text/html")])), None);
        assert_eq!(
            negotiate(&h(&[(
                "accept",
                "application/graphql-response+json;q=0, application/json"
            )])),
            Some(Media::Json)
        );
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(&h(&[])), Ok(None));
        assert_eq!(
            bearer(&h(&[("authorization", "bearer abc")])),
            Ok(Some("abc".into()))
        );
        assert_eq!(bearer(&h(&[("authorization", "Basic abc")])), Err(()));
        assert_eq!(bearer(&h(&[("authorization", "Bearer ")])), Err(()));
        assert_eq!(
            bearer(&h(&[
                ("authorization", "Bearer a"),
                ("authorization", "Bearer b")
            ])),
            Err(())
        );
    }
}
