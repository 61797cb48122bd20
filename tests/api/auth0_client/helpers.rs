//! Doubles and settings shared by the auth0 client tests.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use authgate::auth0::{Auth0Client, Auth0Settings, CallContext, ManagementClient};
use authgate::outbound::client as http_client;
use authgate::secret::Secret;
use url::Url;
use wiremock::{Match, MockServer, Request};

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "s3cr3t-client-secret-value";
pub const AUDIENCE: &str = "https://api.example.com";
pub const USER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

pub fn settings(server: &MockServer) -> Auth0Settings {
    let base: Url = format!("{}/", server.uri()).parse().unwrap();
    settings_for(base)
}

pub fn settings_for(base: Url) -> Auth0Settings {
    Auth0Settings {
        domain: "acme.eu.auth0.com".into(),
        base_url: Some(base),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
        audience: AUDIENCE.into(),
        timeout: Duration::from_secs(5),
        ..Auth0Settings::default()
    }
}

pub fn http() -> reqwest::Client {
    http_client(
        "authgate-tests",
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .unwrap()
}

pub fn client(server: &MockServer) -> Auth0Client {
    Auth0Client::new(settings(server), http())
}

pub fn client_with(settings: Auth0Settings) -> Auth0Client {
    Auth0Client::new(settings, http())
}

pub fn management(server: &MockServer) -> ManagementClient {
    ManagementClient::new(&settings(server), http())
}

pub fn ctx() -> CallContext {
    CallContext {
        client_ip: Some(USER_IP),
        request_id: Some("req-1".into()),
    }
}

/// Matches a form-urlencoded body that contains every given pair.
pub struct Form(pub Vec<(&'static str, String)>);

pub fn form(pairs: &[(&'static str, &str)]) -> Form {
    Form(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
}

impl Match for Form {
    fn matches(&self, req: &Request) -> bool {
        let is_form = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
        is_form
            && self
                .0
                .iter()
                .all(|(k, v)| pairs.iter().any(|(pk, pv)| pk == k && pv == v))
    }
}

/// Matches a form body that lacks the given key.
pub struct FormLacks(pub &'static str);

impl Match for FormLacks {
    fn matches(&self, req: &Request) -> bool {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
        !pairs.iter().any(|(k, _)| k == self.0)
    }
}

/// Matches a request without the given header.
pub struct NoHeader(pub &'static str);

impl Match for NoHeader {
    fn matches(&self, req: &Request) -> bool {
        !req.headers.contains_key(self.0)
    }
}

/// A JSON token answer.
pub fn token_json(access: &str, refresh: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "access_token": access,
        "id_token": "eyJ.id.token",
        "expires_in": 86400,
        "scope": "openid profile email offline_access",
        "token_type": "Bearer"
    });
    if let Some(r) = refresh {
        v["refresh_token"] = r.into();
    }
    v
}
