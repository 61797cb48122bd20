//! Back-office invitations, against the in-process emulator and focused
//! wiremock doubles.

pub mod clients;
mod doubles;
mod email_rule;
mod emulator;
mod end_to_end;
mod grants;
mod lifecycle;
mod lifecycle_emulator;
mod smtp;

use std::sync::Arc;
use std::time::Duration;

use authgate::auth::Principal;
use authgate::auth0::{Auth0Settings, ManagementClient};
use authgate::config::Settings;
use authgate::emulator::{EmulatorHandle, EmulatorSettings};
use authgate::invite::{self, InviteService, InviteSettings};
use authgate::outbound::client as http_client;
use authgate::secret::Secret;
use authgate::Application;
use serde_json::{json, Value};
use url::Url;

use crate::helpers::{spawn_with, static_tokens, test_settings, Gql, StaticTokens, TestApp};

pub const CLIENT_ID: &str = "authgate-dev";
pub const CLIENT_SECRET: &str = "dev-secret-change-me";
pub const API: &str = "https://api.authgate.local";

pub const INVITE: &str = "mutation($input: InviteUserInput!) { inviteUser(input: $input) { userId email roles expiresAt ticketUrl resent } }";
pub const RESEND: &str = "mutation($email: String!) { resendInvitation(email: $email) { userId email roles expiresAt ticketUrl resent } }";
pub const LIST: &str = "query($page: Int, $perPage: Int) { invitations(page: $page, perPage: $perPage) { page perPage total items { userId email roles ticketUrl } } }";
pub const LIST_STATUS: &str = "query($status: InvitationStatus, $page: Int, $perPage: Int) { invitations(status: $status, page: $page, perPage: $perPage) { page perPage total items { userId email roles status invitedAt expiresAt invitedBy { sub email } ticketUrl } } }";
pub const CANCEL: &str = "mutation($email: String!) { cancelInvitation(email: $email) { userId email roles status invitedBy { sub email } ticketUrl } }";
pub const UPDATE_ROLES: &str = "mutation($userId: ID!, $add: [String!], $remove: [String!]) { updateUserRoles(userId: $userId, add: $add, remove: $remove) { userId roles } }";

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
            .with_ticket_client_id(auth0.client_id.clone())
            .with_audience(auth0.audience.clone()),
    )
}

/// The development configuration's rule: an `admin` may grant every role.
pub fn admin_grants_all() -> InviteSettings {
    let mut s = InviteSettings::default();
    s.grantable_roles.insert("admin".into(), vec!["*".into()]);
    s
}

/// The static test tokens plus `client`: a client-credentials principal
/// that holds every permission, `create:invitations` included.
pub fn tokens_with_client() -> Arc<StaticTokens> {
    let mut tokens = StaticTokens(static_tokens().0.clone());
    let claims = json!({
        "sub": "m2m-app@clients", "gty": "client-credentials", "azp": "m2m-app",
        "permissions": ["create:invitations", "read:orders", "write:orders", "read:users"],
    });
    tokens.0.insert(
        "client".to_owned(),
        Principal::User(Arc::new(authgate::auth::User::new(
            authgate::auth::VerifiedClaims {
                subject: "m2m-app@clients".into(),
                scopes: Vec::new(),
                permissions: [
                    "create:invitations",
                    "read:orders",
                    "write:orders",
                    "read:users",
                ]
                .map(String::from)
                .to_vec(),
                roles: Vec::new(),
                claims: serde_json::from_value(claims).unwrap(),
                expires_at: 4_102_444_800,
                token_id: "id-client".into(),
            },
            Secret::new("token-client"),
        ))),
    );
    // may change roles: a support agent (holds `read:orders` only) and a
    // super admin holding every permission of the seeded roles
    tokens.0.insert(
        "roles_admin".to_owned(),
        crate::helpers::user(
            "auth0|roles-admin",
            &["create:invitations", "update:user_roles", "read:orders"],
            &["support"],
        ),
    );
    tokens.0.insert(
        "super".to_owned(),
        crate::helpers::user(
            "auth0|super",
            &[
                "create:invitations",
                "update:user_roles",
                "read:orders",
                "write:orders",
                "read:users",
            ],
            &["superadmin"],
        ),
    );
    Arc::new(tokens)
}

/// The gateway with `svc`, settings adjusted by `configure`, and the static
/// tokens plus `client`.
pub async fn gateway_custom(
    svc: Arc<InviteService>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = test_settings();
    configure(&mut settings);
    spawn_with_client(Application::builder(settings).bindings(|b| invite::bind(b, svc))).await
}

/// Starts `builder` with the static tokens plus `client`.
pub async fn spawn_with_client(builder: authgate::ApplicationBuilder) -> TestApp {
    let app = builder
        .authenticator(tokens_with_client())
        .build()
        .await
        .expect("the app builds");
    TestApp::serve(app)
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

/// The emulator's record of the last ticket issued for `email` (its test endpoint).
pub async fn last_ticket(idp: &EmulatorHandle, email: &str) -> Value {
    crate::helpers::json_of(
        reqwest::Client::new()
            .get(format!("{}emulator/tickets/last", idp.base_url()))
            .query(&[("email", email)])
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET)),
    )
    .await
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
    world_custom(settings, |_| {}).await
}

/// A world whose gateway settings `configure` adjusts (limits…).
pub async fn world_custom(
    settings: InviteSettings,
    configure: impl FnOnce(&mut Settings),
) -> World {
    let idp = idp().await;
    let auth0 = auth0_for(idp.base_url());
    let app = gateway_custom(service(&auth0, settings), configure).await;
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

    /// The names of the roles `user_id` holds at the tenant, sorted.
    pub async fn role_names(&self, user_id: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .mgmt
            .user_roles(user_id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort_unstable();
        names
    }

    /// Sets `password` through the emulator's set-your-password page for `ticket`.
    pub async fn set_password(&self, ticket: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("u/reset-password"))
            .form(&[("ticket", ticket), ("password", password)])
            .send()
            .await
            .unwrap()
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

/// The `ticket` query parameter of an invitation link.
pub fn ticket_of(link: &str) -> String {
    Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "ticket")
        .unwrap()
        .1
        .into_owned()
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
