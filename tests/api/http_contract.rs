//! GraphQL-over-HTTP: content types, methods, status codes, CSRF, CORS,
//! limits, request ids, authorization directives, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::Value as GqlValue;
use authgate::Application;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::helpers::{spawn_app, spawn_with, test_settings, TestApp};

const EXTRA_SDL: &str = r#"
extend type Query {
  hello: String
  orders: [String!] @requiresPermissions(permissions: [["read:orders"]])
  adminOnly: String @requiresRoles(roles: [["admin"]])
  secret: Secret
  boom: String
  slow: String
}
type Secret @authenticated {
  value: String
}
"#;

async fn spawn_extra(slow_gate: Arc<Notify>, slow_started: Arc<Notify>) -> TestApp {
    let builder = Application::builder(test_settings())
        .sdl("extra.graphql", EXTRA_SDL)
        .bindings(move |b| {
            b.bind("Query.hello", |_ctx: ResolverContext<'_>| {
                FieldFuture::Value(Some(FieldValue::value("world")))
            });
            b.bind("Query.orders", |_ctx: ResolverContext<'_>| {
                FieldFuture::Value(Some(FieldValue::value(GqlValue::List(vec![
                    GqlValue::from("o-1"),
                ]))))
            });
            b.bind("Query.adminOnly", |_ctx: ResolverContext<'_>| {
                FieldFuture::Value(Some(FieldValue::value("sesame")))
            });
            b.bind("Query.secret", |_ctx: ResolverContext<'_>| {
                FieldFuture::Value(Some(FieldValue::value(
                    GqlValue::from_json(json!({"value": "s3"})).unwrap(),
                )))
            });
            b.bind("Query.boom", |_ctx: ResolverContext<'_>| {
                FieldFuture::new(async move {
                    Err::<Option<FieldValue>, _>(async_graphql::Error::new(
                        "db password=hunter2 at 10.0.0.1",
                    ))
                })
            });
            let gate = slow_gate.clone();
            let started = slow_started.clone();
            b.bind("Query.slow", move |_ctx: ResolverContext<'_>| {
                let gate = gate.clone();
                let started = started.clone();
                FieldFuture::new(async move {
                    started.notify_one();
                    gate.notified().await;
                    Ok(Some(FieldValue::value("done")))
                })
            });
        });
    spawn_with(builder).await
}

async fn extra() -> TestApp {
    spawn_extra(Arc::new(Notify::new()), Arc::new(Notify::new())).await
}

#[tokio::test]
async fn typename_over_post_json() {
    let app = spawn_app().await;
    let r = app.gql("{ __typename }", json!({}), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"data": {"__typename": "Query"}}));
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
}

#[tokio::test]
async fn graphql_response_json_when_accepted() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    let r = TestApp::read(resp).await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/graphql-response+json"));
}

async fn post_raw(app: &TestApp, accept: &str, ct: &str, body: Vec<u8>) -> crate::helpers::Gql {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("accept", accept)
        .header("content-type", ct)
        .header("apollo-require-preflight", "true")
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::read(resp).await
}

#[tokio::test]
async fn validation_errors_are_400_only_for_graphql_response_json() {
    let app = spawn_app().await;
    let q = json!({"query": "{ nope }"}).to_string().into_bytes();
    let r = post_raw(
        &app,
        "application/graphql-response+json",
        "application/json",
        q.clone(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(0), "GRAPHQL_VALIDATION_FAILED");
    assert!(r.body.get("data").is_none(), "no data entry: {}", r.body);
    let r = post_raw(&app, "application/json", "application/json", q).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.code(0), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn parse_errors_are_one_clear_line() {
    let app = spawn_app().await;
    let r = app.gql("{ me { id } ", json!({}), None).await;
    assert_eq!(r.code(0), "GRAPHQL_PARSE_FAILED");
    let msg = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(msg.starts_with("syntax error at line 1"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[tokio::test]
async fn malformed_requests_get_clear_4xx_answers() {
    let app = spawn_app().await;
    let json_ct = "application/json";
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (json_ct, b"{not json".to_vec(), 400, "not valid JSON"),
        (json_ct, vec![0xff, 0xfe, 0x00], 400, "not UTF-8"),
        (
            json_ct,
            b"[1,2]".to_vec(),
            400,
            "batched requests are disabled",
        ),
        (json_ct, b"\"str\"".to_vec(), 400, "JSON object"),
        (json_ct, b"{}".to_vec(), 400, "`query` is missing"),
        (
            json_ct,
            br#"{"query": 5}"#.to_vec(),
            400,
            "`query` must be a string",
        ),
        (
            json_ct,
            br#"{"query": "{a}", "variables": [1]}"#.to_vec(),
            400,
            "`variables` must be an object",
        ),
        ("application/xml", b"<q/>".to_vec(), 415, "application/json"),
        (
            "application/json; charset=latin1",
            b"{}".to_vec(),
            415,
            "utf-8",
        ),
    ];
    for (ct, body, status, needle) in cases {
        let r = post_raw(&app, "application/json", ct, body).await;
        assert_eq!(r.status, status, "{ct}: {}", r.body);
        assert_eq!(r.code(0), "BAD_REQUEST");
        let msg = r.body["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg} should mention {needle}");
    }
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let big = json!({"query": format!("{{ __typename }} #{}", "x".repeat(2 * 1024 * 1024))});
    let r = post_raw(
        &app,
        "application/json",
        "application/json",
        big.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.code(0), "BAD_REQUEST");
}

#[tokio::test]
async fn unknown_operation_name_and_bad_variables() {
    let app = spawn_app().await;
    let body = json!({"query": "query A { __typename }", "operationName": "B"});
    let r = post_raw(
        &app,
        "application/graphql-response+json",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(0), "GRAPHQL_VALIDATION_FAILED");

    let body = json!({
        "query": "mutation($e: String!) { requestPasswordReset(email: $e) { ok } }",
        "variables": {"e": 42}
    });
    let r = post_raw(
        &app,
        "application/graphql-response+json",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(0), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn get_serves_queries_and_refuses_mutations() {
    let app = spawn_app().await;
    let get = |q: &str| {
        app.client
            .get(app.url("/graphql"))
            .query(&[("query", q)])
            .header("apollo-require-preflight", "1")
            .send()
    };
    let r = TestApp::read(get("{ __typename }").await.unwrap()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["__typename"], "Query");

    let resp = get("mutation { logout { ok } }").await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");

    // a GET without a preflight-forcing header could be a cross-site request
    let resp = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn graphiql_for_browsers_only_when_enabled() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("GraphiQL"));

    let mut s = test_settings();
    s.graphql.graphiql = false;
    let app = spawn_with(Application::builder(s)).await;
    let resp = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 200);
}

#[tokio::test]
async fn csrf_simple_requests_are_refused() {
    let app = spawn_app().await;
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let resp = app
            .client
            .post(app.url("/graphql"))
            .header("content-type", ct)
            .body(r#"{"query":"mutation { logout { ok } }"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{ct}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cross-site"));
    }
}

#[tokio::test]
async fn cors_preflight_allows_configured_origins_only() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let ok = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let no = preflight("https://evil.example").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_preflight_allows_apollo_and_trace_context_headers_and_configured_ones() {
    let allowed = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-headers")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let preflight = |app: &crate::helpers::TestApp, headers: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", headers)
            .send()
    };
    let app = spawn_app().await;
    let r = preflight(
        &app,
        "content-type,apollographql-client-name,apollographql-client-version,traceparent",
    )
    .await
    .unwrap();
    let list = allowed(&r);
    for h in [
        "apollographql-client-name",
        "apollographql-client-version",
        "traceparent",
        "tracestate",
        "content-type",
    ] {
        assert!(list.contains(h), "{h} in {list}");
    }
    assert!(!list.contains("x-tenant"), "{list}");
    let mut settings = crate::helpers::test_settings();
    settings.server.cors.allowed_headers = vec!["x-tenant".into()];
    let app = crate::helpers::spawn_with(authgate::Application::builder(settings)).await;
    let list = allowed(&preflight(&app, "x-tenant").await.unwrap());
    assert!(list.contains("x-tenant"), "{list}");
    assert!(!list.contains("traceparent"), "{list}");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let send = |id: Option<&'static str>| {
        let mut r = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({"query": "{ __typename }"}));
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        r.send()
    };
    let r = send(Some("abc-123")).await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = send(None).await.unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36);
    // a hostile id (log injection) is replaced
    let r = send(Some("a b\"c")).await.unwrap();
    assert_ne!(r.headers()["x-request-id"], "a b\"c");
}

#[tokio::test]
async fn limits_refuse_before_any_resolver_runs() {
    let mut s = test_settings();
    s.graphql.limits.max_depth = 3;
    s.graphql.limits.max_aliases = 2;
    s.graphql.limits.max_root_fields = 3;
    s.graphql.limits.max_tokens = 40;
    s.graphql.limits.max_document_bytes = 400;
    let app = spawn_with(Application::builder(s)).await;
    let cases = [
        (
            "{ __schema { types { fields { type { name } } } } }",
            "nested too deep",
        ),
        ("{ a: __typename b: __typename c: __typename }", "aliases"),
        (
            "{ __typename __typename __typename __typename }",
            "root fields",
        ),
        (&*format!("{{ {} }}", "a ".repeat(45)), "tokens"),
        (&*format!("{{ __typename }} #{}", "x".repeat(500)), "bytes"),
    ];
    for (q, needle) in cases {
        let r = app.gql(q, json!({}), None).await;
        assert_eq!(r.code(0), "GRAPHQL_VALIDATION_FAILED", "{q}: {}", r.body);
        let msg = r.body["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg} should mention {needle}");
    }
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let app = spawn_app().await;
    let r = app
        .gql("{ __schema { queryType { name } } }", json!({}), None)
        .await;
    assert_eq!(r.body["data"]["__schema"]["queryType"]["name"], "Query");
    let mut s = test_settings();
    s.graphql.introspection = false;
    let app = spawn_with(Application::builder(s)).await;
    let r = app
        .gql("{ __schema { queryType { name } } }", json!({}), None)
        .await;
    assert!(r.body.get("errors").is_some(), "{}", r.body);
}

#[tokio::test]
async fn suggestions_can_be_switched_off() {
    let message = |r: &crate::helpers::Gql| r.body["errors"][0]["message"].to_string();
    let app = spawn_app().await;
    let r = app.gql("{ me { emal } }", json!({}), Some("admin")).await;
    assert!(message(&r).contains("Did you mean"), "{}", r.body);
    let mut s = test_settings();
    s.graphql.suggestions = false;
    let app = spawn_with(Application::builder(s)).await;
    let r = app.gql("{ me { emal } }", json!({}), Some("admin")).await;
    assert!(message(&r).contains("emal"), "{}", r.body);
    assert!(!message(&r).contains("Did you mean"), "{}", r.body);
}

#[tokio::test]
async fn me_reads_the_principal() {
    let app = spawn_app().await;
    let r = app
        .gql(
            "{ me { id permissions roles email expiresAt } }",
            json!({}),
            Some("admin"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["me"]["id"], "auth0|admin");
    assert_eq!(r.body["data"]["me"]["roles"], json!(["admin"]));
    assert_eq!(r.body["data"]["me"]["email"], "ada@example.com");
    assert_eq!(r.body["data"]["me"]["expiresAt"], "2100-01-01T00:00:00Z");
}

#[tokio::test]
async fn unauthenticated_is_401_with_reason_only_when_nothing_resolved() {
    let app = spawn_app().await;
    for (token, reason) in [
        (None, "TOKEN_MISSING"),
        (Some("expired"), "TOKEN_EXPIRED"),
        (Some("garbage"), "TOKEN_INVALID"),
        (Some("revoked"), "TOKEN_REVOKED"),
    ] {
        let r = app.gql("{ me { id } }", json!({}), token).await;
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.code(0), "UNAUTHENTICATED");
        assert_eq!(r.body["errors"][0]["extensions"]["reason"], reason);
        assert_eq!(r.body["errors"][0]["path"], json!(["me"]));
        let www = r.headers["www-authenticate"].to_str().unwrap();
        if token.is_some() {
            assert!(www.contains("error=\"invalid_token\""), "{www}");
        } else {
            assert!(!www.contains("error="), "{www}");
        }
        // with another field that resolved, the answer is 200 with partial data
        let r = app.gql("{ me { id } __typename }", json!({}), token).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["data"]["me"], Value::Null);
        assert_eq!(r.body["data"]["__typename"], "Query");
    }
}

#[tokio::test]
async fn keys_unavailable_is_503_not_401() {
    let app = spawn_app().await;
    let r = app.gql("{ me { id } }", json!({}), Some("nokeys")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE");
    assert_eq!(
        r.body["errors"][0]["extensions"]["reason"],
        "KEYS_UNAVAILABLE"
    );
}

#[tokio::test]
async fn public_fields_work_with_a_stale_token() {
    let app = extra().await;
    let r = app.gql("{ hello }", json!({}), Some("expired")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"data": {"hello": "world"}}));
}

#[tokio::test]
async fn directives_on_fields_and_types() {
    let app = extra().await;
    // anonymous
    let r = app
        .gql(
            "{ orders adminOnly secret { value } hello }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["hello"], "world");
    for i in 0..3 {
        assert_eq!(r.code(i), "UNAUTHENTICATED", "{}", r.body);
    }
    // a user without the admin role
    let r = app
        .gql(
            "{ orders adminOnly secret { value } }",
            json!({}),
            Some("user"),
        )
        .await;
    assert_eq!(r.body["data"]["orders"], json!(["o-1"]));
    assert_eq!(r.body["data"]["adminOnly"], Value::Null);
    assert_eq!(r.body["data"]["secret"]["value"], "s3");
    assert_eq!(r.code(0), "FORBIDDEN");
    assert_eq!(r.body["errors"][0]["path"], json!(["adminOnly"]));
    // the admin
    let r = app
        .gql("{ orders adminOnly }", json!({}), Some("admin"))
        .await;
    assert_eq!(r.body["data"]["adminOnly"], "sesame");
    assert!(r.body.get("errors").is_none());
}

#[tokio::test]
async fn resolver_bugs_say_nothing_internal() {
    let app = extra().await;
    let r = app.gql("{ boom hello }", json!({}), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["hello"], "world");
    assert_eq!(r.code(0), "INTERNAL_SERVER_ERROR");
    let text = r.body.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("10.0.0.1"),
        "{text}"
    );
}

#[tokio::test]
async fn not_yet_configured_operations_answer_clearly() {
    let app = spawn_app().await;
    let r = app
        .gql(
            "mutation { login(input: {email: \"a@b.c\", password: \"x\"}) { accessToken } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE");
    assert_eq!(r.status, 503);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn shutdown_drains_a_request_in_flight() {
    let gate = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let app = spawn_extra(gate.clone(), started.clone()).await;
    let client = app.client.clone();
    let url = app.url("/graphql");
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"query": "{ slow }"}))
            .send()
            .await
    });
    started.notified().await;
    app.shutdown.shutdown();
    // new connections are refused once the listener closes…
    let mut refused = false;
    for _ in 0..200 {
        if reqwest::Client::new()
            .post(app.url("/graphql"))
            .json(&json!({"query": "{ __typename }"}))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the listener should close on shutdown");
    // …while the request in flight still completes
    gate.notify_one();
    let resp = in_flight.await.unwrap().unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["slow"], "done");
    app.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_access_token_can_come_from_a_configured_cookie() {
    let mut s = test_settings();
    s.session.access_token_cookie = "at".into();
    let app = spawn_with(Application::builder(s)).await;
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("cookie", "other=x; at=admin")
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    let r = TestApp::read(resp).await;
    assert_eq!(r.body["data"]["me"]["id"], "auth0|admin", "{}", r.body);
    // the header wins over the cookie
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("cookie", "at=admin")
        .bearer_auth("user")
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    let r = TestApp::read(resp).await;
    assert_eq!(r.body["data"]["me"]["id"], "auth0|user");
    // not configured: the cookie is ignored
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("cookie", "at=admin")
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn a_null_object_is_null_not_an_object_of_nulls() {
    let builder = Application::builder(test_settings())
        .sdl(
            "nulls.graphql",
            "extend type Query { box: Box }\ntype Box { inner: Inner }\ntype Inner { name: String! }\n",
        )
        .bindings(|b| {
            b.bind("Query.box", |_ctx: ResolverContext<'_>| {
                FieldFuture::Value(Some(FieldValue::value(
                    GqlValue::from_json(json!({"inner": null})).unwrap(),
                )))
            });
        });
    let app = spawn_with(builder).await;
    let r = app.gql("{ box { inner { name } } }", json!({}), None).await;
    assert_eq!(r.body, json!({"data": {"box": {"inner": null}}}));
}

// ---- hostile clients: slow bodies, stalled headers, idle connections,
// ---- the connection cap, panics, malformed credentials

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An app with short transport limits (generous against scheduling noise).
async fn spawn_limited(configure: impl FnOnce(&mut authgate::config::Settings)) -> TestApp {
    let mut s = test_settings();
    s.server.request_timeout = Duration::from_secs(1);
    s.server.header_timeout = Duration::from_secs(1);
    configure(&mut s);
    spawn_with(Application::builder(s)).await
}

/// Reads until the server closes the connection (or `limit` passes, which
/// fails the test); returns what was read and how long it took.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the connection was still open after {limit:?}"
    );
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

const BODY_HEAD: &str = "POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n";

#[tokio::test]
async fn a_stalled_body_is_answered_408_within_the_request_timeout() {
    let app = spawn_limited(|_| {}).await;
    let mut c = TcpStream::connect(app.addr).await.unwrap();
    c.write_all(format!("{BODY_HEAD}{{\"query\":").as_bytes())
        .await
        .unwrap();
    let (resp, took) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(resp.contains("\"BAD_REQUEST\""), "{resp}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_within_the_request_timeout() {
    let app = spawn_limited(|_| {}).await;
    let c = TcpStream::connect(app.addr).await.unwrap();
    let (mut r, mut w) = c.into_split();
    // one byte every 50 ms: each read makes progress, the whole never ends in time
    let trickle = tokio::spawn(async move {
        if w.write_all(BODY_HEAD.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..200 {
            if w.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let done = tokio::time::timeout(Duration::from_secs(8), r.read_to_end(&mut out)).await;
    assert!(done.is_ok(), "still open after 8 s");
    let resp = String::from_utf8_lossy(&out);
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(5));
    trickle.abort();
}

#[tokio::test]
async fn stalled_headers_are_cut_off_after_the_header_timeout() {
    let app = spawn_limited(|s| s.server.request_timeout = Duration::from_secs(30)).await;
    let mut c = TcpStream::connect(app.addr).await.unwrap();
    c.write_all(b"POST /graphql HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, took) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
    // a client that connects and sends nothing at all
    let mut c = TcpStream::connect(app.addr).await.unwrap();
    let (_, took) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
    // or too little to tell HTTP/1.1 from HTTP/2
    let mut c = TcpStream::connect(app.addr).await.unwrap();
    c.write_all(b"PRI").await.unwrap();
    let (_, took) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_limited(|s| {
        s.server.header_timeout = Duration::from_secs(30);
        s.server.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let mut c = TcpStream::connect(app.addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (resp, took) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    // closed by the idle watchdog, long before the 30 s header timeout
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_limited(|s| {
        s.server.max_connections = 1;
        s.server.header_timeout = Duration::from_secs(30);
    })
    .await;
    // the only slot: a connection that sends nothing
    let hog = TcpStream::connect(app.addr).await.unwrap();
    let mut next = TcpStream::connect(app.addr).await.unwrap();
    next.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), next.read(&mut buf))
            .await
            .is_err(),
        "served beyond max_connections"
    );
    drop(hog);
    let (resp, _) = read_until_closed(&mut next, Duration::from_secs(10)).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

#[tokio::test]
async fn a_panicking_resolver_is_a_500_with_the_standard_body_and_the_gateway_serves_on() {
    let builder = Application::builder(test_settings())
        .sdl("panic.graphql", "extend type Query { kaboom: String }")
        .bindings(|b| {
            b.bind("Query.kaboom", |_ctx: ResolverContext<'_>| {
                FieldFuture::new(async move {
                    if std::hint::black_box(true) {
                        panic!("secret internals at 10.0.0.1");
                    }
                    Ok(Some(FieldValue::value("never")))
                })
            });
        });
    let app = spawn_with(builder).await;
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("x-request-id", "panic-1")
        .json(&json!({"query": "{ kaboom }"}))
        .send()
        .await
        .unwrap();
    let r = TestApp::read(resp).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.code(0), "INTERNAL_SERVER_ERROR");
    assert_eq!(r.headers["x-request-id"], "panic-1");
    assert!(!r.body.to_string().contains("10.0.0.1"), "{}", r.body);
    let r = app.gql("{ __typename }", json!({}), None).await;
    assert_eq!(r.body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn malformed_authorization_headers_get_an_invalid_token_challenge() {
    use reqwest::header::{HeaderValue, AUTHORIZATION};
    let app = spawn_app().await;
    let cases: Vec<(&str, Vec<HeaderValue>)> = vec![
        (
            "another scheme",
            vec![HeaderValue::from_static("Basic YWRtaW46eA==")],
        ),
        ("empty", vec![HeaderValue::from_static("")]),
        ("Bearer alone", vec![HeaderValue::from_static("Bearer")]),
        (
            "Bearer and a space",
            vec![HeaderValue::from_static("Bearer ")],
        ),
        (
            "two headers",
            vec![
                HeaderValue::from_static("Bearer admin"),
                HeaderValue::from_static("Bearer user"),
            ],
        ),
        (
            "non-ASCII",
            vec![HeaderValue::from_bytes("Bearer adm\u{ef}n".as_bytes()).unwrap()],
        ),
        (
            "a refused token",
            vec![HeaderValue::from_static("Bearer garbage")],
        ),
    ];
    for (case, values) in cases {
        let mut req = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({"query": "{ me { id } }"}));
        for v in values {
            req = req.header(AUTHORIZATION, v);
        }
        let r = TestApp::read(req.send().await.unwrap()).await;
        assert_eq!(r.status, 401, "{case}: {}", r.body);
        assert_eq!(r.code(0), "UNAUTHENTICATED", "{case}");
        assert_eq!(
            r.body["errors"][0]["extensions"]["reason"], "TOKEN_INVALID",
            "{case}"
        );
        let www = r.headers["www-authenticate"].to_str().unwrap();
        assert!(
            www.starts_with("Bearer realm=\"authgate\""),
            "{case}: {www}"
        );
        assert!(www.contains("error=\"invalid_token\""), "{case}: {www}");
        assert!(!www.contains("admin") && !www.contains("garbage"), "{www}");
    }
    // without credentials: the realm only
    let r = app.gql("{ me { id } }", json!({}), None).await;
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"authgate\"");
}

#[tokio::test]
async fn work_that_runs_late_is_504_within_the_request_timeout() {
    let mut s = test_settings();
    s.server.request_timeout = Duration::from_secs(1);
    let builder = Application::builder(s)
        .sdl("forever.graphql", "extend type Query { forever: String }")
        .bindings(|b| {
            b.bind("Query.forever", |_ctx: ResolverContext<'_>| {
                FieldFuture::new(async move {
                    std::future::pending::<()>().await;
                    Ok(Some(FieldValue::value("never")))
                })
            });
        });
    let app = spawn_with(builder).await;
    let started = std::time::Instant::now();
    let r = app.gql("{ forever }", json!({}), None).await;
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE");
    assert!(started.elapsed() < Duration::from_secs(5));
}
