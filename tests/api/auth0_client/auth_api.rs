//! What the Authentication API client sends, and how it reads successes.

use authgate::auth0::{CallContext, IdentityProvider, SignupRequest};
use authgate::secret::Secret;
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::helpers::*;

#[tokio::test]
async fn signup_sends_json_with_client_id_connection_and_forwarded_ip() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/dbconnections/signup"))
        .and(header("content-type", "application/json"))
        .and(header("auth0-forwarded-for", "203.0.113.7"))
        .and(body_partial_json(json!({
            "client_id": CLIENT_ID,
            "connection": "Username-Password-Authentication",
            "email": "new@example.com",
            "password": "Pa55word!x",
            "given_name": "Ada",
            "user_metadata": {"plan": "free"}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "_id": "668fbaab724b1bf53b436691",
            "email": "new@example.com",
            "email_verified": false
        })))
        .expect(1)
        .mount(&server)
        .await;

    let mut req = SignupRequest::new("new@example.com", Secret::new("Pa55word!x"));
    req.given_name = Some("Ada".into());
    req.user_metadata = Some(json!({"plan": "free"}).as_object().unwrap().clone());
    let created = client(&server).signup(&req, &ctx()).await.unwrap();
    assert_eq!(created.user_id, "auth0|668fbaab724b1bf53b436691");
    assert_eq!(created.email, "new@example.com");
    assert!(!created.email_verified);
}

#[tokio::test]
async fn signup_accepts_id_and_user_id() {
    for (body, expected) in [
        (
            json!({"id": "abc", "email": "a@example.com", "email_verified": true}),
            "auth0|abc",
        ),
        (
            json!({"user_id": "auth0|xyz", "email": "a@example.com"}),
            "auth0|xyz",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(path("/dbconnections/signup"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        let req = SignupRequest::new("a@example.com", Secret::new("pw"));
        let created = client(&server).signup(&req, &ctx()).await.unwrap();
        assert_eq!(created.user_id, expected);
    }
}

#[tokio::test]
async fn login_uses_password_grant_with_audience_scope_and_client_secret_post() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("auth0-forwarded-for", "203.0.113.7"))
        .and(form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", "correct horse"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("audience", AUDIENCE),
            ("scope", "openid profile email offline_access"),
        ]))
        .and(FormLacks("realm"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", Some("rt-1"))))
        .expect(1)
        .mount(&server)
        .await;

    let tokens = client(&server)
        .password_login("ada@example.com", &Secret::new("correct horse"), &ctx())
        .await
        .unwrap();
    assert_eq!(tokens.access_token.expose(), "at-1");
    assert_eq!(tokens.refresh_token.as_ref().unwrap().expose(), "rt-1");
    assert_eq!(tokens.id_token.as_ref().unwrap().expose(), "eyJ.id.token");
    assert_eq!(tokens.expires_in, 86400);
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(
        tokens.scope.as_deref(),
        Some("openid profile email offline_access")
    );
}

#[tokio::test]
async fn login_with_realm_uses_password_realm_grant() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .and(form(&[
            (
                "grant_type",
                "http://auth0.com/oauth/grant-type/password-realm",
            ),
            ("realm", "Staff-DB"),
            ("audience", AUDIENCE),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at", "expires_in": 60, "token_type": "Bearer"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut s = settings(&server);
    s.realm = Some("Staff-DB".into());
    let tokens = client_with(s)
        .password_login("ada@example.com", &Secret::new("pw"), &ctx())
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_none());
    assert!(tokens.id_token.is_none());
    assert_eq!(tokens.expires_in, 60);
}

#[tokio::test]
async fn forwarded_for_is_omitted_when_disabled_or_unknown() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .and(NoHeader("auth0-forwarded-for"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at", None)))
        .expect(2)
        .mount(&server)
        .await;
    let mut s = settings(&server);
    s.send_forwarded_for = false;
    client_with(s)
        .password_login("a@example.com", &Secret::new("pw"), &ctx())
        .await
        .unwrap();
    client(&server)
        .password_login("a@example.com", &Secret::new("pw"), &CallContext::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn refresh_uses_refresh_token_grant() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .and(form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt-old"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-2", Some("rt-new"))))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = client(&server)
        .refresh(&Secret::new("rt-old"), &ctx())
        .await
        .unwrap();
    assert_eq!(tokens.refresh_token.unwrap().expose(), "rt-new");
}

#[tokio::test]
async fn revoke_sends_json_and_accepts_an_empty_200() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token": "rt-1"
        })))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .revoke_refresh_token(&Secret::new("rt-1"), &ctx())
        .await
        .unwrap();
}

#[tokio::test]
async fn change_password_sends_json_and_accepts_a_text_200() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/dbconnections/change_password"))
        .and(body_partial_json(json!({
            "client_id": CLIENT_ID,
            "email": "ada@example.com",
            "connection": "Username-Password-Authentication"
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html; charset=utf-8")
                .set_body_string("We've just sent you an email to reset your password."),
        )
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .request_password_reset("ada@example.com", &ctx())
        .await
        .unwrap();
}

#[tokio::test]
async fn change_password_for_an_unknown_user_answers_the_same() {
    let server = MockServer::start().await;
    Mock::given(path("/dbconnections/change_password"))
        .respond_with(ResponseTemplate::new(404).set_body_string("User not found"))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .request_password_reset("nobody@example.com", &ctx())
        .await
        .unwrap();
}

#[tokio::test]
async fn userinfo_sends_the_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sub": "auth0|1", "email": "ada@example.com", "email_verified": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let claims = client(&server)
        .userinfo(&Secret::new("at-1"), &ctx())
        .await
        .unwrap();
    assert_eq!(claims["sub"], "auth0|1");
    assert_eq!(claims["email_verified"], true);
}

#[tokio::test]
async fn usable_as_a_trait_object() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let provider: std::sync::Arc<dyn IdentityProvider> = std::sync::Arc::new(client(&server));
    provider
        .revoke_refresh_token(&Secret::new("rt"), &ctx())
        .await
        .unwrap();
}
