//! `spawn_app()` and a small GraphQL client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use authgate::auth::Authenticate;
use authgate::auth::{Principal, Rejection, User, VerifiedClaims};
use authgate::config::Settings;
use authgate::secret::Secret;
use authgate::{Application, ApplicationBuilder, ShutdownHandle};
use serde_json::{json, Value};

/// `AUTHGATE_TEST_DOCUMENT_CACHE=N` sets `graphql.document_cache_size` (0:
/// off), so the same suite runs with the document cache on and off
/// (`scripts/test` runs the API tests both ways).
pub fn document_cache_from_env(s: &mut Settings) {
    if let Ok(v) = std::env::var("AUTHGATE_TEST_DOCUMENT_CACHE") {
        s.graphql.document_cache_size = v
            .parse()
            .expect("AUTHGATE_TEST_DOCUMENT_CACHE is a number of documents");
    }
}

/// Settings for tests that bring their own guard double: the defaults on
/// port 0, with an identity provider at a closed port (nothing is started).
pub fn test_settings() -> Settings {
    let mut s = Settings::load_from(None, Vec::new()).expect("default settings load");
    s.server.listen = "127.0.0.1:0".parse().unwrap();
    s.identity.provider = authgate::config::ProviderKind::Auth0;
    s.auth0.base_url = Some("http://127.0.0.1:9/".parse().unwrap());
    s.guard.snapshot_path = None;
    s.development.example_upstream.clear();
    // the built-in SDL only: tests bring their own datasources
    s.graphql.schema = vec!["schema".into()];
    s.datasources.clear();
    document_cache_from_env(&mut s);
    s
}

/// Settings for the real stack: the embedded emulator (in memory, port 0)
/// and the real guard.
pub fn full_settings() -> Settings {
    let mut s = Settings::load_from(None, Vec::new()).expect("default settings load");
    s.server.listen = "127.0.0.1:0".parse().unwrap();
    s.identity.emulator_listen = "127.0.0.1:0".parse().unwrap();
    s.emulator.ephemeral = true;
    s.guard.snapshot_path = None;
    s.development.example_upstream.clear();
    // the built-in SDL only: tests bring their own datasources
    s.graphql.schema = vec!["schema".into()];
    s.datasources.clear();
    document_cache_from_env(&mut s);
    s
}

/// The gateway with the emulator and the real guard; `configure` adjusts
/// the settings first.
pub async fn spawn_full(configure: impl FnOnce(&mut Settings)) -> FullApp {
    let mut s = full_settings();
    configure(&mut s);
    let app = Application::builder(s)
        .build()
        .await
        .expect("the app builds");
    let emulator = app.emulator_url().expect("the emulator runs");
    FullApp {
        app: TestApp {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
            ..TestApp::serve(app)
        },
        emulator,
    }
}

/// The real stack: the gateway and its emulator.
pub struct FullApp {
    pub app: TestApp,
    pub emulator: url::Url,
}

impl std::ops::Deref for FullApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A guard double: fixed tokens → principals.
#[derive(Default)]
pub struct StaticTokens(pub HashMap<String, Principal>);

#[async_trait]
impl Authenticate for StaticTokens {
    async fn authenticate(&self, token: &str) -> Principal {
        self.0
            .get(token)
            .cloned()
            .unwrap_or(Principal::rejected(Rejection::Invalid))
    }
}

pub fn user(sub: &str, permissions: &[&str], roles: &[&str]) -> Principal {
    Principal::User(Arc::new(User::new(
        VerifiedClaims {
            subject: sub.into(),
            scopes: vec!["openid".into(), "profile".into()],
            permissions: permissions.iter().map(|s| s.to_string()).collect(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            claims: serde_json::from_value(json!({"sub": sub, "email": "ada@example.com"}))
                .unwrap(),
            expires_at: 4_102_444_800,
            token_id: format!("id-{sub}"),
        },
        Secret::new(format!("token-{sub}")),
    )))
}

/// Tokens every test app knows: `admin`, `user`, `expired`.
pub fn static_tokens() -> Arc<StaticTokens> {
    let mut m = HashMap::new();
    m.insert(
        "admin".to_owned(),
        user(
            "auth0|admin",
            &["create:invitations", "read:orders"],
            &["admin"],
        ),
    );
    m.insert(
        "user".to_owned(),
        user("auth0|user", &["read:orders"], &["user"]),
    );
    m.insert(
        "expired".to_owned(),
        Principal::rejected(Rejection::Expired),
    );
    m.insert(
        "revoked".to_owned(),
        Principal::rejected(Rejection::Revoked),
    );
    m.insert(
        "nokeys".to_owned(),
        Principal::rejected(Rejection::KeysUnavailable),
    );
    Arc::new(StaticTokens(m))
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub shutdown: ShutdownHandle,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// The response of a GraphQL call.
#[derive(Debug)]
pub struct Gql {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Gql {
    /// `errors[i].extensions.code`
    pub fn code(&self, i: usize) -> &str {
        self.body["errors"][i]["extensions"]["code"]
            .as_str()
            .unwrap_or("")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Application::builder(test_settings())).await
}

pub async fn spawn_with(builder: ApplicationBuilder) -> TestApp {
    let app = builder
        .authenticator(static_tokens())
        .build()
        .await
        .expect("the app builds");
    TestApp::serve(app)
}

impl TestApp {
    /// Runs a built `app` in the background, with a plain client for it.
    pub fn serve(app: Application) -> TestApp {
        let addr = app.local_addr();
        let shutdown = app.shutdown_handle();
        let server = tokio::spawn(app.run_until_stopped());
        TestApp {
            addr,
            client: reqwest::Client::new(),
            shutdown,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POST a query as JSON, with an optional bearer token.
    pub async fn gql(&self, query: &str, vars: Value, token: Option<&str>) -> Gql {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": vars}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    pub async fn read(resp: reqwest::Response) -> Gql {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Gql {
            status,
            headers,
            body,
        }
    }
}

/// The `authgate` binary, run from the crate root, with none of the caller's
/// `AUTHGATE__*`, `OTEL_*` or `RUST_LOG` variables leaking into it.
pub fn authgate_binary() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AUTHGATE__") || k.starts_with("OTEL_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c
}

/// Sends `req` and reads its answer as JSON (a test: any failure panics).
pub async fn json_of(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}
