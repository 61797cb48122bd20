//! How long a logout is remembered (Redis, where the entry's TTL is visible).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};

use super::{admin_token, redis_url, start, use_redis, LOGOUT};
use crate::helpers::full_settings;

/// `exp` of a JWT, read without verifying it (the gateway already did).
fn exp(token: &str) -> u64 {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["exp"].as_u64().unwrap()
}

#[tokio::test]
async fn a_logged_out_token_is_remembered_past_exp_plus_the_leeway() {
    let url = redis_url();
    let mut s = full_settings();
    use_redis(&mut s, &url);
    // the guard honours a token up to 5 minutes past its exp
    s.guard.leeway = Duration::from_secs(300);
    let prefix = s.store.key_prefix.clone();
    let (app, _) = start(s).await;

    let token = admin_token(&app).await;
    let r = app.gql(LOGOUT, json!({}), Some(&token)).await;
    assert_eq!(r.body["data"]["logout"]["ok"], true, "{}", r.body);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}revoked:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut c)
        .await
        .unwrap();
    // the guard would accept the token until exp + 300 s: the entry must outlive that
    let needed_ms = (exp(&token).saturating_sub(now) + 300) * 1000;
    assert!(
        u64::try_from(pttl).unwrap() >= needed_ms,
        "the revocation expires in {pttl} ms, the token is honoured for {needed_ms} ms"
    );
}
