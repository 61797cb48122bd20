//! Fleet: the Redis store, several replicas sharing it, abuse limits, metrics.
//!
//! Tests that need Redis read `AUTHGATE_TEST_REDIS_URL` (scripts/test starts
//! a redis-server and sets it) and FAIL without it; the outage test starts
//! its own `redis-server` process (installed by scripts/test).

mod abuse;
mod metrics;
mod replicas;
mod revocation;
mod store;

use std::net::SocketAddr;
use std::process::Stdio;

use authgate::config::Settings;
use authgate::secret::Secret;
use authgate::store::StoreBackend;
use authgate::Application;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::TestApp;

pub const ADMIN: (&str, &str) = ("admin@example.com", "Admin-Passw0rd!");

/// The shared test Redis (scripts/test), or a failure saying how to get one.
pub fn redis_url() -> String {
    match std::env::var("AUTHGATE_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "AUTHGATE_TEST_REDIS_URL is not set{}: run the suite with scripts/test, which installs and starts redis-server",
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                " (CI)"
            } else {
                ""
            }
        ),
    }
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("authgate-test:{}:", uuid::Uuid::new_v4())
}

/// `settings` pointed at the shared Redis with a fresh prefix.
pub fn use_redis(s: &mut Settings, url: &str) {
    s.store.backend = StoreBackend::Redis;
    s.store.url = Some(Secret::new(url));
    s.store.key_prefix = unique_prefix();
    // a logout elsewhere takes effect at once (the strictest setting)
    s.store.local_cache_ttl = std::time::Duration::ZERO;
}

/// A `redis-server` child process of this test, on a fixed port.
pub struct RedisProcess {
    pub port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    /// Starts one on a free port and waits for "Ready to accept connections".
    pub async fn start() -> RedisProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut p = RedisProcess { port, child: None };
        p.restart().await;
        p
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): run the suite with scripts/test, which installs it")
            });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Ready to accept connections") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "redis-server did not become ready");
        // keep draining its log so it never blocks on a full pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }

    /// Kills the server (this child, by its handle) and waits for it to exit.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.unwrap();
        }
    }
}

/// Starts a gateway from `settings` (guard: the real one).
pub async fn start(settings: Settings) -> (TestApp, Option<SocketAddr>) {
    let app = Application::builder(settings)
        .build()
        .await
        .expect("the app builds");
    let metrics = app.metrics_addr();
    (TestApp::serve(app), metrics)
}

pub const LOGIN: &str = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }";
pub const ME: &str = "query { me { id } }";
pub const LOGOUT: &str = "mutation { logout { ok } }";

pub async fn login(app: &TestApp, email: &str, password: &str) -> crate::helpers::Gql {
    app.gql(LOGIN, json!({"e": email, "p": password}), None)
        .await
}

/// Logs in as the seeded admin; the access token.
pub async fn admin_token(app: &TestApp) -> String {
    let r = login(app, ADMIN.0, ADMIN.1).await;
    r.body["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {}", r.body))
        .to_owned()
}

/// The value of the Prometheus sample `series` (exact name and labels), 0
/// when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// The codes of `errors[]`, in order.
pub fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}
