//! Tests of the Auth0 emulator over real HTTP, with reqwest, against the wire format of
//! `auth0-wire.md`.

mod auth_api;
mod brute_force;
mod fast_hash;
mod keys;
mod management;
mod mfa;
mod refresh;
mod tokens;
mod user_writes;

use authgate::emulator::{self, EmulatorHandle, EmulatorSettings};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

pub const CLIENT_ID: &str = "authgate-dev";
pub const CLIENT_SECRET: &str = "dev-secret-change-me";
pub const API: &str = "https://api.authgate.local";
pub const ADMIN: (&str, &str) = ("admin@example.com", "Admin-Passw0rd!");
pub const USER: (&str, &str) = ("user@example.com", "User-Passw0rd!");
pub const REALM_GRANT: &str = "http://auth0.com/oauth/grant-type/password-realm";

pub struct Idp {
    pub handle: EmulatorHandle,
    pub http: reqwest::Client,
}

pub async fn spawn() -> Idp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(configure: impl FnOnce(&mut EmulatorSettings)) -> Idp {
    let mut settings = EmulatorSettings {
        ephemeral: true,
        ..EmulatorSettings::default()
    };
    configure(&mut settings);
    spawn_settings(settings).await
}

pub async fn spawn_settings(settings: EmulatorSettings) -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = emulator::start(settings, listener).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Idp { handle, http }
}

impl Idp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.handle.base_url(), path.trim_start_matches('/'))
    }

    pub fn issuer(&self) -> String {
        self.handle.base_url().to_string()
    }

    /// POST /oauth/token with a form body.
    pub async fn token(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("oauth/token"))
            .form(params)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(
        &self,
        email: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut params = vec![
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("username", email),
            ("password", password),
        ];
        params.extend_from_slice(extra);
        self.token(&params).await
    }

    /// Logs in with audience + `openid profile email offline_access`; returns the body.
    pub async fn login_full(&self, email: &str, password: &str) -> Value {
        let res = self
            .login(
                email,
                password,
                &[
                    ("audience", API),
                    ("scope", "openid profile email offline_access"),
                ],
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// The refresh-token grant for the development client.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// A Management API call with a bearer token (and a JSON body).
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    pub async fn mgmt_token(&self) -> String {
        self.mgmt_token_of(CLIENT_ID, CLIENT_SECRET).await
    }

    /// A Management API token of another configured client.
    pub async fn mgmt_token_of(&self, client_id: &str, secret: &str) -> String {
        let aud = format!("{}api/v2/", self.issuer());
        let res = self
            .token(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("audience", &aud),
            ])
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn jwks(&self) -> Value {
        crate::helpers::json_of(self.http.get(self.url(".well-known/jwks.json"))).await
    }

    /// Verifies a JWT against the emulator's own JWKS (RS256, iss, aud).
    pub async fn verify(&self, token: &str, audience: &str) -> Value {
        let jwks = self.jwks().await;
        let header = jsonwebtoken::decode_header(token).unwrap();
        let kid = header.kid.expect("kid");
        let key = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .expect("kid in JWKS");
        let decoding = DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap(),
            key["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[self.issuer()]);
        v.set_audience(&[audience]);
        jsonwebtoken::decode::<Value>(token, &decoding, &v)
            .unwrap()
            .claims
    }

    pub async fn last_link(&self, email: &str) -> reqwest::Response {
        self.http
            .get(self.url("emulator/tickets/last"))
            .query(&[("email", email)])
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .send()
            .await
            .unwrap()
    }
}

pub fn content_type(res: &reqwest::Response) -> String {
    res.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Asserts the OAuth error shape and returns the body.
pub async fn oauth_err(res: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(res.status(), status);
    assert!(content_type(&res).starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

/// `oauth_err`, and the `error_description` is `description`; returns the body.
pub async fn oauth_refused(
    res: reqwest::Response,
    status: u16,
    error: &str,
    description: &str,
) -> Value {
    let body = oauth_err(res, status, error).await;
    assert_eq!(body["error_description"], description);
    body
}

/// Asserts the Management API error shape and returns the body.
pub async fn mgmt_err(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status(), status);
    assert!(content_type(&res).starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
    body
}
