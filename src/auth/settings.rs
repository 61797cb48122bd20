//! Settings of the request guard (`[guard]` in the config file).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

/// The largest `guard.leeway` accepted: a token is honoured at most this
/// long past its `exp`, so a logout must remember it at least that long.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The RSA algorithms the guard can verify. Anything else (`none`, `HS*`,
/// `ES*`, `EdDSA`) is refused by [`GuardSettings::validate`]: Auth0 signs
/// access tokens with RS256 (or PS256), and only RSA keys are loaded.
pub(crate) const SUPPORTED_ALGORITHMS: &[&str] =
    &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

/// How access tokens are verified.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardSettings {
    /// Expected `iss`, exactly as Auth0 writes it (with the trailing slash),
    /// e.g. `https://tenant.eu.auth0.com/`.
    pub issuer: String,
    /// The API identifier that must appear in `aud`.
    pub audience: String,
    /// The application's client id: the `aud` of ID tokens. Needed for
    /// [`crate::auth::Authenticator::verify_id_token`]; access tokens whose
    /// `aud` is this id (ID tokens) are refused.
    pub client_id: Option<String>,
    /// Where to fetch the key set, e.g. `https://tenant.eu.auth0.com/.well-known/jwks.json`.
    pub jwks_url: Option<Url>,
    /// A static key set file, for air-gapped deployments (instead of `jwks_url`).
    pub jwks_file: Option<PathBuf>,
    /// Where to keep a copy of the last key set fetched, used when the
    /// endpoint is down at start-up.
    pub snapshot_path: Option<PathBuf>,
    /// Accepted `alg` values; RSA only.
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Tokens longer than this are refused before any decoding.
    pub max_token_bytes: usize,
    /// How often the key set is refetched (sooner if `Cache-Control: max-age` says so).
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// A token with an unknown `kid` triggers at most one refetch per this period.
    #[serde(with = "humantime_serde")]
    pub unknown_kid_cooldown: Duration,
    /// How long a request waits for that refetch; then it is answered with
    /// the keys in hand while the fetch goes on in the background.
    #[serde(with = "humantime_serde")]
    pub refetch_wait: Duration,
    /// The namespaced claim that carries the user's roles.
    pub roles_claim: String,
    /// The verified-token cache's budget, in (estimated heap) bytes; 0
    /// disables the cache. Bounded by bytes, not entries, because a token's
    /// claims vary in size: the budget is what the process may spend.
    pub cache_max_bytes: u64,
    /// Deprecated: the cache used to be bounded by entries. `0` still
    /// disables it; any other value is ignored (with a warning at start-up)
    /// in favour of `cache_max_bytes`.
    pub cache_capacity: Option<u64>,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: String::new(),
            client_id: None,
            jwks_url: None,
            jwks_file: None,
            snapshot_path: None,
            algorithms: vec!["RS256".to_owned()],
            leeway: Duration::from_secs(30),
            max_token_bytes: 8192,
            refresh_interval: Duration::from_secs(600),
            unknown_kid_cooldown: Duration::from_secs(30),
            refetch_wait: Duration::from_secs(2),
            roles_claim: "https://authgate.dev/roles".to_owned(),
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            cache_capacity: None,
        }
    }
}

/// 16 MiB: about 5,600 typical Auth0 access tokens (each budgeted at ~3.0 KB,
/// 2.4 KB measured), which keeps the process near 26 MB RSS however many
/// distinct tokens arrive. A miss costs one signature check (~30 µs against
/// ~1 µs for a hit: benches/RESULTS.md, "verified-token cache"): even a gateway
/// that misses every time at 1,000 requests/s spends 3 % of a core on it.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 16 * 1024 * 1024;

impl GuardSettings {
    /// Whether verified tokens are cached at all.
    pub fn cache_enabled(&self) -> bool {
        self.cache_max_bytes > 0 && self.cache_capacity != Some(0)
    }

    /// Settings for `issuer`, `audience` and a JWKS URL, everything else default.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, jwks_url: Url) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: Some(jwks_url),
            ..Self::default()
        }
    }

    /// Check the settings; every problem is returned as (key path, message).
    pub fn validate(&self) -> Result<(), Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut err = |key: &str, msg: String| errors.push((format!("guard.{key}"), msg));

        match Url::parse(&self.issuer) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {
                if !self.issuer.ends_with('/') {
                    err(
                        "issuer",
                        "must end with '/' exactly as Auth0 writes `iss` (e.g. https://tenant.eu.auth0.com/)"
                            .into(),
                    );
                }
            }
            _ => err(
                "issuer",
                "must be an http(s) URL such as https://tenant.eu.auth0.com/".into(),
            ),
        }
        if self.audience.trim().is_empty() {
            err(
                "audience",
                "must be set to the API identifier tokens are issued for".into(),
            );
        }
        if let Some(id) = &self.client_id {
            if id.trim().is_empty() {
                err("client_id", "must not be empty when set".into());
            } else if *id == self.audience {
                err(
                    "client_id",
                    "must differ from guard.audience (otherwise ID tokens would pass as access tokens)"
                        .into(),
                );
            }
        }
        match (&self.jwks_url, &self.jwks_file) {
            (None, None) => err("jwks_url", "set guard.jwks_url or guard.jwks_file".into()),
            (Some(_), Some(_)) => err(
                "jwks_file",
                "set only one of guard.jwks_url and guard.jwks_file".into(),
            ),
            (Some(u), None) if !matches!(u.scheme(), "https" | "http") => {
                err("jwks_url", "must be an http(s) URL".into())
            }
            _ => {}
        }
        if self.jwks_file.is_some() && self.snapshot_path.is_some() {
            err(
                "snapshot_path",
                "is only used with guard.jwks_url (a static file needs no snapshot)".into(),
            );
        }
        if self.algorithms.is_empty() {
            err("algorithms", "must list at least one algorithm".into());
        }
        for alg in &self.algorithms {
            if !SUPPORTED_ALGORITHMS.contains(&alg.as_str()) {
                err(
                    "algorithms",
                    format!(
                        "unsupported algorithm {alg:?}: only {} are allowed",
                        SUPPORTED_ALGORITHMS.join(", ")
                    ),
                );
            }
        }
        if self.leeway > MAX_LEEWAY {
            err("leeway", "must be at most 5m".into());
        }
        if !(256..=65_536).contains(&self.max_token_bytes) {
            err("max_token_bytes", "must be between 256 and 65536".into());
        }
        if self.refresh_interval < Duration::from_secs(1) {
            err("refresh_interval", "must be at least 1s".into());
        }
        if self.refetch_wait > Duration::from_secs(30) {
            err("refetch_wait", "must be at most 30s".into());
        }
        if self.roles_claim.trim().is_empty() {
            err("roles_claim", "must not be empty".into());
        }
        crate::validate::outcome(errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn good() -> GuardSettings {
        GuardSettings::new(
            "https://tenant.eu.auth0.com/",
            "https://api.example.com",
            Url::parse("https://tenant.eu.auth0.com/.well-known/jwks.json").unwrap(),
        )
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = GuardSettings::default();
        assert_eq!(s.algorithms, vec!["RS256"]);
        assert_eq!(s.leeway, Duration::from_secs(30));
        assert_eq!(s.max_token_bytes, 8192);
        assert_eq!(s.refresh_interval, Duration::from_secs(600));
        assert_eq!(s.unknown_kid_cooldown, Duration::from_secs(30));
        assert_eq!(s.refetch_wait, Duration::from_secs(2));
        assert_eq!(s.roles_claim, "https://authgate.dev/roles");
        assert_eq!(s.cache_max_bytes, 16 * 1024 * 1024);
        assert_eq!(s.cache_capacity, None);
        assert!(s.cache_enabled());
        assert!(good().validate().is_ok());
    }

    #[test]
    fn every_problem_names_its_key() {
        let mut s = good();
        s.issuer = "https://tenant.eu.auth0.com".into();
        s.audience = " ".into();
        s.jwks_file = Some("/x".into());
        s.algorithms = vec!["HS256".into(), "none".into()];
        s.max_token_bytes = 10;
        let errs = s.validate().unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "guard.issuer",
                "guard.audience",
                "guard.jwks_file",
                "guard.algorithms",
                "guard.algorithms",
                "guard.max_token_bytes"
            ]
        );
    }

    #[test]
    fn client_id_equal_to_audience_is_refused() {
        let mut s = good();
        s.client_id = Some(s.audience.clone());
        assert_eq!(s.validate().unwrap_err()[0].0, "guard.client_id");
        s.jwks_url = None;
        s.client_id = None;
        assert_eq!(s.validate().unwrap_err()[0].0, "guard.jwks_url");
    }

    #[test]
    fn deserialises_with_humantime_and_refuses_typos() {
        let s: GuardSettings = toml::from_str(
            "issuer = \"https://t/\"\naudience = \"a\"\nleeway = \"10s\"\nrefresh_interval = \"5m\"",
        )
        .unwrap();
        assert_eq!(s.leeway, Duration::from_secs(10));
        assert_eq!(s.refresh_interval, Duration::from_secs(300));
        assert!(toml::from_str::<GuardSettings>("audiance = \"a\"").is_err());
    }
}
