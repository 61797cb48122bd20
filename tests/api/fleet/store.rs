//! The Redis backend against a real redis-server.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use authgate::secret::Secret;
use authgate::store::{RedisStore, Store, StoreBackend, StoreSettings};

use super::{redis_url, unique_prefix};

fn settings(url: &str) -> StoreSettings {
    StoreSettings {
        backend: StoreBackend::Redis,
        url: Some(Secret::new(url)),
        key_prefix: unique_prefix(),
        local_cache_ttl: Duration::ZERO,
        ..Default::default()
    }
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn revocations_are_set_with_the_token_lifetime() {
    let url = redis_url();
    let s = settings(&url);
    let store = RedisStore::connect(&s).unwrap();
    assert_eq!(store.backend(), "redis");
    store.ping().await.unwrap();
    assert!(!store.is_revoked("tok-a").await.unwrap());
    store
        .revoke("tok-a", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(store.is_revoked("tok-a").await.unwrap());
    assert!(!store.is_revoked("tok-b").await.unwrap());

    // the key lives exactly as long as asked, under the prefix
    let mut c = raw(&url).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}revoked:tok-a", s.key_prefix))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 60_000, "pttl {pttl}");

    // another replica (a second store on the same server) sees it
    let other = RedisStore::connect(&s).unwrap();
    assert!(other.is_revoked("tok-a").await.unwrap());

    // an expired revocation is gone (Redis expires it; simulated by PEXPIRE 1)
    let _: () = redis::cmd("PEXPIRE")
        .arg(format!("{}revoked:tok-a", s.key_prefix))
        .arg(1)
        .query_async(&mut c)
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..200 {
        let exists: bool = redis::cmd("EXISTS")
            .arg(format!("{}revoked:tok-a", s.key_prefix))
            .query_async(&mut c)
            .await
            .unwrap();
        if !exists {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(gone, "the revocation did not expire");
    // a replica that never saw it revoked asks Redis: not revoked any more
    // (one that did keeps saying so: harmless, the token has expired too)
    let fresh = RedisStore::connect(&s).unwrap();
    assert!(!fresh.is_revoked("tok-a").await.unwrap());
}

#[tokio::test]
async fn counters_are_atomic_under_100_concurrent_hits() {
    let url = redis_url();
    let store = Arc::new(RedisStore::connect(&settings(&url)).unwrap());
    let window = Duration::from_secs(60);
    let hits = futures::future::join_all((0..100).map(|_| {
        let s = store.clone();
        async move { s.hit("login:account:x@example.com", window).await.unwrap() }
    }))
    .await;
    let counts: BTreeSet<u64> = hits.iter().map(|h| h.count).collect();
    assert_eq!(
        counts,
        (1..=100).collect::<BTreeSet<u64>>(),
        "each hit got its own count"
    );
    assert!(hits
        .iter()
        .all(|h| h.resets_in > Duration::ZERO && h.resets_in <= window));
    // the window is fixed: a later hit does not extend it
    let next = store
        .hit("login:account:x@example.com", window)
        .await
        .unwrap();
    assert_eq!(next.count, 101);
    assert!(next.resets_in <= hits[0].resets_in);
    store.reset("login:account:x@example.com").await.unwrap();
    assert_eq!(
        store
            .hit("login:account:x@example.com", window)
            .await
            .unwrap()
            .count,
        1
    );
    // other keys are separate
    assert_eq!(store.hit("other", window).await.unwrap().count, 1);
}

#[tokio::test]
async fn an_unreachable_redis_fails_closed_unless_configured_open() {
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let mut s = settings(&url);
    let closed = RedisStore::connect(&s).unwrap();
    let err = closed.is_revoked("t").await.unwrap_err().to_string();
    assert!(err.contains("store unavailable"), "{err}");
    assert!(closed.ping().await.is_err());
    assert!(closed.hit("k", Duration::from_secs(1)).await.is_err());
    s.revocation_fail_open = true;
    let open = RedisStore::connect(&s).unwrap();
    assert!(!open.is_revoked("t").await.unwrap());
}

#[tokio::test]
async fn errors_never_show_the_password_in_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = settings(&format!("redis://:hunter2@127.0.0.1:{port}"));
    let store = RedisStore::connect(&s).unwrap();
    let err = store.ping().await.unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!format!("{store:?}").contains("hunter2"));
    assert!(!format!("{s:?}").contains("hunter2"));
}

/// The store fails the new token's revocation check after the grant (it went
/// down in between): the refresh token the identity provider issued is
/// revoked there, not dropped while still live.
#[tokio::test]
async fn a_login_that_fails_after_the_grant_revokes_its_refresh_token() {
    use authgate::auth::Authenticate;
    use authgate::auth::{Principal, Rejection};

    struct StoreDownGuard;
    #[async_trait::async_trait]
    impl Authenticate for StoreDownGuard {
        async fn authenticate(&self, _token: &str) -> Principal {
            Principal::rejected(Rejection::StoreUnavailable)
        }
    }

    let mut s = crate::helpers::full_settings();
    s.metrics.enabled = true;
    s.metrics.listen = "127.0.0.1:0".parse().unwrap();
    let app = authgate::Application::builder(s)
        .authenticator(Arc::new(StoreDownGuard))
        .build()
        .await
        .expect("the app builds");
    let metrics = app.metrics_addr().expect("the metrics listener is bound");
    let app = crate::helpers::TestApp::serve(app);
    let r = super::login(&app, super::ADMIN.0, super::ADMIN.1).await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE", "{}", r.body);
    assert_eq!(
        r.body["errors"][0]["extensions"]["reason"],
        "STORE_UNAVAILABLE"
    );
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v = |series: &str| super::sample(&text, series);
    assert_eq!(
        v(r#"authgate_idp_requests_total{endpoint="token_password",status="ok"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        v(r#"authgate_idp_requests_total{endpoint="revoke",status="ok"}"#),
        1.0,
        "the issued refresh token is revoked: {text}"
    );
}
