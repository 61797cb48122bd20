//! The GraphQL document cache never changes an answer: the same requests,
//! repeated, against a gateway with the cache on and one with it off.

use authgate::config::Settings;
use authgate::Application;
use serde_json::{json, Value};

use crate::helpers::{spawn_with, test_settings, TestApp};

fn settings(cache: u64) -> Settings {
    let mut s = test_settings();
    s.graphql.document_cache_size = cache;
    s.graphql.limits.max_depth = 4;
    s.graphql.limits.max_aliases = 2;
    s.graphql.limits.max_root_fields = 3;
    s
}

/// `(query, variables, token)`: answers, validation errors, parse errors,
/// limits, and one document whose validity depends on its variables.
fn cases() -> Vec<(&'static str, Value, Option<&'static str>)> {
    let page = "query($p: Int) { invitations(page: $p) { total } }";
    vec![
        ("{ me { id permissions } }", json!({}), Some("user")),
        ("{ me { id permissions } }", json!({}), Some("admin")),
        ("{ me { id permissions } }", json!({}), None),
        ("{ me { id permissions } }", json!({}), Some("expired")),
        ("{ nope }", json!({}), None),
        ("{ me { id ", json!({}), None),
        (
            "{ __schema { types { fields { type { name } } } } }",
            json!({}),
            None,
        ),
        (
            "{ a: __typename b: __typename c: __typename }",
            json!({}),
            None,
        ),
        (
            "{ __typename __typename __typename __typename }",
            json!({}),
            None,
        ),
        (page, json!({"p": "not a number"}), Some("admin")),
        (page, json!({"p": 1}), Some("admin")),
        (page, json!({"p": "still not a number"}), Some("admin")),
        (page, json!({}), Some("admin")),
        (
            "query A { me { id } } query B { nope }",
            json!({}),
            Some("user"),
        ),
    ]
}

async fn answers(app: &TestApp) -> Vec<(u16, Value)> {
    let mut out = Vec::new();
    for (q, vars, token) in cases() {
        let r = app.gql(q, vars, token).await;
        out.push((r.status, r.body));
    }
    out
}

#[tokio::test]
async fn the_cache_never_changes_an_answer() {
    let on = spawn_with(Application::builder(settings(64))).await;
    let off = spawn_with(Application::builder(settings(0))).await;
    let first = answers(&on).await;
    let again = answers(&on).await;
    let uncached = answers(&off).await;
    for (i, (q, vars, _)) in cases().into_iter().enumerate() {
        assert_eq!(first[i], again[i], "repeated {q} {vars}");
        assert_eq!(first[i], uncached[i], "cache on vs off: {q} {vars}");
    }
    // and the answers are the expected ones, not merely equal
    assert_eq!(first[0].1["data"]["me"]["id"], "auth0|user");
    assert_eq!(first[1].1["data"]["me"]["id"], "auth0|admin");
    let code = |i: usize| first[i].1["errors"][0]["extensions"]["code"].clone();
    assert_eq!(code(4), "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(code(5), "GRAPHQL_PARSE_FAILED");
    for i in [6, 7, 8] {
        assert_eq!(code(i), "GRAPHQL_VALIDATION_FAILED", "{}", first[i].1);
    }
    assert!(first[6].1.to_string().contains("nested too deep"));
    // the variables decide validity: a cache keyed on the text alone would
    // answer the second and fourth like the first
    assert_eq!(code(9), "GRAPHQL_VALIDATION_FAILED", "{}", first[9].1);
    assert_ne!(code(10), "GRAPHQL_VALIDATION_FAILED", "{}", first[10].1);
    assert_eq!(code(11), "GRAPHQL_VALIDATION_FAILED", "{}", first[11].1);
    assert_ne!(code(12), "GRAPHQL_VALIDATION_FAILED", "{}", first[12].1);
}

#[tokio::test]
async fn the_operation_name_is_part_of_the_key() {
    // the same text and variables: the bad variable only matters to the
    // operation that uses it, so validity depends on the operation chosen
    let app = spawn_with(Application::builder(settings(64))).await;
    let doc = "query A($p: Int) { invitations(page: $p) { total } } query B { me { id } }";
    for _ in 0..2 {
        for (op, valid) in [("A", false), ("B", true), ("A", false)] {
            let r = app
                .client
                .post(app.url("/graphql"))
                .bearer_auth("user")
                .json(&json!({"query": doc, "operationName": op, "variables": {"p": "x"}}))
                .send()
                .await
                .unwrap();
            let r = TestApp::read(r).await;
            if valid {
                assert_eq!(r.body["data"]["me"]["id"], "auth0|user", "{op}: {}", r.body);
            } else {
                assert_eq!(r.code(0), "GRAPHQL_VALIDATION_FAILED", "{op}: {}", r.body);
            }
        }
    }
}

#[tokio::test]
async fn me_answers_every_selected_field_however_it_is_selected() {
    // `me` builds only the fields the query selects: fragments, inline
    // fragments and aliases must still reach them
    let app = spawn_with(Application::builder(settings(64))).await;
    let q = "{ me { x: id ...V ... on Viewer { permissions claims } } } \
             fragment V on Viewer { roles email expiresAt }";
    let r = app.gql(q, json!({}), Some("admin")).await;
    let me = &r.body["data"]["me"];
    assert_eq!(me["x"], "auth0|admin", "{}", r.body);
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["expiresAt"], "2100-01-01T00:00:00Z");
    assert_eq!(
        me["permissions"],
        json!(["create:invitations", "read:orders"])
    );
    assert_eq!(me["claims"]["sub"], "auth0|admin");
    assert!(me.get("id").is_none() && me.get("name").is_none());
    let r = app
        .gql("{ me { id name picture } }", json!({}), Some("user"))
        .await;
    assert_eq!(
        r.body["data"]["me"],
        json!({"id": "auth0|user", "name": null, "picture": null})
    );
}
