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

#[tokio::test]
async fn circuit_opens_then_recovers_through_a_probe() {
    let up = MockServer::start().await;
    let failing = Mock::given(method("GET"))
        .and(path("/things/x"))
        .respond_with(ResponseTemplate::new(500))
        .expect(2)
        .mount_as_scoped(&up)
        .await;
    let mut s = source(&up.uri());
    s.circuit_breaker.failure_threshold = 2;
    s.circuit_breaker.open_for = Duration::from_millis(50);
    let g = gateway(SDL, vec![("svc", s)]).await;
    for _ in 0..2 {
        let r = g.app.gql(r#"{ thing(id: "x") }"#, json!({}), None).await;
        assert_eq!(reason(&r.body, 0), "UPSTREAM_ERROR");
    }
    assert_eq!(g.datasources.readiness()["svc"], json!({"circuit": "open"}));
    let r = g.app.gql(r#"{ thing(id: "x") }"#, json!({}), None).await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE");
    assert_eq!(reason(&r.body, 0), "CIRCUIT_OPEN");
    drop(failing); // verifies: only 2 calls reached the upstream
    Mock::given(method("GET"))
        .and(path("/things/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!("back")))
        .mount(&up)
        .await;
    // poll until `open_for` has passed and the probe closes the circuit
    let mut recovered = false;
    for _ in 0..200 {
        let r = g.app.gql(r#"{ thing(id: "x") }"#, json!({}), None).await;
        if r.body["data"]["thing"] == json!("back") {
            recovered = true;
            break;
        }
        assert_eq!(reason(&r.body, 0), "CIRCUIT_OPEN");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(recovered);
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
