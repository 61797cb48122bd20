//! `/metrics` on its own listener moves with the traffic.

use serde_json::json;

use super::{admin_token, login, start, ADMIN, ME};
use crate::helpers::full_settings;

/// The value of the sample `series` (exact name and labels), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// The metrics listener's whole text.
async fn scrape(metrics: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_scripted_flow_moves_the_counters() {
    let mut s = full_settings();
    s.metrics.enabled = true;
    s.metrics.listen = "127.0.0.1:0".parse().unwrap();
    s.limits.login.per_account = Some(2);
    // a datasource call: the example orders service on port 0
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    tokio::spawn(authgate::datasources::example::serve_example(upstream));
    let dev = authgate::config::Settings::load_from(None, Vec::new()).unwrap();
    s.graphql.schema = dev.graphql.schema;
    s.datasources = dev.datasources;
    for (name, path) in [("orders", ""), ("catalog", "/graphql")] {
        s.datasources.get_mut(name).unwrap().url =
            format!("http://{upstream_addr}{path}").parse().unwrap();
    }
    let (app, metrics) = start(s).await;
    let metrics = metrics.expect("the metrics listener is bound");
    assert_ne!(metrics.port(), 0);
    assert_ne!(metrics, app.addr, "a separate listener");

    let token = admin_token(&app).await;
    let r = app
        .gql("query Me { me { id } }", json!({}), Some(&token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .gql("query Orders { orders { id } }", json!({}), Some(&token))
        .await;
    assert_eq!(r.body["data"]["orders"][0]["id"], "1", "{}", r.body);
    // an invitation: Management API calls
    let r = app
        .gql(
            crate::invites::INVITE,
            json!({"input": {"email": "metrics.hire@example.com", "roles": []}}),
            Some(&token),
        )
        .await;
    assert_eq!(
        r.body["data"]["inviteUser"]["email"], "metrics.hire@example.com",
        "{}",
        r.body
    );
    let r = app.gql(ME, json!({}), Some("not-a-token")).await;
    assert_eq!(r.status, 401);
    let r = app.gql(ME, json!({}), Some(&token)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        login(&app, ADMIN.0, "wrong").await.code(0),
        "INVALID_CREDENTIALS"
    );
    assert_eq!(login(&app, ADMIN.0, "wrong").await.code(0), "RATE_LIMITED");

    let text = scrape(metrics).await;
    let v = |series: &str| sample(&text, series);
    assert_eq!(
        v(r#"authgate_graphql_requests_total{operation="Me",outcome="ok"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        v(r#"authgate_graphql_requests_total{operation="_anonymous",outcome="UNAUTHENTICATED"}"#),
        1.0
    );
    assert_eq!(
        v(r#"authgate_graphql_requests_total{operation="_anonymous",outcome="RATE_LIMITED"}"#),
        1.0
    );
    assert!(v(r#"authgate_graphql_request_duration_seconds_count{operation="Me"}"#) >= 1.0);
    assert!(v(r#"authgate_auth_outcomes_total{outcome="authenticated"}"#) >= 2.0);
    assert_eq!(v(r#"authgate_auth_outcomes_total{outcome="invalid"}"#), 1.0);
    assert_eq!(
        v(r#"authgate_rate_limited_total{operation="login",scope="account"}"#),
        1.0
    );
    assert_eq!(
        v(r#"authgate_idp_requests_total{endpoint="token_password",status="ok"}"#),
        1.0
    );
    assert_eq!(
        v(r#"authgate_idp_requests_total{endpoint="token_password",status="invalid_credentials"}"#),
        1.0
    );
    assert_eq!(
        v(r#"authgate_idp_requests_total{endpoint="mgmt_oauth_token",status="ok"}"#),
        1.0,
        "one Management token, cached: {text}"
    );
    assert_eq!(
        v(r#"authgate_idp_requests_total{endpoint="mgmt_create_user",status="ok"}"#),
        1.0
    );
    assert_eq!(
        v(r#"authgate_idp_requests_total{endpoint="mgmt_password_change_ticket",status="ok"}"#),
        1.0
    );
    assert!(
        v(r#"authgate_idp_request_duration_seconds_count{endpoint="mgmt_create_user"}"#) >= 1.0
    );
    assert!(
        v(r#"authgate_store_operation_duration_seconds_count{backend="memory",op="is_revoked"}"#)
            >= 2.0
    );
    assert!(
        v(r#"authgate_store_operation_duration_seconds_count{backend="memory",op="hit"}"#) >= 2.0
    );
    assert!(v("authgate_token_verifications_total") >= 1.0);
    assert!(
        v("authgate_token_cache_hits_total") >= 1.0,
        "the second `me` hit the cache"
    );
    assert!(v("authgate_jwks_fetches_total") >= 1.0);
    assert_eq!(
        v(r#"authgate_upstream_requests_total{source="orders",status="200"}"#),
        1.0,
        "{text}"
    );
    assert!(v(r#"authgate_upstream_request_duration_seconds_count{source="orders"}"#) >= 1.0);
    assert!(v("authgate_signing_keys") >= 1.0);

    // counters only go up
    app.gql(ME, json!({}), Some(&token)).await;
    let later = scrape(metrics).await;
    assert!(
        sample(
            &later,
            r#"authgate_auth_outcomes_total{outcome="authenticated"}"#
        ) > v(r#"authgate_auth_outcomes_total{outcome="authenticated"}"#)
    );

    // the public listener does not serve metrics
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_document_cache_counts_hits_and_misses() {
    let mut s = full_settings();
    // on whatever the suite's pass sets (scripts/test runs it with the
    // cache off too): this test is about the cache's own counters
    s.graphql.document_cache_size = 1024;
    s.metrics.enabled = true;
    s.metrics.listen = "127.0.0.1:0".parse().unwrap();
    let (app, metrics) = start(s).await;
    let metrics = metrics.expect("the metrics listener is bound");
    let token = admin_token(&app).await;
    let series = [
        r#"authgate_document_cache_hits_total{step="parse"}"#,
        r#"authgate_document_cache_misses_total{step="parse"}"#,
        r#"authgate_document_cache_hits_total{step="validate"}"#,
        r#"authgate_document_cache_misses_total{step="validate"}"#,
    ];
    let before = scrape(metrics).await;
    for q in [
        "query CountedA { me { id } }",
        "query CountedA { me { id } }",
        "query CountedB { me { id } }",
    ] {
        let r = app.gql(q, json!({}), Some(&token)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let after = scrape(metrics).await;
    let moved: Vec<f64> = series
        .iter()
        .map(|s| sample(&after, s) - sample(&before, s))
        .collect();
    // the repeated document is a hit at both steps, each new one a miss
    assert_eq!(moved, [1.0, 2.0, 1.0, 2.0], "{after}");
}
