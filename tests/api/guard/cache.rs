//! The verified-token cache and the negative cache.

use authgate::auth::Rejection;
use serde_json::json;

use super::*;

#[tokio::test]
async fn a_cached_token_is_not_verified_again() {
    let (_jwks, g) = standard().await;
    let t = token(&claims());
    for _ in 0..5 {
        assert!(g.authenticate(&t).await.user().is_some());
    }
    let st = g.stats();
    assert_eq!(st.verifications, 1);
    assert_eq!(st.cache_hits, 4);
}

#[tokio::test]
async fn with_the_cache_off_every_call_verifies() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.cache_max_bytes = 0;
    let g = guard(s).await;
    let t = token(&claims());
    for _ in 0..3 {
        assert!(g.authenticate(&t).await.user().is_some());
    }
    assert_eq!(g.stats().verifications, 3);
    assert_eq!(g.stats().cache_hits, 0);
}

#[tokio::test]
async fn a_cached_token_whose_key_was_removed_is_refused() {
    let (jwks, g) = standard().await;
    let t = token(&claims());
    assert!(g.authenticate(&t).await.user().is_some());
    jwks.serve(vec![jwk_b()]).await;
    g.refresh_keys().await.unwrap();
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Invalid)
    );
}

#[tokio::test]
async fn a_key_replaced_under_the_same_kid_invalidates_its_tokens() {
    let (jwks, g) = standard().await;
    let t = token(&claims());
    assert!(g.authenticate(&t).await.user().is_some());
    // kid "a" now names key b's material
    jwks.serve(vec![jwk(&key_b(), json!({"kid": "a"}))]).await;
    g.refresh_keys().await.unwrap();
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Invalid)
    );
}

#[tokio::test]
async fn a_replayed_bad_signature_is_answered_without_verifying_again() {
    let (_jwks, g) = standard().await;
    let forged = sign_raw(&key_b(), &json!({"alg": "RS256", "kid": "a"}), &claims());
    for _ in 0..5 {
        assert_eq!(
            rejection(&g.authenticate(&forged).await),
            Some(Rejection::Invalid)
        );
    }
    assert_eq!(g.stats().verifications, 1);
    let expired = token(&with(claims(), json!({"exp": now() - 600})));
    for _ in 0..3 {
        assert_eq!(
            rejection(&g.authenticate(&expired).await),
            Some(Rejection::Expired)
        );
    }
    assert_eq!(g.stats().verifications, 2);
}

#[tokio::test]
async fn garbage_never_reaches_signature_verification() {
    let (jwks, g) = standard().await;
    let garbage: Vec<String> = (0..1000).map(|i| format!("{i}.{i}.{i}")).collect();
    for t in &garbage {
        assert_eq!(
            rejection(&g.authenticate(t).await),
            Some(Rejection::Invalid)
        );
    }
    assert_eq!(g.stats().verifications, 0);
    assert_eq!(jwks.hits().await, 1, "only the initial load");
}

#[tokio::test]
async fn the_cache_is_bounded_by_bytes_not_entries() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.cache_max_bytes = 32 * 1024;
    let g = guard(s).await;
    let tokens: Vec<String> = (0..40)
        .map(|i| {
            let mut c = claims();
            c["sub"] = json!(format!("auth0|{i}"));
            token(&c)
        })
        .collect();
    for t in &tokens {
        let p = g.authenticate(t).await;
        // the principal carries this request's token, not a cached copy
        assert_eq!(user(&p).token.expose(), t);
    }
    let usage = g.cache_usage();
    assert!(usage.bytes <= 32 * 1024, "{usage:?} exceeds the budget");
    assert!(
        usage.entries > 0 && usage.entries < 40,
        "{usage:?}: the budget, not the count, bounds the cache"
    );
    // an entry is compact: the claims once, no raw token (an entry that held
    // the whole User used to cost about 5.4 KB)
    assert!(usage.bytes / usage.entries < 4 * 1024, "{usage:?}");
    // a token still cached is answered from the cache, with its own token
    let before = g.stats().cache_hits;
    for t in &tokens {
        let p = g.authenticate(t).await;
        assert_eq!(user(&p).token.expose(), t);
    }
    assert!(g.stats().cache_hits > before);
}

#[tokio::test]
async fn the_deprecated_entry_count_still_turns_the_cache_off() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.cache_capacity = Some(0);
    let g = guard(s).await;
    let t = token(&claims());
    for _ in 0..2 {
        assert!(g.authenticate(&t).await.user().is_some());
    }
    assert_eq!(g.stats().cache_hits, 0);
    assert_eq!(g.cache_usage(), authgate::auth::CacheUsage::default());
}
