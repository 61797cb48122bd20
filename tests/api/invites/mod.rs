//! Back-office invitations, against the in-process emulator and focused
//! wiremock doubles.

mod doubles;
mod emulator;
mod end_to_end;
mod smtp;

use std::sync::Arc;
use std::time::Duration;

use authgate::auth0::{http_client, Auth0Settings, ManagementClient};
use authgate::config::Secret;
use authgate::emulator::{EmulatorHandle, EmulatorSettings};
use authgate::invite::{self, InviteService, InviteSettings};
use authgate::Application;
use serde_json::{json, Value};
use url::Url;

use crate::helpers::{spawn_with, test_settings, Gql, TestApp};

pub const CLIENT_ID: &str = "authgate-dev";
pub const CLIENT_SECRET: &str = "dev-secret-change-me";
pub const API: &str = "https://api.authgate.local";

pub const INVITE: &str = "mutation($input: InviteUserInput!) { inviteUser(input: $input) { userId email roles expiresAt ticketUrl resent } }";
pub const RESEND: &str = "mutation($email: String!) { resendInvitation(email: $email) { userId email roles expiresAt ticketUrl resent } }";
pub const LIST: &str = "query($page: Int, $perPage: Int) { invitations(page: $page, perPage: $perPage) { page perPage total items { userId email roles ticketUrl } } }";

pub fn auth0_for(base: Url) -> Auth0Settings {
    Auth0Settings {
        domain: "emulator.local".into(),
        base_url: Some(base),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
        audience: API.into(),
        timeout: Duration::from_secs(5),
        retries: 0,
        ..Auth0Settings::default()
    }
}

pub fn management(auth0: &Auth0Settings) -> ManagementClient {
    let http = http_client(
        "authgate-tests",
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .unwrap();
    ManagementClient::new(auth0, http)
}

pub fn service(auth0: &Auth0Settings, settings: InviteSettings) -> Arc<InviteService> {
    Arc::new(
        InviteService::new(settings, management(auth0), auth0.connection.clone())
            .with_ticket_client_id(auth0.client_id.clone()),
    )
}

pub async fn gateway(svc: Arc<InviteService>) -> TestApp {
    spawn_with(Application::builder(test_settings()).bindings(|b| invite::bind(b, svc))).await
}

/// An ephemeral emulator with the default seed.
pub async fn idp() -> EmulatorHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    authgate::emulator::start(
        EmulatorSettings {
            ephemeral: true,
            ..EmulatorSettings::default()
        },
        listener,
    )
    .await
    .unwrap()
}

/// An emulator, the gateway in front of it, and a Management client to look
/// at the tenant.
pub struct World {
    pub idp: EmulatorHandle,
    pub app: TestApp,
    pub mgmt: ManagementClient,
    pub http: reqwest::Client,
}

pub async fn world() -> World {
    world_with(InviteSettings::default()).await
}

pub async fn world_with(settings: InviteSettings) -> World {
    let idp = idp().await;
    let auth0 = auth0_for(idp.base_url());
    let app = gateway(service(&auth0, settings)).await;
    World {
        mgmt: management(&auth0),
        idp,
        app,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

impl World {
    pub async fn invite(&self, email: &str, roles: &[&str], token: Option<&str>) -> Gql {
        self.app
            .gql(
                INVITE,
                json!({"input": {"email": email, "roles": roles}}),
                token,
            )
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.idp.base_url(), path.trim_start_matches('/'))
    }

    /// Password grant at the emulator; the access token's claims on success.
    pub async fn login(&self, email: &str, password: &str) -> Result<Value, Value> {
        let resp = self
            .http
            .post(self.url("oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("username", email),
                ("password", password),
                ("audience", API),
                ("scope", "openid profile email"),
            ])
            .send()
            .await
            .unwrap();
        let ok = resp.status().is_success();
        let body: Value = resp.json().await.unwrap();
        if ok {
            Ok(jwt_claims(body["access_token"].as_str().unwrap()))
        } else {
            Err(body)
        }
    }
}

/// The payload of a JWT (not verified: the emulator's own tests do that).
pub fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `data.inviteUser` (or another root field), asserting there is no error.
pub fn data<'a>(r: &'a Gql, field: &str) -> &'a Value {
    assert!(r.body["errors"].is_null(), "unexpected errors: {}", r.body);
    &r.body["data"][field]
}
