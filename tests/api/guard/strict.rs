//! No ambiguity: a correctly signed token whose JSON says a thing twice, or
//! says it with the wrong type, is invalid (never "the last one wins").

use authgate::auth::Rejection;
use serde_json::json;

use super::*;

/// The usual claims as JSON text, with `extra` members appended verbatim
/// (so that a member already present appears twice).
fn claims_text(extra: &str) -> String {
    let base = claims().to_string();
    format!("{},{extra}}}", &base[..base.len() - 1])
}

#[tokio::test]
async fn duplicate_header_members_make_a_signed_token_invalid() {
    let (_jwks, g) = standard().await;
    let body = claims().to_string();
    // the control: the same header without the duplicate passes
    let ok = sign_text(&key_a(), r#"{"alg":"RS256","kid":"a"}"#, &body);
    assert!(g.authenticate(&ok).await.user().is_some());
    for header in [
        r#"{"alg":"none","alg":"RS256","kid":"a"}"#,
        r#"{"alg":"RS256","kid":"b","kid":"a"}"#,
        r#"{"alg":"RS256","kid":"a","typ":"JWT","typ":"JWT"}"#,
    ] {
        let t = sign_text(&key_a(), header, &body);
        assert_eq!(
            rejection(&g.authenticate(&t).await),
            Some(Rejection::Invalid),
            "{header}"
        );
    }
}

#[tokio::test]
async fn duplicate_claims_make_a_signed_token_invalid_and_are_never_cached() {
    let (_jwks, g) = standard().await;
    let header = r#"{"alg":"RS256","kid":"a"}"#;
    for extra in [
        r#""sub":"auth0|admin""#,
        r#""aud":"https://api.test""#,
        r#""exp":4102444800"#,
        r#""x":{"y":1,"y":2}"#,
    ] {
        let t = sign_text(&key_a(), header, &claims_text(extra));
        for _ in 0..2 {
            assert_eq!(
                rejection(&g.authenticate(&t).await),
                Some(Rejection::Invalid),
                "{extra}"
            );
        }
    }
    assert_eq!(g.stats().cache_hits, 0);
}

#[tokio::test]
async fn claims_of_the_wrong_json_type_make_a_token_invalid() {
    let (_jwks, g) = standard().await;
    for change in [
        json!({"aud": [AUDIENCE, 1]}),
        json!({"aud": [AUDIENCE, {"x": 1}]}),
        json!({"scope": ["read:things"]}),
        json!({"permissions": ["read:things", null]}),
        json!({"permissions": {"read:things": true}}),
        json!({ROLES: ["admin", 7]}),
        json!({"azp": 5}),
        json!({"jti": 5}),
    ] {
        let t = token(&with(claims(), change.clone()));
        assert_eq!(
            rejection(&g.authenticate(&t).await),
            Some(Rejection::Invalid),
            "{change}"
        );
    }
}
