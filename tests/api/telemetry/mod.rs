//! OpenTelemetry export through the real binary (the global subscriber can be
//! installed once per process): a collector double receives OTLP/HTTP
//! protobuf on 127.0.0.1:0, the gateway runs with its endpoint set.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

const REQUEST_ID: &str = "otel-test-req-42";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const PASSWORD: &str = "Admin-Passw0rd!";
const ORDERS_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const ORDERS_TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// What the collector double received: every span, with its service name.
#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
    requests: Arc<Mutex<usize>>,
}

impl Received {
    fn spans(&self) -> Vec<(String, Span)> {
        self.spans.lock().unwrap().clone()
    }
}

async fn traces(State(rx): State<Received>, body: Bytes) -> impl axum::response::IntoResponse {
    let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export request");
    *rx.requests.lock().unwrap() += 1;
    let mut spans = rx.spans.lock().unwrap();
    for rs in req.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                spans.push((service.clone(), span));
            }
        }
    }
    (
        [("content-type", "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// The example orders service, recording the `traceparent` of each call.
async fn orders_service() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = authgate::datasources::example::router().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let record = record.clone();
            async move {
                if let Some(tp) = req.headers().get("traceparent") {
                    record
                        .lock()
                        .unwrap()
                        .push(tp.to_str().unwrap_or_default().to_owned());
                }
                next.run(req).await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

async fn collector() -> (SocketAddr, Received) {
    let rx = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

use crate::helpers::authgate_binary as authgate;

/// Serves on ports 0 (no example upstream) with `envs`; returns the child
/// and the address its start-up log names.
async fn serve(envs: &[(&str, String)]) -> (Child, String) {
    let mut cmd = authgate();
    cmd.env("AUTHGATE__SERVER__LISTEN", "127.0.0.1:0")
        .env("AUTHGATE__IDENTITY__EMULATOR_LISTEN", "127.0.0.1:0")
        .env("AUTHGATE__EMULATOR__EPHEMERAL", "true")
        .env("AUTHGATE__DEVELOPMENT__EXAMPLE_UPSTREAM", "")
        .env("AUTHGATE__TELEMETRY__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = None;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(a) = v["address"].as_str() {
                if v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("serving GraphQL"))
                {
                    addr = Some(a.to_owned());
                    break;
                }
            }
        }
        // keep draining so the child never blocks on a full pipe
        std::thread::spawn(move || for _ in lines {});
        addr
    })
    .await
    .unwrap()
    .expect("the start-up log names the bound address");
    (child, addr)
}

/// SIGTERM, then waits for the exit (graceful shutdown flushes the exporter).
async fn stop(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap()
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn attr_str(span: &Span, key: &str) -> Option<String> {
    match attr(span, key)? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn all_strings(span: &Span) -> Vec<String> {
    let mut out = vec![span.name.clone()];
    for kv in &span.attributes {
        if let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            out.push(format!("{v:?}"));
        }
    }
    for ev in &span.events {
        out.push(ev.name.clone());
        for kv in &ev.attributes {
            out.push(format!("{:?}", kv.value));
        }
    }
    out
}

async fn graphql(
    addr: &str,
    body: serde_json::Value,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn spans_are_exported_with_the_request_id_in_the_callers_trace() {
    let (collector_addr, rx) = collector().await;
    let (orders_addr, traceparents) = orders_service().await;
    let (child, addr) = serve(&[
        (
            "AUTHGATE__DATASOURCES__ORDERS__URL",
            format!("http://{orders_addr}"),
        ),
        (
            "AUTHGATE__TELEMETRY__OTLP__ENDPOINT",
            format!("http://{collector_addr}"),
        ),
        ("AUTHGATE__TELEMETRY__OTLP__SERVICE_NAME", "gw-test".into()),
        (
            "AUTHGATE__TELEMETRY__OTLP__HEADERS__X_API_KEY",
            "collector-key".into(),
        ),
    ])
    .await;

    // a login: the Auth0 (emulator) call is a child span of the request
    let login = serde_json::json!({
        "query": "mutation SignIn($i: LoginInput!) { login(input: $i) { accessToken } }",
        "operationName": "SignIn",
        "variables": {"i": {"email": "admin@example.com", "password": PASSWORD}},
    });
    let (status, body) = graphql(
        &addr,
        login,
        &[("x-request-id", REQUEST_ID), ("traceparent", TRACEPARENT)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("a token: {body}"))
        .to_owned();

    // an authenticated request calling a datasource, in another trace
    let bearer = format!("Bearer {token}");
    let (status, body) = graphql(
        &addr,
        serde_json::json!({"query": "query MyOrders { orders { id } }"}),
        &[
            ("authorization", &bearer),
            ("x-request-id", "otel-test-orders"),
            ("traceparent", ORDERS_TRACEPARENT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["orders"][0]["id"].is_string(), "{body}");

    // graceful shutdown flushes what is queued (the batch delay is 5 s)
    let started = Instant::now();
    assert!(stop(child).await.success());
    assert!(started.elapsed() < Duration::from_secs(15));

    let spans = rx.spans();
    assert!(!spans.is_empty(), "no span was exported");
    assert!(spans.iter().all(|(svc, _)| svc == "gw-test"));
    let trace_id = hex::decode(TRACE_ID).unwrap();
    let in_trace: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.trace_id == trace_id)
        .collect();
    assert!(
        in_trace.len() >= 2,
        "the request span and its children join the caller's trace: {:?}",
        spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
    );
    for span in &in_trace {
        assert_eq!(
            attr_str(span, "request_id").as_deref(),
            Some(REQUEST_ID),
            "span {} lacks the request id",
            span.name
        );
        let ids = span
            .attributes
            .iter()
            .filter(|kv| kv.key == "request_id")
            .count();
        assert_eq!(ids, 1, "span {} has the request id once", span.name);
    }
    let root = in_trace
        .iter()
        .find(|s| s.name == "POST /graphql")
        .expect("the request span is named after the route");
    assert_eq!(
        root.parent_span_id,
        hex::decode("00f067aa0ba902b7").unwrap(),
        "the request span's parent is the caller's span"
    );
    assert_eq!(root.kind, 2, "a server span");
    assert_eq!(
        attr(root, "http.response.status_code"),
        Some(&Value::IntValue(200))
    );
    assert_eq!(
        attr_str(root, "graphql.operation.name").as_deref(),
        Some("SignIn")
    );
    assert!(
        in_trace.iter().any(|s| s.name.starts_with("auth0.")),
        "the Auth0 call is a child span: {:?}",
        in_trace.iter().map(|s| &s.name).collect::<Vec<_>>()
    );

    // the other request: its own trace and request id, on every span,
    // including the datasource call (whose span has no such field itself)
    let orders_trace = hex::decode(ORDERS_TRACE_ID).unwrap();
    let orders: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.trace_id == orders_trace)
        .collect();
    let send = orders.iter().find(|s| s.name == "send").unwrap_or_else(|| {
        panic!(
            "the datasource call is a span: {:?}",
            orders.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    });
    for span in &orders {
        assert_eq!(
            attr_str(span, "request_id").as_deref(),
            Some("otel-test-orders"),
            "span {} lacks the request id",
            span.name
        );
    }
    // the orders service was told to join the trace, under the call's span
    let sent = traceparents.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![format!(
            "00-{ORDERS_TRACE_ID}-{}-01",
            hex::encode(&send.span_id)
        )]
    );

    // no secret in any exported string
    for (_, span) in &spans {
        for s in all_strings(span) {
            assert!(!s.contains(&token), "the token leaked in {}", span.name);
            assert!(
                !s.contains(PASSWORD),
                "the password leaked in {}",
                span.name
            );
            assert!(!s.contains("collector-key"), "a header leaked");
            assert!(!s.contains("login(input"), "the document leaked");
        }
    }
}

#[tokio::test]
async fn a_dead_collector_neither_fails_nor_slows_requests() {
    // a port that was bound and released: connections are refused
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (child, addr) = serve(&[
        (
            "AUTHGATE__TELEMETRY__OTLP__ENDPOINT",
            format!("http://{dead}"),
        ),
        ("AUTHGATE__TELEMETRY__OTLP__TIMEOUT", "2s".into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "10".into()),
    ])
    .await;
    let started = Instant::now();
    for i in 0..20 {
        let id = format!("dead-{i}");
        let (status, body) = graphql(
            &addr,
            serde_json::json!({"query": "{ __typename }"}),
            &[("x-request-id", &id), ("traceparent", TRACEPARENT)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["__typename"], "Query");
    }
    // generous for a busy 2-core machine; a blocking export would take
    // at least the connection attempts of every flush
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let stopping = Instant::now();
    assert!(stop(child).await.success());
    // the flush gives up after the export timeout
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );
}

#[test]
fn a_bad_endpoint_fails_check_config_naming_the_key() {
    let out = authgate()
        .env("AUTHGATE__TELEMETRY__OTLP__ENDPOINT", "collector:4318")
        .env("AUTHGATE__TELEMETRY__OTLP__SAMPLE_RATIO", "2")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("telemetry.otlp.endpoint")
            && lines[0].contains("AUTHGATE__TELEMETRY__OTLP__ENDPOINT"),
        "{err}"
    );
    assert!(lines[1].contains("telemetry.otlp.sample_ratio"), "{err}");

    let out = authgate()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");

    let out = authgate()
        .env("AUTHGATE__TELEMETRY__OTLP__PROTOCOL", "grpc")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("telemetry.otlp.protocol") && err.contains("http/protobuf"),
        "{err}"
    );

    // a header value is a secret: check-config prints it redacted
    let out = authgate()
        .env(
            "AUTHGATE__TELEMETRY__OTLP__ENDPOINT",
            "http://127.0.0.1:4318",
        )
        .env(
            "AUTHGATE__TELEMETRY__OTLP__HEADERS__AUTHORIZATION",
            "Basic c2VjcmV0",
        )
        .arg("check-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("[telemetry.otlp"), "{printed}");
    assert!(!printed.contains("c2VjcmV0"), "{printed}");
}
