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

/// The authorization directives read a client's permissions like a user's;
/// the upstream is told which kind of principal it serves.
#[tokio::test]
async fn directives_hold_for_clients_and_upstreams_learn_the_kind() {
    use std::collections::BTreeMap;

    use authgate::datasources::{ClaimsHeaders, DatasourceSettings, Datasources, IdentityMode};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&up)
        .await;
    let mut source = DatasourceSettings {
        url: up.uri().parse().unwrap(),
        retries: 0,
        ..Default::default()
    };
    source.identity = IdentityMode::ClaimsHeaders(ClaimsHeaders {
        headers: BTreeMap::from([("x-user-id".to_owned(), "sub".to_owned())]),
    });
    let datasources = Datasources::new(
        &BTreeMap::from([("orders".to_owned(), source)]),
        reqwest::Client::new(),
        None,
        None,
    )
    .unwrap();
    let factory = datasources.factory();
    let sdl = r#"
extend type Query {
  orders: JSON @rest(source: "orders", path: "/orders") @requiresPermissions(permissions: [["read:orders"]])
  secrets: JSON @rest(source: "orders", path: "/orders") @requiresPermissions(permissions: [["read:secrets"]])
}
"#;
    let app = spawn_with_client(
        Application::builder(test_settings())
            .sdl("test.graphql", sdl)
            .bindings(move |b| {
                b.factory(factory);
            }),
    )
    .await;
    let r = app
        .gql("{ orders secrets }", json!({}), Some("client"))
        .await;
    assert_eq!(r.body["data"]["orders"], json!({"ok": true}), "{}", r.body);
    assert!(r.body["data"]["secrets"].is_null());
    assert_eq!(r.code(0), "FORBIDDEN");
    let r = app.gql("{ orders }", json!({}), Some("admin")).await;
    assert_eq!(r.body["data"]["orders"], json!({"ok": true}), "{}", r.body);

    let reqs = up.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2, "the denied field never went upstream");
    let header = |i: usize, name: &str| {
        reqs[i]
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header(0, "x-authgate-principal").as_deref(), Some("client"));
    assert_eq!(header(0, "x-user-id").as_deref(), Some("m2m-app"));
    assert_eq!(header(1, "x-authgate-principal").as_deref(), Some("user"));
    assert_eq!(header(1, "x-user-id").as_deref(), Some("auth0|admin"));
}
