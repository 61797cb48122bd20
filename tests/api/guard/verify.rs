//! One test per verification rule (the corpus test covers the refusals in bulk).

use std::time::Duration;

use authgate::auth::Rejection;
use serde_json::json;

use super::*;

#[tokio::test]
async fn a_valid_token_becomes_a_principal_with_every_field() {
    let (_jwks, g) = standard().await;
    // one set of claims: `claims()` reads the clock, and a second may pass
    let c = claims();
    let t = token(&c);
    let p = g.authenticate(&t).await;
    let u = user(&p);
    assert_eq!(u.subject, "auth0|42");
    assert_eq!(u.scopes, ["openid", "profile", "read:things"]);
    assert_eq!(u.permissions, ["read:things", "write:things"]);
    assert_eq!(u.roles, ["admin", "editor"]);
    assert_eq!(u.claims["gty"], "password");
    assert_eq!(u.expires_at, c["exp"].as_u64().unwrap());
    let expected_id = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(t.as_bytes()))
    };
    assert_eq!(u.token_id, expected_id);
    assert_eq!(u.token.expose(), t);
    // the token never shows in Debug output
    assert!(!format!("{p:?}").contains(&t));
}

#[tokio::test]
async fn roles_come_from_the_configured_claim() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.roles_claim = "https://other.example/groups".into();
    let g = guard(s).await;
    let c = with(claims(), json!({"https://other.example/groups": ["ops"]}));
    assert_eq!(user(&g.authenticate(&token(&c)).await).roles, ["ops"]);
}

#[tokio::test]
async fn aud_may_be_a_string_or_an_array_containing_the_audience() {
    let (_jwks, g) = standard().await;
    let single = with(claims(), json!({"aud": AUDIENCE}));
    assert!(g.authenticate(&token(&single)).await.user().is_some());
    let array = with(claims(), json!({"aud": ["https://other", AUDIENCE]}));
    assert!(g.authenticate(&token(&array)).await.user().is_some());
    let other = with(
        claims(),
        json!({"aud": ["https://other", "https://tenant.test/userinfo"]}),
    );
    assert_eq!(
        rejection(&g.authenticate(&token(&other)).await),
        Some(Rejection::Invalid)
    );
}

#[tokio::test]
async fn issuer_must_match_exactly_including_the_trailing_slash() {
    let (_jwks, g) = standard().await;
    for iss in [
        "https://tenant.test",
        "https://tenant.test//",
        "https://TENANT.test/",
        "https://evil.test/",
    ] {
        let t = token(&with(claims(), json!({ "iss": iss })));
        assert_eq!(
            rejection(&g.authenticate(&t).await),
            Some(Rejection::Invalid),
            "{iss}"
        );
    }
}

#[tokio::test]
async fn exp_within_leeway_passes_beyond_is_expired() {
    let (_jwks, g) = standard().await;
    let n = now();
    let recent = token(&with(claims(), json!({"exp": n - 10, "iat": n - 100})));
    assert!(g.authenticate(&recent).await.user().is_some());
    let old = token(&with(claims(), json!({"exp": n - 120, "iat": n - 200})));
    assert_eq!(
        rejection(&g.authenticate(&old).await),
        Some(Rejection::Expired)
    );
}

#[tokio::test]
async fn leeway_is_configurable() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.leeway = Duration::ZERO;
    let g = guard(s).await;
    let n = now();
    let t = token(&with(claims(), json!({"exp": n - 5, "iat": n - 100})));
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Expired)
    );
    let t = token(&with(claims(), json!({"nbf": n + 5})));
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Invalid)
    );
}

#[tokio::test]
async fn nbf_and_iat_in_the_future_beyond_leeway_are_refused() {
    let (_jwks, g) = standard().await;
    let n = now();
    let ok = token(&with(claims(), json!({"nbf": n + 10, "iat": n + 10})));
    assert!(g.authenticate(&ok).await.user().is_some());
    let nbf = token(&with(claims(), json!({"nbf": n + 600})));
    assert_eq!(
        rejection(&g.authenticate(&nbf).await),
        Some(Rejection::Invalid)
    );
    let iat = token(&with(claims(), json!({"iat": n + 600})));
    assert_eq!(
        rejection(&g.authenticate(&iat).await),
        Some(Rejection::Invalid)
    );
}

#[tokio::test]
async fn an_expired_token_with_another_defect_is_invalid_not_expired() {
    let (_jwks, g) = standard().await;
    let n = now();
    let t = token(&with(
        claims(),
        json!({"exp": n - 1000, "aud": "https://other"}),
    ));
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Invalid)
    );
    // signed by the wrong key: the signature is checked before expiry
    let t = sign_raw(
        &key_b(),
        &json!({"alg": "RS256", "kid": "a"}),
        &with(claims(), json!({"exp": n - 1000})),
    );
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Invalid)
    );
}

#[tokio::test]
async fn a_token_without_kid_is_tried_only_with_exactly_one_key() {
    let one = JwksServer::start(vec![jwk_a()]).await;
    let g = guard(settings(&one)).await;
    let t = sign_raw(&key_a(), &json!({"alg": "RS256"}), &claims());
    assert!(g.authenticate(&t).await.user().is_some());

    let (_two, g) = standard().await;
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Invalid)
    );
}

#[tokio::test]
async fn algorithms_are_pinned_by_config_and_by_the_key() {
    let jwks = JwksServer::start(vec![jwk_a(), jwk_b()]).await;
    let mut s = settings(&jwks);
    s.algorithms = vec!["RS256".into(), "RS512".into()];
    let g = guard(s).await;
    // key b declares no alg: RS512 is allowed by config
    let t = sign_raw(&key_b(), &json!({"alg": "RS512", "kid": "b"}), &claims());
    assert!(g.authenticate(&t).await.user().is_some());
    // key a declares RS256: an RS512 token naming it is refused
    let t = sign_raw(&key_a(), &json!({"alg": "RS512", "kid": "a"}), &claims());
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Invalid)
    );

    // default config: RS256 only
    let (_jwks, g) = standard().await;
    let t = sign_raw(&key_b(), &json!({"alg": "RS512", "kid": "b"}), &claims());
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Invalid)
    );
}

#[tokio::test]
async fn typ_at_jwt_is_accepted() {
    let (_jwks, g) = standard().await;
    let t = sign_raw(
        &key_a(),
        &json!({"alg": "RS256", "kid": "a", "typ": "at+jwt"}),
        &claims(),
    );
    assert!(g.authenticate(&t).await.user().is_some());
}

#[tokio::test]
async fn max_token_bytes_is_configurable_and_checked_first() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.max_token_bytes = 600;
    let g = guard(s).await;
    let t = token(&claims());
    assert!(t.len() > 600);
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Invalid)
    );
    assert_eq!(
        g.stats().verifications,
        0,
        "refused before any verification"
    );
}

#[tokio::test]
async fn revoked_tokens_are_refused_even_from_the_cache() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let store = memory_store();
    let g = authgate::auth::Authenticator::new(settings(&jwks), http(), store.clone()).await;
    let t = token(&claims());
    let id = user(&g.authenticate(&t).await).token_id.clone();
    store.revoke(&id, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        rejection(&g.authenticate(&t).await),
        Some(Rejection::Revoked)
    );
    assert!(g.stats().cache_hits >= 1, "the second call was a cache hit");
    // another token of the same user is unaffected
    let other = token(&with(claims(), json!({"jti": "2"})));
    assert!(g.authenticate(&other).await.user().is_some());
}

#[tokio::test]
async fn a_store_outage_fails_closed() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let g = authgate::auth::Authenticator::new(settings(&jwks), http(), Arc::new(DownStore)).await;
    let p = g.authenticate(&token(&claims())).await;
    assert_eq!(rejection(&p), Some(Rejection::StoreUnavailable));
    assert_eq!(Rejection::StoreUnavailable.reason(), "STORE_UNAVAILABLE");
}
