//! Typed settings: `config/default.toml` (compiled in) → `--config FILE` →
//! `AUTHGATE__SECTION__KEY` environment variables. Unknown keys are errors;
//! validation names the key and its environment variable; secrets never print.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

/// The configuration every build starts from: it runs offline, on the
/// embedded emulator, with a memory store.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Layered over the defaults only in `development`: the example service and
/// its datasources, the emulator's seeded accounts.
pub const DEVELOPMENT_TOML: &str = include_str!("../../config/development.toml");

/// `guard.snapshot_path` in config/default.toml: applies only when the keys
/// come from `guard.jwks_url`.
pub const DEFAULT_SNAPSHOT_PATH: &str = ".authgate/jwks-snapshot.json";

/// The environment-variable prefix; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "AUTHGATE__";

/// The whole settings tree.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `development` or `production`: production refuses the emulator and
    /// development-only conveniences.
    pub environment: Environment,
    pub server: crate::http::ServerSettings,
    pub graphql: crate::graphql::GraphqlSettings,
    pub telemetry: crate::telemetry::TelemetrySettings,
    /// Which identity provider the gateway talks to.
    pub identity: IdentitySettings,
    /// The Auth0 tenant and application (also used, re-pointed, for the emulator).
    pub auth0: crate::auth0::Auth0Settings,
    /// The embedded Auth0 emulator (development and tests only).
    pub emulator: crate::emulator::EmulatorSettings,
    /// Token custody and sign-up behaviour.
    pub session: crate::session::SessionSettings,
    /// Access-token verification. `issuer`, `audience`, `client_id` and
    /// `jwks_url` default to the identity provider's when left empty.
    pub guard: crate::auth::GuardSettings,
    /// Back-office invitations (Management API).
    #[serde(default)]
    pub invites: crate::invite::InviteSettings,
    /// Shared state (revocations, rate-limit counters): memory or Redis.
    #[serde(default)]
    pub store: crate::store::StoreSettings,
    /// Abuse limits per IP, account and principal.
    #[serde(default)]
    pub limits: crate::limits::LimitsSettings,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: crate::metrics::MetricsSettings,
    /// The team's backend services, by name (used by `@rest(source:)` / `@graphql(source:)`).
    #[serde(default)]
    pub datasources: std::collections::BTreeMap<String, crate::datasources::DatasourceSettings>,
    /// Development conveniences (refused in production).
    #[serde(default)]
    pub development: DevelopmentSettings,
    /// Reloading the configuration and the SDL without a restart (SIGHUP,
    /// file watching).
    #[serde(default)]
    pub reload: ReloadSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    /// `emulator` (started in-process; the default) or `auth0`.
    pub provider: ProviderKind,
    /// Where the in-process emulator listens (port 0 picks one).
    pub emulator_listen: SocketAddr,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevelopmentSettings {
    /// Start the example orders service (REST + GraphQL) in-process on this
    /// address, so that the example datasources answer. Empty: off.
    pub example_upstream: String,
}

/// `[reload]`: re-reading the configuration and the SDL without a restart
/// (the reloader in `reload` applies it; the section is config's own, so
/// that `config` does not import the module that loads it).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadSettings {
    /// Watch the config file and the SDL files/folders of `graphql.schema`,
    /// and reload when their content changes. `SIGHUP` always reloads.
    pub watch: bool,
    /// How often the watcher compares the files' content. A change is applied
    /// once the files have stayed the same for one more interval (an editor's
    /// burst of writes is one reload).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        Self {
            watch: false,
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl ReloadSettings {
    /// `(key, message)` for each problem.
    pub fn validate(&self) -> Vec<(String, String)> {
        if self.poll_interval < Duration::from_millis(10) {
            vec![(
                "reload.poll_interval".to_owned(),
                "must be at least 10ms".to_owned(),
            )]
        } else {
            Vec::new()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Emulator,
    Auth0,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

/// One problem with the configuration, named by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// dotted key, e.g. `server.listen`
    pub key: String,
    pub message: String,
    /// where the bad value came from, when known (a file or an env var)
    pub source: Option<String>,
}

impl ConfigIssue {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
            source: None,
        }
    }
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "config error: {}", self.message)?;
        } else {
            write!(f, "config error: {}: {}", self.key, self.message)?;
        }
        match &self.source {
            Some(src) => write!(f, " (from {src})"),
            None if !self.key.is_empty() => write!(f, " (env: {})", env_var_for(&self.key)),
            None => Ok(()),
        }
    }
}

/// All the problems found; `Display` prints one line each.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError(pub Vec<ConfigIssue>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// `server.listen` → `AUTHGATE__SERVER__LISTEN`
pub fn env_var_for(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

impl Settings {
    /// Layers the defaults, `file` and the process environment, then validates.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Settings::load`], with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(vec![ConfigIssue {
                    key: String::new(),
                    message: format!("config file {} not found", path.display()),
                    source: None,
                }]));
            }
        }
        let env = EnvVars::from_iter(env);
        let layered = |development: bool| {
            let mut f = Figment::from(Toml::string(DEFAULT_TOML));
            if development {
                f = f.merge(Toml::string(DEVELOPMENT_TOML));
            }
            if let Some(path) = file {
                f = f.merge(Toml::file_exact(path));
            }
            f.merge(&env)
        };
        // the environment decides whether the development layer applies
        let environment: Environment = layered(false)
            .extract_inner("environment")
            .map_err(from_figment)?;
        let figment = layered(environment == Environment::Development);
        let settings: Settings = figment.extract().map_err(from_figment)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut issues = Vec::new();
        // what a real tenant needs, reported once, all together, first
        let missing = self.missing_tenant_keys();
        if !missing.is_empty() {
            let list: Vec<String> = missing
                .iter()
                .map(|k| format!("{k} ({})", env_var_for(k)))
                .collect();
            issues.push(ConfigIssue::new(
                "",
                format!(
                    "a real Auth0 tenant needs settings that are missing: {}. Set them in the --config file or as environment variables (see config/production.example.toml)",
                    list.join(", ")
                ),
            ));
        }
        issues.extend(
            self.server
                .validate()
                .into_iter()
                .map(|(k, m)| ConfigIssue::new(k, m)),
        );
        issues.extend(
            self.graphql
                .validate()
                .into_iter()
                .map(|(k, m)| ConfigIssue::new(k, m)),
        );
        match self.identity.provider {
            ProviderKind::Emulator if self.environment == Environment::Production => {
                issues.push(ConfigIssue::new(
                    "identity.provider",
                    "the emulator is for development and tests; production needs `auth0`",
                ))
            }
            ProviderKind::Auth0 => {
                if let Err(errs) = self.auth0.validate() {
                    issues.extend(
                        errs.into_iter()
                            .filter(|(k, _)| !missing.contains(&k.as_str()))
                            .map(|(k, m)| ConfigIssue::new(k, m)),
                    );
                }
            }
            ProviderKind::Emulator => {}
        }
        if self.identity.provider == ProviderKind::Emulator && !self.emulator.allow_non_loopback {
            // the emulator publishes its seeded accounts' passwords in the README
            let why = "the embedded emulator and its seeded development accounts only serve on a loopback address (127.0.0.1); use a real Auth0 tenant, or set emulator.allow_non_loopback = true (development only)";
            if !self.server.listen.ip().is_loopback() {
                issues.push(ConfigIssue::new("server.listen", why));
            }
            if !self.identity.emulator_listen.ip().is_loopback() {
                issues.push(ConfigIssue::new("identity.emulator_listen", why));
            }
        }
        for (name, ds) in &self.datasources {
            if let Err(errs) = ds.validate(name) {
                issues.extend(errs.into_iter().map(|(k, m)| ConfigIssue::new(k, m)));
            }
        }
        if !self.development.example_upstream.is_empty() {
            if self.environment == Environment::Production {
                issues.push(ConfigIssue::new(
                    "development.example_upstream",
                    "the example service is for development; leave it empty in production",
                ));
            } else if self
                .development
                .example_upstream
                .parse::<SocketAddr>()
                .is_err()
            {
                issues.push(ConfigIssue::new(
                    "development.example_upstream",
                    "must be an address like 127.0.0.1:4002, or empty",
                ));
            }
        }
        if let Err(errs) = self.invites.validate() {
            issues.extend(errs.into_iter().map(|(k, m)| ConfigIssue::new(k, m)));
        }
        if let Err(errs) = self.effective_guard(None).validate() {
            // the guard's blanks come from [auth0]: a missing tenant key is
            // already reported above
            let derived = |k: &str| match k {
                "guard.issuer" | "guard.jwks_url" => {
                    self.guard.issuer.is_empty() && missing.contains(&"auth0.domain")
                }
                "guard.audience" => {
                    self.guard.audience.is_empty() && missing.contains(&"auth0.audience")
                }
                _ => false,
            };
            issues.extend(
                errs.into_iter()
                    .filter(|(k, _)| !derived(k))
                    .map(|(k, m)| ConfigIssue::new(k, m)),
            );
        }
        issues.extend(
            self.session
                .validate()
                .into_iter()
                .map(|(k, m)| ConfigIssue::new(k, m)),
        );
        // fleet: store, limits
        issues.extend(
            self.store
                .validate()
                .into_iter()
                .chain(self.limits.validate())
                .map(|(k, m)| ConfigIssue::new(k, m)),
        );
        issues.extend(
            self.reload
                .validate()
                .into_iter()
                .map(|(k, m)| ConfigIssue::new(k, m)),
        );
        issues.extend(
            self.telemetry
                .validate()
                .into_iter()
                .map(|(k, m)| ConfigIssue::new(k, m)),
        );
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(issues))
        }
    }

    /// The `[auth0]` keys a real tenant needs that are left empty (none with
    /// the emulator, which fills them).
    fn missing_tenant_keys(&self) -> Vec<&'static str> {
        if self.identity.provider != ProviderKind::Auth0 {
            return Vec::new();
        }
        let a = &self.auth0;
        let mut missing = Vec::new();
        if a.domain.trim().is_empty() && a.base_url.is_none() {
            missing.push("auth0.domain");
        }
        if a.client_id.trim().is_empty() {
            missing.push("auth0.client_id");
        }
        if a.client_secret.is_empty() {
            missing.push("auth0.client_secret");
        }
        if a.audience.trim().is_empty() {
            missing.push("auth0.audience");
        }
        missing
    }

    /// The guard's settings with the blanks filled from the identity provider
    /// (`issuer` given: the emulator's, known once it is bound).
    pub fn effective_guard(&self, issuer: Option<&str>) -> crate::auth::GuardSettings {
        let mut g = self.guard.clone();
        let provider_issuer = match (issuer, self.identity.provider) {
            (Some(i), _) => Some(i.to_owned()),
            (None, ProviderKind::Auth0) => Some(self.auth0.issuer()),
            // not bound yet: a placeholder that validates
            (None, ProviderKind::Emulator) => Some("http://127.0.0.1/".to_owned()),
        };
        if g.issuer.is_empty() {
            if let Some(i) = &provider_issuer {
                g.issuer = i.clone();
            }
        }
        if g.audience.is_empty() {
            g.audience = self.auth0.audience.clone();
        }
        if g.client_id.is_none() && !self.auth0.client_id.is_empty() {
            g.client_id = Some(self.auth0.client_id.clone());
        }
        if g.jwks_url.is_none() && g.jwks_file.is_none() {
            g.jwks_url = url::Url::parse(&format!(
                "{}.well-known/jwks.json",
                if g.issuer.ends_with('/') {
                    g.issuer.clone()
                } else {
                    format!("{}/", g.issuer)
                }
            ))
            .ok();
        }
        // the compiled-in snapshot path serves jwks_url only; "" turns it off
        match &g.snapshot_path {
            Some(p) if p.as_os_str().is_empty() => g.snapshot_path = None,
            Some(p) if g.jwks_file.is_some() && p == Path::new(DEFAULT_SNAPSHOT_PATH) => {
                g.snapshot_path = None
            }
            _ => {}
        }
        g
    }

    /// The effective settings as TOML, every secret redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# the settings could not be printed: {e}\n"))
    }
}

/// `AUTHGATE__A__B=v` → `a.b = v`, from an explicit list of variables (so
/// tests need not touch the process environment). Values are read leniently,
/// like figment's own `Env` (`true`, `3`, `[a, b]`).
struct EnvVars(Vec<(Vec<String>, String)>);

impl FromIterator<(String, String)> for EnvVars {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut vars: Vec<(Vec<String>, String)> = iter
            .into_iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(ENV_PREFIX)?;
                let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
                (!path.iter().any(String::is_empty)).then_some((path, v))
            })
            .collect();
        vars.sort();
        EnvVars(vars)
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable")
            .interpolater(|_: &Profile, keys: &[&str]| env_var_for(&keys.join(".")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (path, raw) in &self.0 {
            let value: Value = raw.parse().unwrap_or_else(|_| Value::from(raw.clone()));
            insert_path(&mut root, path, value);
        }
        Ok(Profile::Default.collect(root))
    }
}

fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// `path.field`, or `field` at the top level.
fn with_field(path: &[String], field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{}.{field}", path.join("."))
    }
}

fn from_figment(err: figment::Error) -> ConfigError {
    let issues = err
        .into_iter()
        .map(|e| {
            let mut key = e.path.join(".");
            let message = match &e.kind {
                // figment's path of an unknown key already ends with the key
                // (it fails while reading the key); a missing one's does not
                figment::error::Kind::UnknownField(field, _) => {
                    if e.path.is_empty() {
                        key = field.clone();
                    }
                    "unknown key (check its spelling)".to_owned()
                }
                figment::error::Kind::MissingField(field) => {
                    key = with_field(&e.path, field);
                    "missing".to_owned()
                }
                other => other.to_string(),
            };
            let source = e.metadata.as_ref().map(|m| {
                if m.name.contains("environment") {
                    env_var_for(&key)
                } else {
                    match &m.source {
                        Some(figment::Source::File(p)) => p.display().to_string(),
                        _ => m.name.to_string(),
                    }
                }
            });
            ConfigIssue {
                key,
                message,
                source,
            }
        })
        .collect();
    ConfigError(issues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_validate() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(s.environment, Environment::Development);
    }

    #[test]
    fn connection_limits_have_defaults_and_must_be_positive() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.server.header_timeout, Duration::from_secs(10));
        assert_eq!(s.server.idle_timeout, Duration::from_secs(60));
        assert_eq!(s.server.max_connections, 4096);
        let err = Settings::load_from(
            None,
            env(&[
                ("AUTHGATE__SERVER__HEADER_TIMEOUT", "0s"),
                ("AUTHGATE__SERVER__IDLE_TIMEOUT", "0s"),
                ("AUTHGATE__SERVER__MAX_CONNECTIONS", "0"),
            ]),
        )
        .unwrap_err()
        .to_string();
        for key in [
            "server.header_timeout",
            "server.idle_timeout",
            "server.max_connections",
        ] {
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn env_overrides_with_double_underscore() {
        let s = Settings::load_from(
            None,
            env(&[
                ("AUTHGATE__SERVER__LISTEN", "127.0.0.1:0"),
                ("AUTHGATE__GRAPHQL__LIMITS__MAX_DEPTH", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.listen.port(), 0);
        assert_eq!(s.graphql.limits.max_depth, 3);
    }

    #[test]
    fn nesting_limits_have_defaults_and_a_ceiling() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.graphql.limits.max_nesting, 64);
        assert_eq!(s.graphql.limits.max_expanded_fields, 5000);
        let err = Settings::load_from(
            None,
            env(&[("AUTHGATE__GRAPHQL__LIMITS__MAX_NESTING", "101")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("graphql.limits.max_nesting"), "{err}");
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let err = Settings::load_from(None, env(&[("AUTHGATE__SERVER__LISTEN", "nonsense")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listen"), "{err}");
        assert!(err.contains("AUTHGATE__SERVER__LISTEN"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn unknown_env_key_is_an_error() {
        let err = Settings::load_from(None, env(&[("AUTHGATE__SERVER__LISTN", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listn"), "{err}");
        assert!(err.contains("unknown key"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named_once() {
        for (source, file) in [
            (env(&[("AUTHGATE__STORE__BOGUS", "x")]), None),
            (Vec::new(), Some("[store]\nbogus = 1\n")),
        ] {
            let path = file.map(|text| {
                let p =
                    std::env::temp_dir().join(format!("authgate-{}.toml", uuid::Uuid::new_v4()));
                std::fs::write(&p, text).unwrap();
                p
            });
            let err = Settings::load_from(path.as_deref(), source)
                .unwrap_err()
                .to_string();
            if let Some(p) = &path {
                let _ = std::fs::remove_file(p);
            }
            assert!(err.contains("store.bogus"), "{err}");
            assert!(!err.contains("bogus.bogus"), "{err}");
        }
        // a key spelt like its section is still named in full
        let err = Settings::load_from(None, env(&[("AUTHGATE__STORE__STORE", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("store.store:"), "{err}");
        assert!(!err.contains("store.store.store"), "{err}");
    }

    #[test]
    fn fleet_sections_from_env() {
        let s = Settings::load_from(
            None,
            env(&[
                ("AUTHGATE__STORE__BACKEND", "redis"),
                ("AUTHGATE__STORE__URL", "redis://127.0.0.1:6379"),
                ("AUTHGATE__LIMITS__LOGIN__PER_ACCOUNT", "5"),
                ("AUTHGATE__METRICS__LISTEN", "127.0.0.1:0"),
            ]),
        )
        .unwrap();
        assert_eq!(s.store.backend, crate::store::StoreBackend::Redis);
        let login = s.limits.budget(Some(crate::limits::Operation::Login));
        assert_eq!((login.per_ip, login.per_account), (30, 5));
        let err = Settings::load_from(None, env(&[("AUTHGATE__STORE__BACKEND", "redis")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("store.url"), "{err}");
    }

    #[test]
    fn the_default_snapshot_path_serves_jwks_url_only() {
        let dev = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(
            dev.guard.snapshot_path.as_deref(),
            Some(Path::new(DEFAULT_SNAPSHOT_PATH)),
            "config/default.toml and DEFAULT_SNAPSHOT_PATH agree"
        );
        assert!(dev.effective_guard(None).snapshot_path.is_some());
        // a static key file: the compiled-in snapshot path does not apply
        let file =
            Settings::load_from(None, env(&[("AUTHGATE__GUARD__JWKS_FILE", "/k.json")])).unwrap();
        let g = file.effective_guard(None);
        assert_eq!(g.snapshot_path, None);
        assert_eq!(g.jwks_url, None);
        // "" turns it off
        let off =
            Settings::load_from(None, env(&[("AUTHGATE__GUARD__SNAPSHOT_PATH", "")])).unwrap();
        assert_eq!(off.effective_guard(None).snapshot_path, None);
        // an explicit path next to a static file is a mistake worth naming
        let err = Settings::load_from(
            None,
            env(&[
                ("AUTHGATE__GUARD__JWKS_FILE", "/k.json"),
                ("AUTHGATE__GUARD__SNAPSHOT_PATH", "/var/lib/authgate/s.json"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("guard.snapshot_path"), "{err}");
    }

    #[test]
    fn env_var_names() {
        assert_eq!(
            env_var_for("auth0.client_secret"),
            "AUTHGATE__AUTH0__CLIENT_SECRET"
        );
    }
}
