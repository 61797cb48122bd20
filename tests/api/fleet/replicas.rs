//! Two gateways, one Redis, one identity provider: they behave as one.

use std::time::Duration;

use authgate::config::{ProviderKind, Settings};
use authgate::emulator::EmulatorHandle;
use serde_json::json;
use tokio::net::TcpListener;

use super::{
    admin_token, codes, login, redis_url, start, use_redis, RedisProcess, ADMIN, LOGOUT, ME,
};
use crate::helpers::{full_settings, TestApp};

async fn emulator() -> EmulatorHandle {
    let mut s = full_settings().emulator;
    s.ephemeral = true;
    // our limiter is under test, not the emulator's brute-force protection
    s.brute_force_threshold = 1000;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    authgate::emulator::start(s, l).await.unwrap()
}

/// A replica: the real guard, pointed at the shared emulator.
fn replica_settings(emu: &EmulatorHandle) -> Settings {
    let mut s = full_settings();
    s.identity.provider = ProviderKind::Auth0;
    s.auth0.base_url = Some(emu.base_url());
    s.guard.issuer = emu.issuer().to_owned();
    s
}

#[tokio::test]
async fn a_logout_on_one_replica_is_honoured_by_the_other() {
    let url = redis_url();
    let emu = emulator().await;
    let mut s = replica_settings(&emu);
    use_redis(&mut s, &url);
    let (a, _) = start(s.clone()).await;
    let (b, _) = start(s).await;

    let token = admin_token(&a).await;
    let r = b.gql(ME, json!({}), Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["data"]["me"]["id"].is_string(), "{}", r.body);

    let r = a.gql(LOGOUT, json!({}), Some(&token)).await;
    assert_eq!(r.body["data"]["logout"]["ok"], true, "{}", r.body);

    // B verified this token before (its verified-token cache holds it): the
    // revocation is still checked on every request
    let r = b.gql(ME, json!({}), Some(&token)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.code(0), "UNAUTHENTICATED");
    assert_eq!(r.body["errors"][0]["extensions"]["reason"], "TOKEN_REVOKED");
    emu.shutdown().await;
}

#[tokio::test]
async fn login_failures_on_both_replicas_count_against_one_budget() {
    let url = redis_url();
    let emu = emulator().await;
    let mut s = replica_settings(&emu);
    use_redis(&mut s, &url);
    s.limits.login.per_account = Some(3);
    let (a, _) = start(s.clone()).await;
    let (b, _) = start(s).await;

    let mut seen = Vec::new();
    for app in [&a, &b, &a, &b, &a] {
        let r = login(app, ADMIN.0, "wrong-password").await;
        seen.push(r.code(0).to_owned());
    }
    assert_eq!(
        seen,
        [
            "INVALID_CREDENTIALS",
            "INVALID_CREDENTIALS",
            "INVALID_CREDENTIALS",
            "RATE_LIMITED",
            "RATE_LIMITED"
        ]
    );
    // the right password is refused too while the window lasts (slowed, not locked forever)
    let r = login(&b, ADMIN.0, ADMIN.1).await;
    assert_eq!(r.code(0), "RATE_LIMITED");
    let retry = r.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    emu.shutdown().await;
}

async fn me_status(app: &TestApp, token: &str) -> (u16, Vec<String>, serde_json::Value) {
    let r = app.gql(ME, json!({}), Some(token)).await;
    (r.status, codes(&r.body), r.body)
}

#[tokio::test]
async fn redis_down_fails_closed_and_recovers_without_a_restart() {
    let mut redis = RedisProcess::start().await;
    let emu = emulator().await;
    let mut s = replica_settings(&emu);
    use_redis(&mut s, &redis.url());
    s.store.command_timeout = Duration::from_millis(300);
    s.store.connect_timeout = Duration::from_millis(300);
    s.metrics.enabled = true;
    s.metrics.listen = "127.0.0.1:0".parse().unwrap();
    let (a, metrics) = start(s).await;
    let metrics = metrics.expect("the metrics listener is bound");
    let password_grants = || async move {
        let text = reqwest::get(format!("http://{metrics}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        super::sample(
            &text,
            r#"authgate_idp_requests_total{endpoint="token_password",status="ok"}"#,
        )
    };
    let token = admin_token(&a).await;
    let (status, _, body) = me_status(&a, &token).await;
    assert_eq!(status, 200, "{body}");
    let ready = a.client.get(a.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    redis.kill().await;
    let (status, codes, body) = me_status(&a, &token).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(codes, ["UPSTREAM_UNAVAILABLE"]);
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "STORE_UNAVAILABLE"
    );
    let ready: serde_json::Value = a
        .client
        .get(a.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["store"]["ready"], false, "{ready}");
    assert_eq!(ready["checks"]["store"]["details"]["backend"], "redis");
    // the public port says "unavailable", never the store's own error text
    assert_eq!(
        ready["checks"]["store"]["details"]["error"], "unavailable",
        "{ready}"
    );
    // a login during the outage is an outage too, not an internal error, and
    // it is refused before the identity provider issues any token
    let grants = password_grants().await;
    assert_eq!(grants, 1.0, "the admin's login above");
    let r = super::login(&a, super::ADMIN.0, super::ADMIN.1).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE", "{}", r.body);
    assert_eq!(
        r.body["errors"][0]["extensions"]["reason"],
        "STORE_UNAVAILABLE"
    );
    assert_eq!(
        password_grants().await,
        grants,
        "no grant while the store is down"
    );

    // an outage longer than the manager's own reconnect attempts (about
    // 60 ms of backoff): they give up and leave their error behind. This
    // wait only makes the outage realistic; the assertions below hold for
    // any outage length
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart().await;
    // the connection manager reconnects on its own, and the very first
    // request after Redis is back is answered (no stale error first)
    let (status, _, body) = me_status(&a, &token).await;
    assert_eq!(status, 200, "{body}");
    let ready = a.client.get(a.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    emu.shutdown().await;
}
