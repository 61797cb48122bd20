//! The key store: rotation, outages, snapshots, the unknown-kid flood.

use std::time::Duration;

use authgate::auth::{KeySource, Rejection};
use futures::future::join_all;
use serde_json::json;
use wiremock::ResponseTemplate;

use super::*;

fn token_b() -> String {
    sign_raw(&key_b(), &json!({"alg": "RS256", "kid": "b"}), &claims())
}

#[tokio::test]
async fn status_reports_fetched_keys_and_max_age() {
    let jwks = JwksServer::start(vec![]).await;
    jwks.respond(
        ResponseTemplate::new(200)
            .insert_header("cache-control", "public, max-age=120")
            .set_body_json(json!({"keys": [jwk_a(), jwk_b()]})),
    )
    .await;
    let g = guard(settings(&jwks)).await;
    let st = g.key_status();
    assert_eq!(st.keys, 2);
    assert_eq!(st.source, KeySource::Fetched);
    assert!(st.last_success.is_some());
    assert!(st.last_error.is_none());
    assert_eq!(st.max_age, Some(Duration::from_secs(120)));
    assert_eq!(jwks.hits().await, 1);
}

#[tokio::test]
async fn a_new_key_is_picked_up_on_its_first_token_and_a_removed_key_refuses_its_tokens() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let g = guard(settings(&jwks)).await;
    let old = token(&claims());
    assert!(g.authenticate(&old).await.user().is_some());

    // rotation: b becomes current, a is still published
    jwks.serve(vec![jwk_a(), jwk_b()]).await;
    assert!(g.authenticate(&token_b()).await.user().is_some());
    assert_eq!(jwks.hits().await, 1, "one refetch for the unknown kid");

    // a is revoked: its cached token must be refused after the next refresh
    jwks.serve(vec![jwk_b()]).await;
    g.refresh_keys().await.unwrap();
    assert_eq!(
        rejection(&g.authenticate(&old).await),
        Some(Rejection::Invalid)
    );
    assert!(g.authenticate(&token_b()).await.user().is_some());
}

#[tokio::test]
async fn jwks_down_at_start_up_without_snapshot_means_keys_unavailable_then_recovers() {
    let jwks = JwksServer::start(vec![]).await;
    jwks.respond(ResponseTemplate::new(503)).await;
    let g = guard(settings(&jwks)).await;
    let st = g.key_status();
    assert_eq!((st.keys, st.source), (0, KeySource::None));
    assert!(st.last_error.as_deref().unwrap().contains("503"));
    assert_eq!(jwks.hits().await, 3, "5xx retried, 3 attempts");

    let t = token(&claims());
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::KeysUnavailable)
    );
    // garbage is still plainly invalid, and triggers no fetch
    assert_eq!(
        rejection(&g.authenticate("garbage").await),
        Some(Rejection::Invalid)
    );

    // the endpoint comes back: within the cooldown a token fetches nothing…
    jwks.serve(vec![jwk_a()]).await;
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::KeysUnavailable)
    );
    assert_eq!(jwks.hits().await, 0);
    // …the (background) refresh loads the keys
    g.refresh_keys().await.unwrap();
    assert!(g.authenticate(&t).await.user().is_some());
    assert_eq!(g.key_status().source, KeySource::Fetched);

    // after the cooldown, the next token loads them itself
    let mut s = settings(&jwks);
    s.unknown_kid_cooldown = Duration::ZERO;
    jwks.respond(ResponseTemplate::new(503)).await;
    let g = guard(s).await;
    jwks.serve(vec![jwk_a()]).await;
    assert!(g.authenticate(&t).await.user().is_some());
}

#[tokio::test]
async fn jwks_down_at_start_up_with_a_snapshot_serves_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("jwks.snapshot.json");
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.snapshot_path = Some(snap.clone());
    let _first = guard(s.clone()).await;
    // written atomically: the file is complete, no temporary file is left
    let saved: Value = serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
    assert_eq!(saved["keys"][0]["kid"], "a");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    jwks.respond(ResponseTemplate::new(500)).await;
    let g = guard(s).await;
    let st = g.key_status();
    assert_eq!((st.keys, st.source), (1, KeySource::Snapshot));
    assert!(st.last_error.is_some());
    assert!(g.authenticate(&token(&claims())).await.user().is_some());
}

#[tokio::test]
async fn the_snapshot_folder_is_created_on_a_fresh_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir
        .path()
        .join(".authgate")
        .join("nested")
        .join("jwks.json");
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.snapshot_path = Some(snap.clone());
    let _g = guard(s).await;
    let saved: Value = serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
    assert_eq!(saved["keys"][0]["kid"], "a");
}

#[tokio::test]
async fn a_corrupt_snapshot_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.json");
    std::fs::write(&snap, b"{\"keys\": [tru").unwrap();
    let jwks = JwksServer::start(vec![]).await;
    jwks.respond(ResponseTemplate::new(500)).await;
    let mut s = settings(&jwks);
    s.snapshot_path = Some(snap);
    let g = guard(s).await;
    assert_eq!(g.key_status().source, KeySource::None);
    assert_eq!(
        rejection(&g.authenticate(&token(&claims())).await),
        Some(Rejection::KeysUnavailable)
    );
}

#[tokio::test]
async fn jwks_down_later_keeps_the_last_good_keys() {
    let (jwks, g) = standard().await;
    jwks.respond(ResponseTemplate::new(502)).await;
    assert!(g.refresh_keys().await.is_err());
    let st = g.key_status();
    assert_eq!((st.keys, st.source), (2, KeySource::Fetched));
    assert!(st.last_error.as_deref().unwrap().contains("502"));
    assert!(g.authenticate(&token(&claims())).await.user().is_some());

    // a key set with no usable key does not replace good keys either
    jwks.serve(vec![jwk(&key_weak(), json!({"kid": "weak"}))])
        .await;
    assert!(g.refresh_keys().await.is_err());
    assert_eq!(g.key_status().keys, 2);
    // nor does a 404 (not retried)
    jwks.respond(ResponseTemplate::new(404)).await;
    assert!(g.refresh_keys().await.is_err());
    assert_eq!(jwks.hits().await, 1, "4xx is not retried");
    assert_eq!(g.key_status().keys, 2);
}

#[tokio::test]
async fn a_slow_endpoint_times_out_and_is_retried() {
    let jwks = JwksServer::start(vec![]).await;
    jwks.respond(
        ResponseTemplate::new(200)
            .set_delay(Duration::from_secs(3))
            .set_body_json(json!({"keys": [jwk_a()]})),
    )
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let g = authgate::auth::Authenticator::new(settings(&jwks), http, memory_store()).await;
    assert_eq!(g.key_status().keys, 0);
    assert_eq!(jwks.hits().await, 3);
}

#[tokio::test]
async fn an_unknown_kid_flood_causes_exactly_one_fetch() {
    let (jwks, g) = standard().await;
    jwks.respond(
        ResponseTemplate::new(200)
            .set_delay(Duration::from_millis(200))
            .set_body_json(json!({"keys": [jwk_a(), jwk_b()]})),
    )
    .await;
    let tokens: Vec<String> = (0..100)
        .map(|i| {
            sign_raw(
                &key_a(),
                &json!({"alg": "RS256", "kid": format!("unknown-{i}")}),
                &claims(),
            )
        })
        .collect();
    let results = join_all(tokens.iter().map(|t| g.authenticate(t))).await;
    assert!(results
        .iter()
        .all(|p| rejection(p) == Some(Rejection::Invalid)));
    assert_eq!(jwks.hits().await, 1);
    // within the cooldown, a second flood fetches nothing
    let results = join_all(tokens.iter().map(|t| g.authenticate(t))).await;
    assert!(results
        .iter()
        .all(|p| rejection(p) == Some(Rejection::Invalid)));
    assert_eq!(jwks.hits().await, 1);
}

#[tokio::test]
async fn concurrent_tokens_with_a_new_kid_share_one_fetch_and_all_pass() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let g = guard(settings(&jwks)).await;
    jwks.respond(
        ResponseTemplate::new(200)
            .set_delay(Duration::from_millis(200))
            .set_body_json(json!({"keys": [jwk_a(), jwk_b()]})),
    )
    .await;
    let tokens: Vec<String> = (0..100)
        .map(|i| {
            sign_raw(
                &key_b(),
                &json!({"alg": "RS256", "kid": "b"}),
                &with(claims(), json!({"jti": i.to_string()})),
            )
        })
        .collect();
    let results = join_all(tokens.iter().map(|t| g.authenticate(t))).await;
    assert!(results.iter().all(|p| p.user().is_some()));
    assert_eq!(jwks.hits().await, 1);
}

#[tokio::test]
async fn a_hanging_jwks_endpoint_holds_an_unknown_kid_for_refetch_wait_at_most() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.refetch_wait = Duration::from_millis(200);
    let g = guard(s).await;
    // keys in hand; the endpoint now hangs (each attempt times out after 2 s)
    jwks.respond(
        ResponseTemplate::new(200)
            .set_delay(Duration::from_secs(60))
            .set_body_json(json!({"keys": [jwk_a(), jwk_b()]})),
    )
    .await;
    let tokens: Vec<String> = (0..20).map(|_| token_b()).collect();
    let started = std::time::Instant::now();
    let results = join_all(tokens.iter().map(|t| g.authenticate(t))).await;
    let took = started.elapsed();
    assert!(results
        .iter()
        .all(|p| rejection(p) == Some(Rejection::Invalid)));
    // 200 ms allowed; the whole fetch (3 attempts of 2 s) would take 6 s
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    // tokens of a known key are unaffected
    assert!(g.authenticate(&token(&claims())).await.user().is_some());
}

#[tokio::test]
async fn a_slow_refetch_goes_on_in_the_background_and_installs_the_new_key() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.refetch_wait = Duration::from_millis(50);
    let g = guard(s).await;
    jwks.respond(
        ResponseTemplate::new(200)
            .set_delay(Duration::from_millis(700))
            .set_body_json(json!({"keys": [jwk_a(), jwk_b()]})),
    )
    .await;
    assert_eq!(
        rejection(&g.authenticate(&token_b()).await),
        Some(Rejection::Invalid)
    );
    // joins the refetch still in flight (no second request)
    g.refresh_keys().await.unwrap();
    assert_eq!(jwks.hits().await, 1);
    assert!(g.authenticate(&token_b()).await.user().is_some());
}

#[tokio::test]
async fn a_static_jwks_file_needs_no_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({"keys": [jwk_a()]})).unwrap(),
    )
    .unwrap();
    let mut s = authgate::auth::GuardSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_file: Some(file),
        ..Default::default()
    };
    assert!(s.validate().is_ok());
    s.cache_max_bytes = 0;
    let g = guard(s).await;
    assert_eq!(g.key_status().source, KeySource::File);
    assert!(g.authenticate(&token(&claims())).await.user().is_some());
}

#[tokio::test]
async fn the_checked_in_fixture_jwks_matches_the_keys() {
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/guard/jwks.json");
    let g = guard(authgate::auth::GuardSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_file: Some(file),
        ..Default::default()
    })
    .await;
    assert_eq!(g.key_status().kids, ["test-a", "test-b"]);
    let t = sign_raw(
        &key_a(),
        &json!({"alg": "RS256", "kid": "test-a"}),
        &claims(),
    );
    assert!(g.authenticate(&t).await.user().is_some());
}

#[tokio::test]
async fn the_refresh_loop_refreshes_and_stops_when_the_guard_is_dropped() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.refresh_interval = Duration::from_millis(20);
    let g = guard(s).await;
    let handle = g.spawn_refresh();
    tokio::time::timeout(Duration::from_secs(10), async {
        while jwks.hits().await < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the loop refreshes on its interval");
    drop(g);
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the loop ends once the guard is dropped")
        .unwrap();
}
