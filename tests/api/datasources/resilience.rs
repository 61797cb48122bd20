//! Error mapping, timeouts, retries, the circuit breaker, authorization first.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{reason, source, Gateway};

/// The gateway with `svc` as given and a healthy-looking `other`.
async fn gateway(
    sdl: &str,
    svc: Vec<(&str, authgate::datasources::DatasourceSettings)>,
) -> Gateway {
    let mut sources = svc;
    if !sources.iter().any(|(n, _)| *n == "other") {
        sources.push(("other", source("http://127.0.0.1:9")));
    }
    super::gateway(sdl, sources).await
}

const SDL: &str = r#"
extend type Query {
  thing(id: ID!): JSON @rest(source: "svc", path: "/things/{args.id}")
  mustThing(id: ID!): JSON! @rest(source: "svc", path: "/things/{args.id}")
  other: JSON @rest(source: "other", path: "/other")
  secret: JSON @rest(source: "svc", path: "/secret") @requiresPermissions(permissions: [["write:orders"]])
}
extend type Mutation {
  makeThing: JSON @rest(source: "svc", method: "POST", path: "/things", body: {a: 1})
}
"#;

async fn answers(up: &MockServer, p: &str, t: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(t)
        .mount(up)
        .await;
}

#[tokio::test]
async fn status_codes_map_to_the_contract_and_siblings_survive() {
    let up = MockServer::start().await;
    answers(
        &up,
        "/things/gone",
        ResponseTemplate::new(404).set_body_json(json!({"message": "no such thing"})),
    )
    .await;
    answers(&up, "/things/401", ResponseTemplate::new(401)).await;
    answers(
        &up,
        "/things/403",
        ResponseTemplate::new(403).set_body_json(json!({"message": "not your thing"})),
    )
    .await;
    answers(
        &up,
        "/things/422",
        ResponseTemplate::new(422).set_body_json(json!({"message": "quantity must be positive"})),
    )
    .await;
    answers(
        &up,
        "/things/400",
        ResponseTemplate::new(400).set_body_string("<html>stack trace at line 3</html>"),
    )
    .await;
    answers(
        &up,
        "/things/500",
        ResponseTemplate::new(500).set_body_string("db password is hunter2"),
    )
    .await;
    answers(
        &up,
        "/things/bad",
        ResponseTemplate::new(200).set_body_string("{not json"),
    )
    .await;
    // nested far past serde_json's recursion limit: refused as a broken
    // answer before any recursive code builds (or drops) a value from it
    answers(
        &up,
        "/things/deep",
        ResponseTemplate::new(200).set_body_string(format!(
            "{}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        )),
    )
    .await;
    let other = MockServer::start().await;
    answers(
        &other,
        "/other",
        ResponseTemplate::new(200).set_body_json(json!("fine")),
    )
    .await;
    let g = gateway(
        SDL,
        vec![("svc", source(&up.uri())), ("other", source(&other.uri()))],
    )
    .await;

    let r = g
        .app
        .gql(r#"{ thing(id: "gone") other }"#, json!({}), None)
        .await;
    assert_eq!(r.body, json!({"data": {"thing": null, "other": "fine"}}));

    for (id, code, message) in [
        ("401", "FORBIDDEN", None),
        ("403", "FORBIDDEN", Some("not your thing")),
        ("422", "BAD_USER_INPUT", Some("quantity must be positive")),
        ("400", "BAD_USER_INPUT", None),
        ("500", "UPSTREAM_UNAVAILABLE", None),
        ("bad", "UPSTREAM_UNAVAILABLE", None),
        ("deep", "UPSTREAM_UNAVAILABLE", None),
    ] {
        let r = g
            .app
            .gql(
                &format!(r#"{{ thing(id: "{id}") other }}"#),
                json!({}),
                None,
            )
            .await;
        assert_eq!(r.code(0), code, "{id}: {}", r.body);
        assert_eq!(r.body["errors"][0]["path"], json!(["thing"]));
        assert_eq!(
            r.body["data"],
            json!({"thing": null, "other": "fine"}),
            "{id}"
        );
        if let Some(m) = message {
            assert_eq!(r.body["errors"][0]["message"], m);
        }
        let text = r.body.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("stack trace"),
            "{text}"
        );
    }
    // a 404 on a non-null field is an error, not null
    let r = g
        .app
        .gql(r#"{ mustThing(id: "gone") }"#, json!({}), None)
        .await;
    assert_eq!(r.code(0), "BAD_USER_INPUT");
    assert_eq!(r.body["errors"][0]["message"], "no such thing");
}

#[tokio::test]
async fn slow_upstream_times_out() {
    let up = MockServer::start().await;
    answers(
        &up,
        "/things/slow",
        ResponseTemplate::new(200)
            .set_body_json(json!(1))
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    let mut s = source(&up.uri());
    s.timeout = Duration::from_millis(100);
    let g = gateway(SDL, vec![("svc", s)]).await;
    let started = std::time::Instant::now();
    let r = g.app.gql(r#"{ thing(id: "slow") }"#, json!({}), None).await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE");
    assert_eq!(reason(&r.body, 0), "UPSTREAM_TIMEOUT");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn gets_are_retried_and_posts_are_not() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/things/flaky"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/things/flaky"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!("third time")))
        .expect(1)
        .mount(&up)
        .await;
    Mock::given(method("POST"))
        .and(path("/things"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&up)
        .await;
    let mut s = source(&up.uri());
    s.retries = 2;
    let g = gateway(SDL, vec![("svc", s)]).await;
    let r = g
        .app
        .gql(r#"{ thing(id: "flaky") }"#, json!({}), None)
        .await;
    assert_eq!(r.body, json!({"data": {"thing": "third time"}}));
    let r = g.app.gql("mutation { makeThing }", json!({}), None).await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE");
}

// The breaker's clock is not injectable, so no test waits for `open_for`
// to pass: one breaker stays open for an hour (refusals are certain), the
// other has `open_for = 0` (the next call after opening is the probe).

#[tokio::test]
async fn circuit_opens_and_refuses_without_calling_the_upstream() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/things/x"))
        .respond_with(ResponseTemplate::new(500))
        .expect(2) // the third call is refused by the open circuit
        .mount(&up)
        .await;
    let mut s = source(&up.uri());
    s.circuit_breaker.failure_threshold = 2;
    s.circuit_breaker.open_for = Duration::from_secs(3600);
    let g = gateway(SDL, vec![("svc", s)]).await;
    for _ in 0..2 {
        let r = g.app.gql(r#"{ thing(id: "x") }"#, json!({}), None).await;
        assert_eq!(reason(&r.body, 0), "UPSTREAM_ERROR");
    }
    assert_eq!(g.datasources.readiness()["svc"], json!({"circuit": "open"}));
    let r = g.app.gql(r#"{ thing(id: "x") }"#, json!({}), None).await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE");
    assert_eq!(reason(&r.body, 0), "CIRCUIT_OPEN");
}

#[tokio::test]
async fn open_circuit_recovers_through_a_probe() {
    let up = MockServer::start().await;
    let failing = Mock::given(method("GET"))
        .and(path("/things/x"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount_as_scoped(&up)
        .await;
    let mut s = source(&up.uri());
    s.circuit_breaker.failure_threshold = 2;
    s.circuit_breaker.open_for = Duration::ZERO;
    let g = gateway(SDL, vec![("svc", s)]).await;
    for _ in 0..2 {
        let r = g.app.gql(r#"{ thing(id: "x") }"#, json!({}), None).await;
        assert_eq!(reason(&r.body, 0), "UPSTREAM_ERROR");
    }
    assert_eq!(g.datasources.readiness()["svc"], json!({"circuit": "open"}));
    // a failed probe opens the circuit again
    let r = g.app.gql(r#"{ thing(id: "x") }"#, json!({}), None).await;
    assert_eq!(reason(&r.body, 0), "UPSTREAM_ERROR");
    assert_eq!(g.datasources.readiness()["svc"], json!({"circuit": "open"}));
    drop(failing); // verifies: two failures and one probe reached the upstream
    Mock::given(method("GET"))
        .and(path("/things/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!("back")))
        .expect(1)
        .mount(&up)
        .await;
    // a successful probe closes it
    let r = g.app.gql(r#"{ thing(id: "x") }"#, json!({}), None).await;
    assert_eq!(r.body, json!({"data": {"thing": "back"}}));
    assert_eq!(
        g.datasources.readiness()["svc"],
        json!({"circuit": "closed"})
    );
}

#[tokio::test]
async fn a_denied_field_never_calls_upstream() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!("leak")))
        .expect(0)
        .mount(&up)
        .await;
    let g = gateway(SDL, vec![("svc", source(&up.uri()))]).await;
    let r = g.app.gql("{ secret }", json!({}), Some("user")).await;
    assert_eq!(r.code(0), "FORBIDDEN");
    let r = g.app.gql("{ secret }", json!({}), None).await;
    assert_eq!(r.code(0), "UNAUTHENTICATED");
}

#[tokio::test]
async fn answers_that_are_not_json_open_the_circuit() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/things/garbage"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .expect(2) // the third call is refused by the open circuit
        .mount(&up)
        .await;
    let mut s = source(&up.uri());
    s.circuit_breaker.failure_threshold = 2;
    s.circuit_breaker.open_for = Duration::from_secs(3600);
    let g = gateway(SDL, vec![("svc", s)]).await;
    for _ in 0..2 {
        let r = g
            .app
            .gql(r#"{ thing(id: "garbage") }"#, json!({}), None)
            .await;
        assert_eq!(
            reason(&r.body, 0),
            "UPSTREAM_INVALID_RESPONSE",
            "{}",
            r.body
        );
    }
    assert_eq!(g.datasources.readiness()["svc"], json!({"circuit": "open"}));
    let r = g
        .app
        .gql(r#"{ thing(id: "garbage") }"#, json!({}), None)
        .await;
    assert_eq!(reason(&r.body, 0), "CIRCUIT_OPEN");
}

/// An upstream on 127.0.0.1 that answers every request with `chunks` chunks
/// of `chunk` bytes of JSON-ish text, chunked (no Content-Length).
async fn chunked_upstream(chunks: usize, chunk: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                // the request head fits one read on loopback; its content is not needed
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let data = " ".repeat(chunk);
                for _ in 0..chunks {
                    let piece = format!("{:x}\r\n{data}\r\n", chunk);
                    if sock.write_all(piece.as_bytes()).await.is_err() {
                        return; // the gateway hung up: what a cap does
                    }
                }
                let _ = sock.write_all(b"1\r\n1\r\n0\r\n\r\n").await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn oversized_answers_are_refused_and_count_as_failures() {
    // declared: Content-Length over the cap
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/things/big"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(format!("\"{}\"", "x".repeat(2000))),
        )
        .expect(2)
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/things/small"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(format!("\"{}\"", "x".repeat(100))),
        )
        .mount(&up)
        .await;
    let mut s = source(&up.uri());
    s.max_response_bytes = 1024;
    s.circuit_breaker.failure_threshold = 2;
    s.circuit_breaker.open_for = Duration::from_secs(3600);
    // streamed: no Content-Length, 64 KiB chunks far past the cap
    let mut streamed = source(&chunked_upstream(10_000, 64 * 1024).await);
    streamed.max_response_bytes = 100 * 1024;
    let mut small_stream = source(&chunked_upstream(1, 10).await);
    small_stream.max_response_bytes = 100 * 1024;
    let g = gateway(
        r#"
extend type Query {
  thing(id: ID!): JSON @rest(source: "svc", path: "/things/{args.id}")
  stream: JSON @rest(source: "streamed", path: "/s")
  smallStream: JSON @rest(source: "small", path: "/s")
  products: JSON @graphql(source: "gql")
}
"#,
        vec![
            ("svc", s),
            ("streamed", streamed),
            ("small", small_stream),
            ("gql", {
                let mut g = source(&format!("{}/graphql", up.uri()));
                g.max_response_bytes = 1024;
                g
            }),
        ],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"products": "y".repeat(5000)}})),
        )
        .expect(1)
        .mount(&up)
        .await;

    let r = g
        .app
        .gql(r#"{ thing(id: "small") }"#, json!({}), None)
        .await;
    assert_eq!(
        r.body["data"]["thing"],
        json!("x".repeat(100)),
        "{}",
        r.body
    );
    let started = std::time::Instant::now();
    let r = g
        .app
        .gql(
            r#"{ big: thing(id: "big") stream smallStream products }"#,
            json!({}),
            None,
        )
        .await;
    // 640 MB were on offer: the stream was cut at the cap, not read to the end
    assert!(started.elapsed() < Duration::from_secs(10));
    let mut reasons: Vec<(String, String)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"][0].as_str().unwrap().to_owned(),
                format!(
                    "{} {}",
                    e["extensions"]["code"].as_str().unwrap(),
                    e["extensions"]["reason"].as_str().unwrap()
                ),
            )
        })
        .collect();
    reasons.sort();
    let too_large = "UPSTREAM_UNAVAILABLE UPSTREAM_RESPONSE_TOO_LARGE".to_owned();
    assert_eq!(
        reasons,
        vec![
            ("big".to_owned(), too_large.clone()),
            ("products".to_owned(), too_large.clone()),
            ("stream".to_owned(), too_large.clone()),
        ],
        "{}",
        r.body
    );
    assert_eq!(r.body["data"]["smallStream"], json!(1), "{}", r.body);
    // the breaker counts it: a second oversized answer opens the circuit
    let r = g.app.gql(r#"{ thing(id: "big") }"#, json!({}), None).await;
    assert_eq!(reason(&r.body, 0), "UPSTREAM_RESPONSE_TOO_LARGE");
    assert_eq!(g.datasources.readiness()["svc"], json!({"circuit": "open"}));
}
