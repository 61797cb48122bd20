//! ID-token verification for the login mutation.

use authgate::auth::{Rejection, VerifyError};
use serde_json::json;

use super::*;

fn id_claims() -> Value {
    let n = now();
    json!({
        "iss": ISSUER, "sub": "auth0|42", "aud": CLIENT_ID, "iat": n, "exp": n + 36000,
        "email": "a@example.com", "email_verified": true, "name": "A"
    })
}

#[tokio::test]
async fn a_valid_id_token_yields_its_claims() {
    let (_jwks, g) = standard().await;
    let c = g.verify_id_token(&token(&id_claims())).await.unwrap();
    assert_eq!(c["email"], "a@example.com");
    assert_eq!(c["sub"], "auth0|42");
}

#[tokio::test]
async fn an_id_token_is_not_an_access_token_and_vice_versa() {
    let (_jwks, g) = standard().await;
    let id = token(&id_claims());
    assert_eq!(
        rejection(&g.authenticate(&id).await),
        Some(Rejection::Invalid)
    );
    let access = token(&claims());
    assert!(matches!(
        g.verify_id_token(&access).await,
        Err(VerifyError::Invalid(_))
    ));
}

#[tokio::test]
async fn id_token_checks() {
    let (_jwks, g) = standard().await;
    let n = now();
    let expired = token(&with(id_claims(), json!({"exp": n - 600})));
    assert_eq!(g.verify_id_token(&expired).await, Err(VerifyError::Expired));
    let wrong_iss = token(&with(id_claims(), json!({"iss": "https://evil.test/"})));
    assert!(matches!(
        g.verify_id_token(&wrong_iss).await,
        Err(VerifyError::Invalid(_))
    ));
    // several audiences: azp must be the client id
    let multi = with(id_claims(), json!({"aud": [CLIENT_ID, "other"]}));
    assert!(g.verify_id_token(&token(&multi)).await.is_err());
    let multi_azp = with(multi, json!({"azp": CLIENT_ID}));
    assert!(g.verify_id_token(&token(&multi_azp)).await.is_ok());
    let forged = sign_raw(&key_b(), &json!({"alg": "RS256", "kid": "a"}), &id_claims());
    assert!(g.verify_id_token(&forged).await.is_err());
}

#[tokio::test]
async fn without_a_client_id_id_tokens_cannot_be_verified() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let mut s = settings(&jwks);
    s.client_id = None;
    let g = guard(s).await;
    assert_eq!(
        g.verify_id_token(&token(&id_claims())).await,
        Err(VerifyError::NotConfigured)
    );
}
