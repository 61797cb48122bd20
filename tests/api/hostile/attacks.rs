//! One test per attack class: a clear refusal (status, code) well within
//! the time box, then a normal query still answers.

use std::time::{Duration, Instant};

use authgate::Application;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with, test_settings, Gql, TestApp};

/// Generous for a debug build; the point is milliseconds, not minutes.
const QUICK: Duration = Duration::from_secs(3);

/// POSTs `body` as it is (not re-encoded: duplicate keys survive).
async fn post_raw(app: &TestApp, body: String) -> (Gql, Duration) {
    let started = Instant::now();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    (TestApp::read(resp).await, started.elapsed())
}

async fn get_query(app: &TestApp, query: &str) -> (Gql, Duration) {
    let started = Instant::now();
    let resp = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", query)])
        .header("accept", "application/graphql-response+json")
        .header("apollo-require-preflight", "1")
        .send()
        .await
        .expect("request sent");
    (TestApp::read(resp).await, started.elapsed())
}

fn post_body(query: &str) -> String {
    json!({ "query": query }).to_string()
}

/// The gateway still answers a normal query.
async fn still_serves(app: &TestApp) {
    let r = app.gql("{ __typename }", json!({}), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["__typename"], "Query");
}

fn refused(r: &Gql, took: Duration, code: &str, words: &str) {
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.code(0), code, "{:?}", r.body);
    let msg = r.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(msg.contains(words), "{msg}");
    assert!(took < QUICK, "took {took:?}");
}

/// `{ __typename(a: [[…1…]]) }`: under 5 KB, 2,400 levels (this overflowed
/// the worker's stack and ended the process).
fn deep_list(levels: usize) -> String {
    format!(
        "{{ __typename(a: {}1{}) }}",
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

#[tokio::test]
async fn a_deep_list_value_is_refused_over_post() {
    let app = spawn_app().await;
    let (r, took) = post_raw(&app, post_body(&deep_list(2_400))).await;
    refused(
        &r,
        took,
        "GRAPHQL_PARSE_FAILED",
        "nests deeper than 64 levels",
    );
    still_serves(&app).await;
}

#[tokio::test]
async fn a_deep_list_value_is_refused_over_get() {
    let app = spawn_app().await;
    // the GET path parsed (for its mutation check) before any limit
    for levels in [2_400, 3_000] {
        let (r, took) = get_query(&app, &deep_list(levels)).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert!(
            matches!(
                r.code(0),
                "GRAPHQL_PARSE_FAILED" | "GRAPHQL_VALIDATION_FAILED"
            ),
            "{:?}",
            r.body
        );
        assert!(took < QUICK, "took {took:?}");
    }
    // and a mutation within the limits is still refused over GET
    let (r, _) = get_query(&app, "mutation { logout { ok } }").await;
    assert_eq!(r.status, 405, "{:?}", r.body);
    still_serves(&app).await;
}

#[tokio::test]
async fn deep_selection_sets_are_refused() {
    let app = spawn_app().await;
    let q = format!("{}__typename{}", "{ a ".repeat(1_500), " }".repeat(1_500));
    let (r, took) = post_raw(&app, post_body(&q)).await;
    refused(&r, took, "GRAPHQL_PARSE_FAILED", "nests deeper");
    // a deep value in the variables JSON, past serde_json's own limit too
    let vars = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let body = format!(r#"{{"query":"{{ __typename }}","variables":{{"v":{vars}}}}}"#);
    let (r, took) = post_raw(&app, body).await;
    refused(&r, took, "BAD_REQUEST", "nests too deeply");
    // and in `extensions`
    let body = format!(r#"{{"query":"{{ __typename }}","extensions":{{"v":{vars}}}}}"#);
    let (r, took) = post_raw(&app, body).await;
    refused(&r, took, "BAD_REQUEST", "nests too deeply");
    still_serves(&app).await;
}

/// `query { ...F0 } fragment F0 on Query { ...F1 ×20 } …`: each level
/// multiplies the expansion by 20.
fn fan_out(levels: usize) -> String {
    let mut q = String::from("query { ...F0 }");
    for i in 0..levels {
        q.push_str(&format!(" fragment F{i} on Query {{"));
        for _ in 0..20 {
            q.push_str(&format!(" ...F{}", i + 1));
        }
        q.push('}');
    }
    q.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    q
}

#[tokio::test]
async fn fan_out_fragments_are_refused_in_linear_time() {
    let app = spawn_app().await;
    for levels in [6, 7, 12] {
        let (r, took) = post_raw(&app, post_body(&fan_out(levels))).await;
        refused(
            &r,
            took,
            "GRAPHQL_VALIDATION_FAILED",
            "fields once its fragments are expanded",
        );
    }
    // a long spread chain is nesting too, however cheap
    let mut chain = String::from("{ ...F0 }");
    for i in 0..100 {
        chain.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
    }
    chain.push_str(" fragment F100 on Query { __typename }");
    let (r, took) = post_raw(&app, post_body(&chain)).await;
    refused(&r, took, "GRAPHQL_VALIDATION_FAILED", "once its fragments");
    still_serves(&app).await;
}

#[tokio::test]
async fn a_fragment_cycle_is_refused() {
    let app = spawn_app().await;
    let q = "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }";
    let (r, took) = post_raw(&app, post_body(q)).await;
    refused(&r, took, "GRAPHQL_VALIDATION_FAILED", "spreads itself");
    still_serves(&app).await;
}

#[tokio::test]
async fn duplicate_keys_are_refused_never_last_wins() {
    let mut s = test_settings();
    s.graphql.limits.batching = true;
    let app = spawn_with(Application::builder(s)).await;
    let bodies = [
        // a harmless query, then the mutation that would have run
        r#"{"query":"{ __typename }","query":"mutation { logout { ok } }"}"#,
        r#"{"query":"query($a: Int) { __typename }","variables":{"a":1,"a":2}}"#,
        r#"{"query":"{ __typename }","variables":{"a":{"b":1,"b":2}}}"#,
        r#"{"query":"{ __typename }","extensions":{"persistedQuery":{},"persistedQuery":{}}}"#,
        r#"[{"query":"{ __typename }"},{"query":"{ __typename }","operationName":null,"operationName":"X"}]"#,
    ];
    for body in bodies {
        let (r, took) = post_raw(&app, body.to_owned()).await;
        refused(&r, took, "BAD_REQUEST", "duplicate key");
    }
    // GET: one value per parameter
    let resp = app
        .client
        .get(app.url("/graphql?query=%7B__typename%7D&query=mutation%7Blogout%7Bok%7D%7D"))
        .header("apollo-require-preflight", "1")
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    let r = TestApp::read(resp).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.code(0), "BAD_REQUEST");
    still_serves(&app).await;
}

async fn misspelt(introspection: bool) -> Value {
    let mut s = test_settings();
    s.graphql.introspection = introspection;
    // asked for, yet off whenever introspection is
    s.graphql.suggestions = true;
    let app = spawn_with(Application::builder(s)).await;
    let r = app.gql("{ invitatons { total } }", json!({}), None).await;
    assert_eq!(r.code(0), "GRAPHQL_VALIDATION_FAILED", "{:?}", r.body);
    r.body["errors"][0]["message"].clone()
}

#[tokio::test]
async fn no_suggestions_when_introspection_is_off() {
    let on = misspelt(true).await;
    assert!(on.as_str().unwrap().contains("Did you mean"), "{on}");
    let off = misspelt(false).await;
    assert!(!off.as_str().unwrap().contains("Did you mean"), "{off}");
    assert!(!off.as_str().unwrap().contains("\"invitations\""), "{off}");
}

/// At the highest nesting the configuration accepts, documents and
/// variables just inside the limit are parsed, validated and answered
/// without exhausting the stack (a debug build's frames are the largest).
#[tokio::test]
async fn the_nesting_ceiling_is_safe() {
    let mut s = test_settings();
    let max = authgate::graphql::MAX_NESTING_CEILING;
    s.graphql.limits.max_nesting = max;
    s.graphql.limits.max_depth = max;
    s.graphql.limits.max_expanded_fields = 100_000;
    let app = spawn_with(Application::builder(s)).await;
    let list = format!("{{ __typename(a: {}) }}", nested_list(max - 1));
    let (r, took) = post_raw(&app, post_body(&list)).await;
    // parsed and answered (`__typename` ignores its arguments)
    assert_eq!(r.body["data"]["__typename"], "Query", "{:?}", r.body);
    assert!(took < QUICK);
    let object = format!(
        "{{ __typename(a: {}1{}) }}",
        "{a: ".repeat(max - 1),
        "}".repeat(max - 1)
    );
    let (r, _) = post_raw(&app, post_body(&object)).await;
    assert_eq!(r.body["data"]["__typename"], "Query", "{:?}", r.body);
    let sets = format!("{}__typename{}", "{ me ".repeat(max), " }".repeat(max));
    let (r, _) = post_raw(&app, post_body(&sets)).await;
    // pest parsed it; async-graphql's own selection-set limit (64) refuses it
    assert_eq!(r.code(0), "GRAPHQL_PARSE_FAILED", "{:?}", r.body);
    let body = format!(
        r#"{{"query":"query($p: Int) {{ invitations(page: $p) {{ total }} }}","variables":{{"p":{}}}}}"#,
        nested_list(max - 1)
    );
    let (r, _) = post_raw(&app, body).await;
    assert_eq!(r.code(0), "GRAPHQL_VALIDATION_FAILED", "{:?}", r.body);
    still_serves(&app).await;
}

fn nested_list(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}
