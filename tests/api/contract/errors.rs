//! The error contract, as clients see it: status, the headers that carry
//! meaning, and the JSON body of each main error class.

use serde_json::{json, Value};

use super::redact;
use crate::helpers::{spawn_app, spawn_full, Gql, TestApp};
use crate::session::{login_query, seed, USER};

/// The answer as one deterministic text: status, meaningful headers, body.
fn render(r: &Gql) -> String {
    let mut out = format!("status: {}\n", r.status);
    for h in ["content-type", "www-authenticate", "retry-after"] {
        if let Some(v) = r.headers.get(h) {
            out.push_str(&format!("{h}: {}\n", v.to_str().unwrap_or("?")));
        }
    }
    out.push('\n');
    out.push_str(&serde_json::to_string_pretty(&redact(&r.body)).unwrap());
    out.push('\n');
    out
}

async fn post_raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> Gql {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/json")
        .header("content-type", content_type)
        .header("apollo-require-preflight", "true")
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::read(resp).await
}

#[tokio::test]
async fn unauthenticated_for_each_reason() {
    let app = spawn_app().await;
    for (name, token) in [
        ("missing", None),
        ("expired", Some("expired")),
        ("invalid", Some("garbage")),
        ("revoked", Some("revoked")),
        ("keys_unavailable", Some("nokeys")),
    ] {
        let r = app.gql("{ me { id } }", json!({}), token).await;
        insta::assert_snapshot!(format!("unauthenticated_{name}"), render(&r));
    }
}

#[tokio::test]
async fn forbidden() {
    let app = spawn_app().await;
    let r = app
        .gql("{ invitations { total } }", json!({}), Some("user"))
        .await;
    insta::assert_snapshot!(render(&r));
}

#[tokio::test]
async fn graphql_parse_and_validation_failures() {
    let app = spawn_app().await;
    let r = app.gql("{ me { id ", json!({}), None).await;
    insta::assert_snapshot!("parse_failed", render(&r));
    let r = app.gql("{ nope }", json!({}), None).await;
    insta::assert_snapshot!("validation_failed", render(&r));
    let r = app
        .gql(
            "query($n: Int!) { invitations(page: $n) { total } }",
            json!({"n": "one"}),
            Some("admin"),
        )
        .await;
    insta::assert_snapshot!("bad_variables", render(&r));
}

#[tokio::test]
async fn bad_requests_and_http_errors() {
    let app = spawn_app().await;
    let json_ct = "application/json";
    for (name, ct, body) in [
        ("not_json", json_ct, b"{not json".to_vec()),
        ("query_missing", json_ct, b"{}".to_vec()),
        ("batch_refused", json_ct, b"[1,2]".to_vec()),
        (
            "unsupported_media_type",
            "application/xml",
            b"<q/>".to_vec(),
        ),
    ] {
        let r = post_raw(&app, ct, body).await;
        insta::assert_snapshot!(format!("bad_request_{name}"), render(&r));
    }
    let big = json!({"query": format!("{{ __typename }} #{}", "x".repeat(2 * 1024 * 1024))});
    let r = post_raw(&app, json_ct, big.to_string().into_bytes()).await;
    insta::assert_snapshot!("payload_too_large", render(&r));
}

fn login_vars(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

#[tokio::test]
async fn bad_user_input_and_an_unreachable_identity_provider() {
    // the identity provider of `spawn_app` is a closed port
    let app = spawn_app().await;
    let r = app
        .gql(&login_query(), login_vars("not an email", "x"), None)
        .await;
    insta::assert_snapshot!("bad_user_input", render(&r));
    let r = app
        .gql(
            &login_query(),
            login_vars("ada@example.com", "Some-Passw0rd"),
            None,
        )
        .await;
    insta::assert_snapshot!("upstream_unavailable", render(&r));
}

#[tokio::test]
async fn credentials_refused_by_the_identity_provider() {
    let app = spawn_full(|s| {
        s.limits.enabled = false;
        let mut blocked = seed("blocked@example.com", "Blocked-Passw0rd1");
        blocked.blocked = true;
        s.emulator.users.push(blocked);
        let mut mfa = seed("mfa@example.com", "Mfa-Passw0rd1");
        mfa.mfa = true;
        s.emulator.users.push(mfa);
    })
    .await;
    let r = app
        .gql(&login_query(), login_vars(USER.0, "Wrong-Passw0rd"), None)
        .await;
    insta::assert_snapshot!("invalid_credentials", render(&r));
    let r = app
        .gql(
            &login_query(),
            login_vars("blocked@example.com", "Blocked-Passw0rd1"),
            None,
        )
        .await;
    insta::assert_snapshot!("rate_limited", render(&r));
    let r = app
        .gql(
            &login_query(),
            login_vars("mfa@example.com", "Mfa-Passw0rd1"),
            None,
        )
        .await;
    insta::assert_snapshot!("mfa_required", render(&r));
}
