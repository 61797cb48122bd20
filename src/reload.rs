//! Configuration and schema changes without downtime.
//!
//! A reload re-reads the configuration layers exactly as at start-up
//! (defaults → development layer → `--config FILE` → `AUTHGATE__…`) and the
//! SDL files, rebuilds the datasources and the schema, and swaps the schema in
//! one atomic store: a request keeps the schema it started with, the next one
//! gets the new schema. When anything fails (a config parse or validation
//! error, an SDL error, a datasource refused) nothing changes: the gateway
//! keeps serving the previous configuration and schema and logs one error.
//!
//! Only what the schema is built from is hot-reloadable ([`hot_keys`]);
//! every other key needs a restart: a change to it is logged
//! (`restart required for …`) and the running value is kept, so a reload never
//! applies half a setting.
//!
//! Triggers: `SIGHUP` (unix), and, with `reload.watch = true`, a change of the
//! config file or of the SDL files/folders, noticed by polling their content
//! every `reload.poll_interval`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, Settings};
use crate::datasources::{Datasources, ServiceTokenSource};
use crate::graphql::{self, Bindings, BuiltSchema, SchemaError, SdlSource};
use crate::metrics::Metrics;

/// How a reload applies one hot key: copies it from the new settings.
type Apply = fn(&mut Settings, &Settings);

/// `(key, copy)` rows of [`HOT`] from the keys' paths in [`Settings`]: the
/// key is the path as written, so a row cannot name one field and copy another.
macro_rules! hot_table {
    ($($head:ident $(.$tail:ident)*),+ $(,)?) => {
        &[$((
            concat!(stringify!($head) $(, ".", stringify!($tail))*),
            |s: &mut Settings, n: &Settings| s.$head$(.$tail)* = Clone::clone(&n.$head$(.$tail)*),
        )),+]
    };
}

/// The keys a reload applies (a key and everything under it), each with the
/// copy that applies it: one table, so the list and what is applied cannot
/// drift apart. Any other changed key is reported as needing a restart and
/// keeps its running value.
const HOT: &[(&str, Apply)] = hot_table![
    graphql.schema,
    graphql.composed_schema,
    graphql.introspection,
    graphql.limits.max_depth,
    graphql.limits.max_complexity,
    graphql.limits.max_aliases,
    graphql.limits.max_root_fields,
    graphql.limits.max_tokens,
    graphql.limits.max_document_bytes,
    datasources,
];

/// The keys a reload applies (a key and everything under it).
pub fn hot_keys() -> impl Iterator<Item = &'static str> {
    HOT.iter().map(|(k, _)| *k)
}

/// Whether a reload applies `key` (dotted, e.g. `datasources.orders.url`).
pub fn is_hot(key: &str) -> bool {
    hot_keys().any(|h| {
        key == h || (key.len() > h.len() && key.starts_with(h) && key.as_bytes()[h.len()] == b'.')
    })
}

/// `running` with the hot-reloadable parts of `new` (the rest stays).
fn apply_hot(running: &Settings, new: &Settings) -> Settings {
    let mut s = running.clone();
    for (_, apply) in HOT {
        apply(&mut s, new);
    }
    s
}

/// The dotted keys whose values differ (secrets compare as redacted, so a
/// change of a secret alone is not seen here).
pub fn changed_keys(a: &Settings, b: &Settings) -> Vec<String> {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => {
            let mut out = Vec::new();
            diff("", &a, &b, &mut out);
            out
        }
        // not expected (settings always serialise); assume everything changed
        _ => vec![String::new()],
    }
}

fn diff(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                diff(
                    &key,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a != b => out.push(prefix.to_owned()),
        _ => {}
    }
}

/// Where the settings come from: re-read on every reload exactly as at start-up.
#[derive(Clone, Default)]
pub struct ConfigSource {
    file: Option<PathBuf>,
    /// `None`: the process environment at each reload.
    env: Option<Vec<(String, String)>>,
}

impl std::fmt::Debug for ConfigSource {
    // environment values may be secrets: only the names print
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource")
            .field("file", &self.file)
            .field(
                "env",
                &self
                    .env
                    .as_ref()
                    .map(|e| e.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()),
            )
            .finish()
    }
}

impl ConfigSource {
    /// The defaults, `file`, and the process environment (`authgate serve`).
    pub fn process(file: Option<PathBuf>) -> Self {
        Self { file, env: None }
    }

    /// The defaults, `file`, and these variables instead of the process
    /// environment (tests).
    pub fn with_env(file: Option<PathBuf>, env: Vec<(String, String)>) -> Self {
        Self {
            file,
            env: Some(env),
        }
    }

    /// The `--config` file, when there is one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Loads and validates the layers.
    pub fn load(&self) -> Result<Settings, ConfigError> {
        match &self.env {
            Some(env) => Settings::load_from(self.file.as_deref(), env.iter().cloned()),
            None => Settings::load(self.file.as_deref()),
        }
    }
}

/// A reload was refused; the previous configuration and schema keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The configuration could not be read or is invalid (each line names
    /// the key and the file or variable it came from).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// An SDL file could not be read, or the schema could not be built from
    /// it (each line names `file:line` and the problem).
    #[error("{0}")]
    Schema(#[from] SchemaError),
    /// A datasource's settings were refused.
    #[error("{0}")]
    Datasources(String),
}

/// `config error: key: message` lines for refused datasource settings.
pub fn datasource_errors(errs: &[(String, String)]) -> String {
    errs.iter()
        .map(|(k, m)| format!("config error: {k}: {m}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Builds the datasources of `settings` on the shared client.
pub fn build_datasources(
    settings: &Settings,
    http: &reqwest::Client,
    token_source: Option<Arc<dyn ServiceTokenSource>>,
    metrics: Option<&Metrics>,
) -> Result<Datasources, ReloadError> {
    Datasources::new(
        &settings.datasources,
        http.clone(),
        token_source,
        metrics.cloned(),
    )
    .map_err(|errs| ReloadError::Datasources(datasource_errors(&errs)))
}

/// The schema of `settings` with the resolvers of a running gateway:
/// composed by [`graphql::compose`], the datasource directives under the
/// services, the builder's resolvers over both.
pub fn compose_schema(
    settings: &Settings,
    parts: &ReloadParts,
    datasources: &Datasources,
) -> Result<BuiltSchema, SchemaError> {
    let mut directives = Bindings::default();
    directives.factory(datasources.factory());
    graphql::compose(
        &settings.graphql,
        &parts.extra_sdl,
        &[&directives, &parts.services, &parts.caller],
    )
}

/// A short, stable fingerprint of a composed SDL (16 hex digits of SHA-256).
pub fn schema_hash(sdl: &str) -> String {
    let digest = Sha256::digest(sdl.as_bytes());
    hex::encode(&digest[..8])
}

/// What set a reload off (for the logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// [`Reloader::reload`] called directly.
    Manual,
    /// `SIGHUP`.
    Signal,
    /// The watcher saw a file change.
    FileChange,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Signal => "sighup",
            Trigger::FileChange => "file_change",
        }
    }
}

/// A reload that was applied.
#[derive(Clone, Debug)]
pub struct ReloadOutcome {
    /// 1 for the first reload after start-up, then +1 per successful reload.
    pub generation: u64,
    /// [`schema_hash`] of the schema now serving.
    pub schema_hash: String,
    /// Hot keys that changed since the previous configuration (applied).
    pub applied: Vec<String>,
    /// Keys that differ from the running process and need a restart (kept).
    pub restart_required: Vec<String>,
}

/// The state of reloading, as `/readyz` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ReloadStatus {
    /// 0: the start-up configuration; +1 per successful reload.
    pub generation: u64,
    pub schema_hash: String,
    /// Unix seconds when the serving schema was built.
    pub loaded_at: u64,
    /// The last failed reload's error, until a reload succeeds.
    pub last_error: Option<String>,
    /// Keys changed in the files that wait for a restart.
    pub restart_required: Vec<String>,
}

/// What a reload rebuilds besides the settings and the SDL files: kept from
/// start-up.
#[derive(Clone)]
pub struct ReloadParts {
    /// SDL texts added by the builder (not files).
    pub extra_sdl: Vec<SdlSource>,
    /// The session and invitation resolvers.
    pub services: Bindings,
    /// The builder's resolvers.
    pub caller: Bindings,
    pub http: reqwest::Client,
    pub token_source: Option<Arc<dyn ServiceTokenSource>>,
    pub metrics: Option<Metrics>,
}

/// What the last successful load applied.
struct Applied {
    /// As loaded at start-up (before run-time adjustments such as the
    /// emulator's address): what restart-required keys are compared with.
    startup: Settings,
    /// As loaded by the last successful reload (or start-up).
    last_loaded: Settings,
    generation: u64,
}

/// Reloads the configuration and the schema of one running gateway.
pub struct Reloader {
    /// The serving schema (shared with the HTTP layer).
    schema: Arc<ArcSwap<BuiltSchema>>,
    source: Option<ConfigSource>,
    parts: ReloadParts,
    datasources: Arc<ArcSwap<Datasources>>,
    /// The settings in force (start-up values for restart-required keys).
    settings: ArcSwap<Settings>,
    applied: tokio::sync::Mutex<Applied>,
    status: Arc<ArcSwap<ReloadStatus>>,
    metrics: Option<Metrics>,
    /// [`fingerprint`] of the watched files as the last load read them.
    files: std::sync::Mutex<[u8; 32]>,
}

/// The status of the start-up schema (generation 0).
pub fn initial_status(sdl: &str) -> Arc<ArcSwap<ReloadStatus>> {
    Arc::new(ArcSwap::from_pointee(ReloadStatus {
        generation: 0,
        schema_hash: schema_hash(sdl),
        loaded_at: unix_now(),
        last_error: None,
        restart_required: Vec::new(),
    }))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Reloader {
    /// `loaded`: the settings as loaded at start-up; `effective`: as the
    /// gateway runs with them. `datasources` is shared with `/readyz`.
    /// `status` comes from [`initial_status`] (shared with `/readyz`).
    pub fn new(
        schema: Arc<ArcSwap<BuiltSchema>>,
        source: Option<ConfigSource>,
        loaded: Settings,
        effective: Arc<Settings>,
        parts: ReloadParts,
        datasources: Arc<ArcSwap<Datasources>>,
        status: Arc<ArcSwap<ReloadStatus>>,
    ) -> Self {
        let metrics = parts.metrics.clone();
        if let Some(m) = &metrics {
            m.set_config_loaded_at(status.load().loaded_at);
        }
        let mut this = Self {
            schema,
            source,
            parts,
            datasources,
            settings: ArcSwap::new(effective),
            applied: tokio::sync::Mutex::new(Applied {
                startup: loaded.clone(),
                last_loaded: loaded,
                generation: 0,
            }),
            status,
            metrics,
            files: std::sync::Mutex::new([0; 32]),
        };
        // as close to the start-up load as we get: a change after it is seen
        this.files = std::sync::Mutex::new(fingerprint(&this.watched_paths()));
        this
    }

    /// The fingerprint of the watched files as the last load read them.
    fn files_loaded(&self) -> [u8; 32] {
        self.files.lock().map(|g| *g).unwrap_or([0; 32])
    }

    fn set_files_loaded(&self, before: &[PathBuf], fp: [u8; 32]) {
        let after = self.watched_paths();
        let fp = if after == before {
            fp
        } else {
            fingerprint(&after)
        };
        if let Ok(mut g) = self.files.lock() {
            *g = fp;
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Generation, schema hash, last error.
    pub fn status(&self) -> Arc<ReloadStatus> {
        self.status.load_full()
    }

    /// The datasources the serving schema uses (for `/readyz`).
    pub fn datasources(&self) -> Arc<ArcSwap<Datasources>> {
        self.datasources.clone()
    }

    /// Re-reads the configuration and the SDL and swaps the schema; on any
    /// error keeps everything as it was. Reloads run one at a time.
    pub async fn reload(&self, trigger: Trigger) -> Result<ReloadOutcome, ReloadError> {
        let mut applied = self.applied.lock().await;
        // what this load reads (a later change makes the watcher reload again)
        let paths = self.watched_paths();
        let files = fingerprint(&paths);
        let prepared = self.prepare(&applied);
        self.set_files_loaded(&paths, files);
        match prepared {
            Ok((loaded, effective, datasources, schema)) => {
                let hash = schema_hash(&schema.sdl);
                let applied_keys: Vec<String> = changed_keys(&applied.last_loaded, &loaded)
                    .into_iter()
                    .filter(|k| is_hot(k))
                    .collect();
                let restart_required: Vec<String> = changed_keys(&applied.startup, &loaded)
                    .into_iter()
                    .filter(|k| !is_hot(k))
                    .collect();
                // the swap: requests that loaded the old schema finish on it
                self.schema.store(Arc::new(schema));
                self.datasources.store(Arc::new(datasources));
                self.settings.store(Arc::new(effective));
                applied.last_loaded = loaded;
                applied.generation += 1;
                let now = unix_now();
                self.status.store(Arc::new(ReloadStatus {
                    generation: applied.generation,
                    schema_hash: hash.clone(),
                    loaded_at: now,
                    last_error: None,
                    restart_required: restart_required.clone(),
                }));
                if let Some(m) = &self.metrics {
                    m.record_reload(true, now);
                }
                tracing::info!(
                    trigger = trigger.as_str(),
                    generation = applied.generation,
                    schema_hash = %hash,
                    changed = ?applied_keys,
                    "config reloaded"
                );
                for key in &restart_required {
                    tracing::warn!(
                        key = %key,
                        "restart required for {key}: the change is not applied, the running value is kept"
                    );
                }
                Ok(ReloadOutcome {
                    generation: applied.generation,
                    schema_hash: hash,
                    applied: applied_keys,
                    restart_required,
                })
            }
            Err(e) => {
                let previous = self.status.load_full();
                self.status.store(Arc::new(ReloadStatus {
                    last_error: Some(e.to_string()),
                    ..(*previous).clone()
                }));
                if let Some(m) = &self.metrics {
                    m.record_reload(false, unix_now());
                }
                tracing::error!(
                    trigger = trigger.as_str(),
                    error = %e,
                    "reload failed; still serving the previous configuration and schema"
                );
                Err(e)
            }
        }
    }

    /// Everything a reload needs, built aside; nothing is changed yet.
    fn prepare(
        &self,
        applied: &Applied,
    ) -> Result<(Settings, Settings, Datasources, BuiltSchema), ReloadError> {
        let loaded = match &self.source {
            Some(source) => source.load()?,
            None => applied.last_loaded.clone(),
        };
        let effective = apply_hot(&self.settings.load(), &loaded);
        let p = &self.parts;
        let datasources = build_datasources(
            &effective,
            &p.http,
            p.token_source.clone(),
            p.metrics.as_ref(),
        )?;
        let schema = compose_schema(&effective, p, &datasources)?;
        Ok((loaded, effective, datasources, schema))
    }

    /// The files a change of which triggers a reload: the config file and
    /// the SDL files/folders in force.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .source
            .as_ref()
            .and_then(|s| s.file().map(Path::to_path_buf))
            .into_iter()
            .collect();
        paths.extend(self.settings.load().graphql.schema.iter().cloned());
        paths
    }

    /// Polls the watched files every `interval`; once a change has settled
    /// (one interval without further change), reloads.
    pub fn spawn_watcher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let paths = this.watched_paths();
                let mut seen = fingerprint_async(paths.clone()).await;
                if seen == this.files_loaded() {
                    continue;
                }
                // coalesce a burst of writes: wait until it stops changing
                loop {
                    tick.tick().await;
                    let now = fingerprint_async(paths.clone()).await;
                    if now == seen {
                        break;
                    }
                    seen = now;
                }
                tracing::info!("configuration or SDL files changed; reloading");
                // a failure is logged by reload(); the next change retries
                let _ = this.reload(Trigger::FileChange).await;
            }
        })
    }

    /// Reloads on each `SIGHUP` (several pending signals make one reload).
    #[cfg(unix)]
    pub fn spawn_on_signal(
        self: &Arc<Self>,
        mut hangup: tokio::signal::unix::Signal,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the configuration and the SDL");
                let _ = this.reload(Trigger::Signal).await;
            }
        })
    }
}

/// Installs the `SIGHUP` handler now (so that a signal arriving before the
/// gateway serves does not kill the process).
#[cfg(unix)]
pub fn listen_for_sighup() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

async fn fingerprint_async(paths: Vec<PathBuf>) -> [u8; 32] {
    tokio::task::spawn_blocking(move || fingerprint(&paths))
        .await
        .unwrap_or([0; 32])
}

/// A digest of the names and contents of `paths` (for a folder: its
/// `*.graphql` files). A missing or unreadable file counts as a state too.
pub fn fingerprint(paths: &[PathBuf]) -> [u8; 32] {
    let mut h = Sha256::new();
    let add_file = |h: &mut Sha256, p: &Path| {
        h.update(p.as_os_str().as_encoded_bytes());
        h.update([0]);
        match std::fs::read(p) {
            Ok(bytes) => {
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            Err(e) => {
                h.update(b"\xffunreadable:");
                h.update(format!("{:?}", e.kind()).as_bytes());
            }
        }
    };
    for p in paths {
        if p.is_dir() {
            h.update(b"dir:");
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|f| f.is_file() && f.extension().is_some_and(|e| e == "graphql"))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            for f in files {
                add_file(&mut h, &f);
            }
        } else {
            add_file(&mut h, p);
        }
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::load_from(None, Vec::new()).unwrap()
    }

    #[test]
    fn hot_keys_match_prefixes_only_at_a_dot() {
        assert!(is_hot("datasources"));
        assert!(is_hot("datasources.orders.url"));
        assert!(is_hot("graphql.schema"));
        assert!(!is_hot("graphql.schemas"));
        assert!(!is_hot("graphql.limits.batching"));
        assert!(!is_hot("server.listen"));
    }

    #[test]
    fn apply_hot_takes_exactly_the_hot_keys() {
        let running = settings();
        let mut new = settings();
        new.graphql.introspection = !running.graphql.introspection;
        new.graphql.limits.max_depth = 3;
        new.graphql.limits.batching = !running.graphql.limits.batching;
        new.graphql.schema.push("more".into());
        new.server.listen = "127.0.0.1:1".parse().unwrap();
        new.server.body_limit = 4096;
        new.datasources.clear();
        let changed = changed_keys(&running, &new);
        let applied = apply_hot(&running, &new);
        // every hot change applied, every other one kept
        for k in changed_keys(&applied, &new) {
            assert!(!is_hot(&k), "{k} should have been applied");
        }
        for k in changed_keys(&applied, &running) {
            assert!(is_hot(&k), "{k} should have been kept");
        }
        assert!(changed.contains(&"server.listen".to_owned()), "{changed:?}");
        assert!(
            changed.contains(&"graphql.limits.batching".to_owned()),
            "{changed:?}"
        );
        assert_eq!(applied.graphql.limits.max_depth, 3);
        assert_eq!(applied.server.listen, running.server.listen);
    }

    #[test]
    fn fingerprint_sees_content_and_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![dir.path().to_path_buf()];
        std::fs::write(dir.path().join("a.graphql"), "type A { x: Int }").unwrap();
        let one = fingerprint(&paths);
        assert_eq!(one, fingerprint(&paths));
        std::fs::write(dir.path().join("a.graphql"), "type A { y: Int }").unwrap();
        let two = fingerprint(&paths);
        assert_ne!(one, two);
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        assert_eq!(two, fingerprint(&paths));
        std::fs::write(dir.path().join("b.graphql"), "type B { y: Int }").unwrap();
        assert_ne!(two, fingerprint(&paths));
    }

    #[test]
    fn config_source_debug_hides_values() {
        let s = ConfigSource::with_env(
            None,
            vec![("AUTHGATE__AUTH0__CLIENT_SECRET".into(), "s3cr3t".into())],
        );
        let d = format!("{s:?}");
        assert!(d.contains("AUTHGATE__AUTH0__CLIENT_SECRET"), "{d}");
        assert!(!d.contains("s3cr3t"), "{d}");
    }
}
