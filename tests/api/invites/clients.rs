//! Client-credentials principals (machines) and invitations.

use serde_json::json;

use super::*;

#[tokio::test]
async fn clients_are_refused_unless_allowed() {
    let w = world().await;
    let r = w
        .invite("m2m.invite@example.com", &["user"], Some("client"))
        .await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert!(r.body["data"]["inviteUser"].is_null());
    let r = w.app.gql(LIST, json!({}), Some("client")).await;
    assert_eq!(r.code(0), "FORBIDDEN");
    let r = w
        .app
        .gql(
            RESEND,
            json!({"email": "m2m.invite@example.com"}),
            Some("client"),
        )
        .await;
    assert_eq!(r.code(0), "FORBIDDEN");
    assert!(w
        .mgmt
        .users_by_email("m2m.invite@example.com")
        .await
        .unwrap()
        .is_empty());

    let w = world_with(InviteSettings {
        allow_clients: true,
        ..InviteSettings::default()
    })
    .await;
    let r = w
        .invite("m2m.invite@example.com", &["user"], Some("client"))
        .await;
    assert_eq!(data(&r, "inviteUser")["roles"], json!(["user"]));
    let u = &w
        .mgmt
        .users_by_email("m2m.invite@example.com")
        .await
        .unwrap()[0];
    assert_eq!(
        u.app_metadata.as_ref().unwrap()["invited_by"],
        "m2m-app@clients"
    );
}

/// A real client-credentials token from the emulator, through the real guard.
#[tokio::test]
async fn an_emulator_client_credentials_token_is_a_client() {
    let app = crate::helpers::spawn_full(|_| {}).await;
    let token = client_credentials_token(&app.emulator).await;
    let claims = jwt_claims(&token);
    assert_eq!(claims["gty"], "client-credentials");
    assert!(claims["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("create:invitations")));
    let r = app
        .gql(
            INVITE,
            json!({"input": {"email": "machine.made@example.com", "roles": []}}),
            Some(&token),
        )
        .await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    let r = app.gql("{ me { id } }", json!({}), Some(&token)).await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert!(r.body["data"]["me"].is_null(), "{}", r.body);
}

/// `POST /oauth/token` with the client-credentials grant for the gateway's API.
pub async fn client_credentials_token(emulator: &Url) -> String {
    let resp = reqwest::Client::new()
        .post(emulator.join("oauth/token").unwrap())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("audience", API),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let body: serde_json::Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}
