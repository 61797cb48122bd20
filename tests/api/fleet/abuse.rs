//! Abuse limits through the HTTP surface (memory store: one replica).

use authgate::config::Settings;
use serde_json::{json, Value};

use super::{codes, login, start, ADMIN};
use crate::helpers::{full_settings, TestApp};

/// The real stack; the emulator's own brute-force protection out of the way.
async fn gateway(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut s = full_settings();
    s.emulator.brute_force_threshold = 1000;
    configure(&mut s);
    start(s).await.0
}

fn count(codes: &[String], code: &str) -> usize {
    codes.iter().filter(|c| *c == code).count()
}

#[tokio::test]
async fn aliased_login_fields_are_counted_one_by_one() {
    let app = gateway(|s| {
        s.limits.login.per_account = Some(10);
        s.limits.login.per_ip = Some(1000);
        let l = &mut s.graphql.limits;
        l.max_aliases = 200;
        l.max_root_fields = 200;
    })
    .await;
    let fields: String = (0..100)
        .map(|i| {
            format!(
                "a{i}: login(input: {{email: \"{}\", password: \"wrong-{i}\"}}) {{ accessToken }}\n",
                ADMIN.0
            )
        })
        .collect();
    let r = app
        .gql(&format!("mutation {{ {fields} }}"), json!({}), None)
        .await;
    let codes = codes(&r.body);
    assert_eq!(codes.len(), 100, "{}", r.body);
    assert_eq!(count(&codes, "INVALID_CREDENTIALS"), 10, "{codes:?}");
    assert_eq!(count(&codes, "RATE_LIMITED"), 90, "{codes:?}");
    // mutations run in order: the first 10 reached the provider
    assert!(codes[..10].iter().all(|c| c == "INVALID_CREDENTIALS"));
    let e = &r.body["errors"][10];
    assert!(
        e["message"].as_str().unwrap().contains("this account"),
        "{e}"
    );
}

#[tokio::test]
async fn batched_requests_are_counted_per_item() {
    let app = gateway(|s| {
        s.limits.login.per_account = Some(10);
        s.graphql.limits.batching = true;
        s.graphql.limits.max_batch_size = 15;
    })
    .await;
    let batch: Vec<Value> = (0..15)
        .map(|_| json!({"query": super::LOGIN, "variables": {"e": ADMIN.0, "p": "wrong"}}))
        .collect();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    let items: Vec<Value> = resp.json().await.unwrap();
    let first: Vec<String> = items
        .iter()
        .map(|i| codes(i).first().cloned().unwrap_or_default())
        .collect();
    assert_eq!(count(&first, "INVALID_CREDENTIALS"), 10, "{first:?}");
    assert_eq!(count(&first, "RATE_LIMITED"), 5, "{first:?}");
}

/// A login attempt from `xff` (an `X-Forwarded-For` header), its first code.
async fn attempt_from(app: &TestApp, xff: &str, email: &str) -> String {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", xff)
        .json(&json!({"query": super::LOGIN, "variables": {"e": email, "p": "wrong"}}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    codes(&body).first().cloned().unwrap_or_default()
}

#[tokio::test]
async fn per_ip_limit_believes_forwarded_for_only_from_trusted_proxies() {
    // behind a trusted proxy: each client address has its own budget
    let app = gateway(|s| {
        s.limits.login.per_ip = Some(3);
        s.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for i in 0..3 {
        let email = format!("u{i}@example.com");
        assert_eq!(
            attempt_from(&app, "203.0.113.7", &email).await,
            "INVALID_CREDENTIALS"
        );
    }
    assert_eq!(
        attempt_from(&app, "203.0.113.7", "u9@example.com").await,
        "RATE_LIMITED"
    );
    assert_eq!(
        attempt_from(&app, "203.0.113.8", "u9@example.com").await,
        "INVALID_CREDENTIALS",
        "another client behind the proxy is not limited"
    );

    // no trusted proxy: the header is ignored, the socket peer is counted
    let app = gateway(|s| s.limits.login.per_ip = Some(3)).await;
    for i in 0..3 {
        let xff = format!("198.51.100.{i}");
        assert_eq!(
            attempt_from(&app, &xff, &format!("v{i}@example.com")).await,
            "INVALID_CREDENTIALS"
        );
    }
    assert_eq!(
        attempt_from(&app, "198.51.100.200", "v9@example.com").await,
        "RATE_LIMITED",
        "a forged X-Forwarded-For must not buy a new budget"
    );
}

/// A login attempt with two `X-Forwarded-For` lines: `forged` from the
/// client, then `appended` by the proxy on a line of its own.
async fn attempt_with_lines(app: &TestApp, forged: &str, appended: &str, email: &str) -> String {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", forged)
        .header("x-forwarded-for", appended)
        .json(&json!({"query": super::LOGIN, "variables": {"e": email, "p": "wrong"}}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    codes(&body).first().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_forged_forwarded_for_line_does_not_buy_a_new_budget() {
    let app = gateway(|s| {
        s.limits.login.per_ip = Some(3);
        s.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for i in 0..3 {
        let forged = format!("198.51.100.{i}");
        assert_eq!(
            attempt_with_lines(&app, &forged, "203.0.113.7", &format!("w{i}@example.com")).await,
            "INVALID_CREDENTIALS"
        );
    }
    assert_eq!(
        attempt_with_lines(&app, "198.51.100.99", "203.0.113.7", "w9@example.com").await,
        "RATE_LIMITED",
        "the proxy's line names the client, whatever the client wrote before it"
    );
}

#[tokio::test]
async fn a_request_over_the_request_budget_is_refused_whole_with_retry_after() {
    let app = gateway(|s| {
        s.limits.requests.per_ip = Some(2);
        s.limits.requests.window = Some(std::time::Duration::from_secs(60));
    })
    .await;
    for _ in 0..2 {
        let r = app.gql("{ __typename }", json!({}), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = app.gql("{ __typename }", json!({}), None).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.code(0), "RATE_LIMITED");
    let retry = r.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!(retry > 0 && retry <= 60, "{retry}");
    let header: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(header, retry);
    assert!(r.body.get("data").is_none());
}

#[tokio::test]
async fn a_request_refused_by_field_limits_only_is_429_with_retry_after() {
    let app = gateway(|s| s.limits.login.per_account = Some(1)).await;
    let r = login(&app, ADMIN.0, "wrong").await;
    assert_eq!(r.code(0), "INVALID_CREDENTIALS");
    let r = login(&app, ADMIN.0, "wrong").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.code(0), "RATE_LIMITED");
    let retry = r.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    assert_eq!(
        r.headers["retry-after"].to_str().unwrap(),
        retry.to_string()
    );
}

#[tokio::test]
async fn signup_and_password_reset_have_their_own_budgets() {
    let app = gateway(|s| {
        s.limits.password_reset.per_account = Some(2);
        s.limits.signup.per_ip = Some(1);
    })
    .await;
    let reset = "mutation($e: String!) { requestPasswordReset(email: $e) { ok } }";
    for _ in 0..2 {
        let r = app.gql(reset, json!({"e": ADMIN.0}), None).await;
        assert_eq!(
            r.body["data"]["requestPasswordReset"]["ok"], true,
            "{}",
            r.body
        );
    }
    let r = app.gql(reset, json!({"e": ADMIN.0}), None).await;
    assert_eq!(r.code(0), "RATE_LIMITED");
    // login is not affected by the reset budget
    let r = login(&app, ADMIN.0, ADMIN.1).await;
    assert!(
        r.body["data"]["login"]["accessToken"].is_string(),
        "{}",
        r.body
    );

    let signup = "mutation($e: String!) { signup(input: {email: $e, password: \"Str0ng-Passw0rd!x\"}) { userId } }";
    let r = app.gql(signup, json!({"e": "s1@example.com"}), None).await;
    assert!(r.body["errors"].is_null(), "{}", r.body);
    let r = app.gql(signup, json!({"e": "s2@example.com"}), None).await;
    assert_eq!(r.code(0), "RATE_LIMITED");
}
