//! `me`: profile fields from `/userinfo` when asked for, cached.

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::login::jwt_claims;
use super::{error, login, me, ok, s, spawn_double, USER};
use crate::helpers::spawn_full;

#[tokio::test]
async fn me_reads_profile_fields_from_userinfo() {
    let app = spawn_full(|_| {}).await;
    let p = ok(&login(&app, USER.0, USER.1).await, "login").clone();
    let at = s(&p, "accessToken");
    let claims = jwt_claims(at);
    assert!(
        claims.get("email").is_none() && claims.get("name").is_none(),
        "{claims:#}"
    );
    let g = me(&app, at).await;
    let v = ok(&g, "me");
    assert_eq!(v["id"], claims["sub"]);
    assert_eq!(v["email"], USER.0);
    assert_eq!(v["emailVerified"], true);
    assert_eq!(v["name"], "Uma User");
    assert_eq!(v["roles"], json!(["user"]));
    assert_eq!(v["permissions"], json!(["read:orders"]));
    assert!(v["claims"].get("email").is_none());

    // no token: 401 TOKEN_MISSING; a garbage token: TOKEN_INVALID
    let g = app.gql("{ me { id } }", json!({}), None).await;
    assert_eq!(g.status, 401);
    assert_eq!(
        error(&g, "UNAUTHENTICATED")["extensions"]["reason"],
        "TOKEN_MISSING"
    );
    let g = app.gql("{ me { id } }", json!({}), Some("not-a-jwt")).await;
    assert_eq!(
        error(&g, "UNAUTHENTICATED")["extensions"]["reason"],
        "TOKEN_INVALID"
    );
}

#[tokio::test]
async fn userinfo_is_called_only_when_needed_and_cached() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        // the guard double's principal for bearer `user` holds this token
        .and(header("authorization", "Bearer token-auth0|user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sub": "auth0|user", "name": "Uma From Userinfo", "nickname": "uma",
            "picture": "https://example.com/uma.png"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let app = spawn_double(&server, |_| {}).await;

    // claims the token carries: no /userinfo call
    let g = app
        .gql("{ me { id roles email } }", json!({}), Some("user"))
        .await;
    let v = ok(&g, "me");
    assert_eq!(v["id"], "auth0|user");
    assert_eq!(v["email"], "ada@example.com");
    assert!(server.received_requests().await.unwrap().is_empty());

    // profile fields: one call, then the cache
    for _ in 0..3 {
        let g = app
            .gql(
                "{ me { id name nickname picture } }",
                json!({}),
                Some("user"),
            )
            .await;
        let v = ok(&g, "me");
        assert_eq!(v["name"], "Uma From Userinfo");
        assert_eq!(v["nickname"], "uma");
        assert_eq!(v["picture"], "https://example.com/uma.png");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    server.verify().await;
}

#[tokio::test]
async fn a_client_credentials_token_is_not_a_user() {
    let app = spawn_full(|_| {}).await;
    let token = crate::invites::clients::client_credentials_token(&app.emulator).await;
    let g = me(&app, &token).await;
    let e = error(&g, "FORBIDDEN");
    assert!(e["message"].as_str().unwrap().contains("client"), "{e}");
    assert!(g.body["data"]["me"].is_null(), "{:#}", g.body);
    // a user's token still answers
    let p = ok(&login(&app, USER.0, USER.1).await, "login").clone();
    ok(&me(&app, s(&p, "accessToken")).await, "me");
}
