//! The session mutations (`signup`, `login`, `refreshToken`, `logout`,
//! `requestPasswordReset`) and `me`, end to end: the gateway, the in-process
//! Auth0 emulator and the real guard (`spawn_full`), or a wiremock Auth0
//! double with the guard double where a fault has to be staged.

mod concurrency;
mod cookie;
mod faults;
mod login;
mod logs;
mod me;
mod mfa;
mod mfa_emulator;
mod refresh;
mod reset;
mod signup;

use authgate::config::Settings;
use authgate::emulator::UserSeed;
use authgate::secret::Secret;
use authgate::Application;
use serde_json::{json, Value};
use wiremock::{Match, MockServer, Request};

use crate::helpers::{spawn_with, test_settings, FullApp, Gql, TestApp};

/// A form body holding every given pair.
pub struct Form(Vec<(&'static str, String)>);

pub fn form(pairs: &[(&'static str, &str)]) -> Form {
    Form(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
}

impl Match for Form {
    fn matches(&self, req: &Request) -> bool {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
        self.0
            .iter()
            .all(|(k, v)| pairs.iter().any(|(pk, pv)| pk == k && pv == v))
    }
}

pub const ADMIN: (&str, &str) = ("admin@example.com", "Admin-Passw0rd!");
pub const USER: (&str, &str) = ("user@example.com", "User-Passw0rd!");
/// The seeded development client (emulator) and its secret.
pub const CLIENT_ID: &str = "authgate-dev";
pub const CLIENT_SECRET: &str = "dev-secret-change-me";

pub const AUTH_FIELDS: &str = "accessToken tokenType expiresIn expiresAt scope idToken refreshToken user { id email emailVerified name roles permissions scopes }";

pub fn login_query() -> String {
    format!("mutation Login($email: String!, $password: String!) {{ login(input: {{email: $email, password: $password}}) {{ {AUTH_FIELDS} }} }}")
}

pub fn signup_query() -> String {
    format!("mutation Signup($input: SignupInput!) {{ signup(input: $input) {{ userId email emailVerified auth {{ {AUTH_FIELDS} }} }} }}")
}

pub fn refresh_query() -> String {
    format!(
        "mutation Refresh($rt: String) {{ refreshToken(refreshToken: $rt) {{ {AUTH_FIELDS} }} }}"
    )
}

pub const LOGOUT: &str = "mutation Logout($rt: String) { logout(refreshToken: $rt) { ok } }";
pub const RESET: &str =
    "mutation Reset($email: String!) { requestPasswordReset(email: $email) { ok message } }";
pub const ME: &str = "query Me { me { id email emailVerified name roles permissions claims } }";

pub async fn login(app: &TestApp, email: &str, password: &str) -> Gql {
    app.gql(
        &login_query(),
        json!({"email": email, "password": password}),
        None,
    )
    .await
}

pub async fn signup(app: &TestApp, input: Value) -> Gql {
    app.gql(&signup_query(), json!({ "input": input }), None)
        .await
}

pub async fn refresh(app: &TestApp, rt: Option<&str>) -> Gql {
    app.gql(&refresh_query(), json!({ "rt": rt }), None).await
}

pub async fn logout(app: &TestApp, access: Option<&str>, rt: Option<&str>) -> Gql {
    app.gql(LOGOUT, json!({ "rt": rt }), access).await
}

pub async fn me(app: &TestApp, access: &str) -> Gql {
    app.gql(ME, json!({}), Some(access)).await
}

/// `body.data.<field>`, asserting there are no errors.
pub fn ok<'a>(g: &'a Gql, field: &str) -> &'a Value {
    assert!(
        g.body.get("errors").is_none(),
        "unexpected errors for {field}: {:#}",
        g.body
    );
    assert_eq!(g.status, 200, "{:#}", g.body);
    &g.body["data"][field]
}

/// `errors[0]`, asserting there is exactly one error with `code`.
pub fn error<'a>(g: &'a Gql, code: &str) -> &'a Value {
    let errors = g.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected an error {code}, got {:#}", g.body));
    assert_eq!(errors.len(), 1, "{:#}", g.body);
    assert_eq!(g.code(0), code, "{:#}", g.body);
    &errors[0]
}

/// A string field of a payload.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v:#}"))
}

/// An extra seeded user with the `user` role.
pub fn seed(email: &str, password: &str) -> UserSeed {
    UserSeed {
        email: email.into(),
        password: Secret::new(password),
        roles: vec!["user".into()],
        ..UserSeed::default()
    }
}

/// A request to a local-only emulator endpoint (HTTP Basic with the client).
pub fn emulator_call(
    app: &FullApp,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let url = app.emulator.join(path.trim_start_matches('/')).unwrap();
    reqwest::Client::new()
        .request(method, url)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
}

/// The gateway with the guard double (`admin`, `user` bearer tokens) and a
/// wiremock Auth0 double as identity provider.
pub async fn spawn_double(server: &MockServer, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut s = test_settings();
    s.auth0.base_url = Some(format!("{}/", server.uri()).parse().unwrap());
    s.auth0.domain = "acme.eu.auth0.com".into();
    configure(&mut s);
    spawn_with(Application::builder(s)).await
}

/// The body of a successful token answer whose access token the guard
/// double accepts.
pub fn double_tokens() -> Value {
    json!({"access_token": "admin", "token_type": "Bearer", "expires_in": 3600})
}
