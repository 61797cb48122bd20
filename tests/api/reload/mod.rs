//! Reloading the configuration and the SDL without downtime: called
//! directly, by the file watcher, and by `SIGHUP` to the real binary.

mod binary;
mod inprocess;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::dynamic::{FieldFuture, FieldValue};
use authgate::graphql::Bindings;
use authgate::reload::{ConfigSource, Reloader};
use authgate::Application;

use crate::helpers::{static_tokens, TestApp};

/// The repository's built-in SDL folder.
pub fn builtin_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

/// A gateway built from a config file in a temp dir, with its own SDL folder.
pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub config: PathBuf,
    pub sdl: PathBuf,
    pub app: TestApp,
    pub reloader: Arc<Reloader>,
    pub metrics: std::net::SocketAddr,
}

/// The config file text: port 0 everywhere, a closed identity provider (a
/// guard double answers), the built-in SDL and `sdl_dir`, and `extra`: lines
/// of dotted keys (`graphql.introspection = false`), which win.
pub fn config_text(sdl_dir: &Path, extra: &str) -> String {
    let mut text = format!("{extra}\n");
    if !extra.contains("server.listen") {
        text.push_str("server.listen = \"127.0.0.1:0\"\n");
    }
    text.push_str(&format!(
        r#"identity.provider = "auth0"
auth0.base_url = "http://127.0.0.1:9/"
development.example_upstream = ""
metrics.enabled = true
metrics.listen = "127.0.0.1:0"
graphql.schema = [{builtin:?}, {sdl:?}]
"#,
        builtin = builtin_schema().display().to_string(),
        sdl = sdl_dir.display().to_string(),
    ));
    text
}

/// Starts a gateway whose config file holds `extra` and whose SDL folder
/// holds `probe.graphql` = `sdl`; `bind` adds resolvers.
pub async fn fixture(extra: &str, sdl: &str, bind: impl FnOnce(&mut Bindings)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sdl_dir = dir.path().join("sdl");
    std::fs::create_dir(&sdl_dir).unwrap();
    std::fs::write(sdl_dir.join("probe.graphql"), sdl).unwrap();
    let config = dir.path().join("authgate.toml");
    std::fs::write(&config, config_text(&sdl_dir, extra)).unwrap();
    // hermetic: the process environment is not read
    let source = ConfigSource::with_env(Some(config.clone()), Vec::new());
    let settings = source.load().expect("the fixture config loads");
    let app = Application::builder(settings)
        .config_source(source)
        .authenticator(static_tokens())
        .bindings(bind)
        .build()
        .await
        .expect("the app builds");
    let metrics = app.metrics_addr().expect("metrics enabled");
    let reloader = app.reloader();
    Fixture {
        _dir: dir,
        config,
        sdl: sdl_dir,
        app: TestApp::serve(app),
        reloader,
        metrics,
    }
}

impl Fixture {
    pub fn write_sdl(&self, text: &str) {
        std::fs::write(self.sdl.join("probe.graphql"), text).unwrap();
    }

    pub fn write_config(&self, extra: &str) {
        std::fs::write(&self.config, config_text(&self.sdl, extra)).unwrap();
    }

    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn readyz(&self) -> serde_json::Value {
        crate::helpers::json_of(self.app.client.get(self.app.url("/readyz"))).await
    }
}

/// `Query.reloadProbe` → "probe" (bound from the start; the SDL adds the field later).
pub fn bind_probe(b: &mut Bindings) {
    b.bind("Query.reloadProbe", |_ctx| {
        FieldFuture::new(async move { Ok(Some(FieldValue::value("probe"))) })
    });
}

/// Polls `check` until it holds or `timeout` passes (a condition with a
/// deadline; the pause between polls is not synchronisation).
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
