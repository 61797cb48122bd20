//! State that replicas must agree on: the revocation list and rate-limit
//! counters. In-process by default; Redis when several replicas run.

mod memory;
mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub use self::redis::RedisStore;
pub use memory::MemoryStore;

/// A store operation failed (only the Redis backend can fail).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or answered an error.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The `[store]` settings cannot work (e.g. no or a malformed `url`).
    #[error("{0}")]
    Config(String),
}

/// Which backend holds the shared state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// In this process: right for one gateway; replicas would not agree.
    Memory,
    /// A Redis server every replica talks to.
    Redis,
}

/// `[store]`: where revocations and rate-limit counters live.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    pub backend: StoreBackend,
    /// `redis://[:password@]host:port[/db]` or `rediss://…` (TLS). A secret:
    /// it may carry the password.
    pub url: Option<Secret>,
    /// Prefix of every key, so several gateways (or apps) can share a server.
    pub key_prefix: String,
    /// Longest wait for a (re)connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest wait for one command; past it the call fails (fail closed).
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// When Redis cannot answer, accept tokens without the revocation check
    /// (logged-out tokens work again until Redis is back). Default: refuse.
    pub revocation_fail_open: bool,
    /// How long a "not revoked" answer is reused by this replica (0: never).
    /// A logout on another replica takes effect here after at most this long.
    /// "Revoked" answers are always cached: a revocation is never lifted.
    #[serde(with = "humantime_serde")]
    pub local_cache_ttl: Duration,
    /// Entries of the memory backend before the least used are dropped.
    pub memory_max_entries: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Memory,
            url: None,
            key_prefix: "authgate:".into(),
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_millis(200),
            revocation_fail_open: false,
            local_cache_ttl: Duration::from_secs(1),
            memory_max_entries: 1_000_000,
        }
    }
}

impl StoreSettings {
    /// `(key, message)` for each problem.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if self.backend == StoreBackend::Redis {
            match &self.url {
                None => v.push((
                    "store.url".into(),
                    "is required when store.backend = \"redis\" (redis://host:6379)".into(),
                )),
                Some(u) => match url::Url::parse(u.expose()) {
                    Ok(parsed) if matches!(parsed.scheme(), "redis" | "rediss") => {}
                    // the value may hold a password: never echo it
                    _ => v.push((
                        "store.url".into(),
                        "must be a redis:// or rediss:// URL".into(),
                    )),
                },
            }
        }
        if self.command_timeout.is_zero() {
            v.push((
                "store.command_timeout".into(),
                "must be greater than zero".into(),
            ));
        }
        if self.connect_timeout.is_zero() {
            v.push((
                "store.connect_timeout".into(),
                "must be greater than zero".into(),
            ));
        }
        if self.local_cache_ttl > Duration::from_secs(60) {
            v.push((
                "store.local_cache_ttl".into(),
                "at most 60s: it bounds how long a logged-out token still works on other replicas"
                    .into(),
            ));
        }
        if self.memory_max_entries == 0 {
            v.push((
                "store.memory_max_entries".into(),
                "must be greater than zero".into(),
            ));
        }
        v
    }
}

/// The configured backend. Redis connects lazily: a gateway whose Redis is
/// down starts, reports not ready, and refuses tokens until Redis answers.
pub fn build(settings: &StoreSettings) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match settings.backend {
        StoreBackend::Memory => Arc::new(MemoryStore::new(settings.memory_max_entries)),
        StoreBackend::Redis => Arc::new(RedisStore::connect(settings)?),
    })
}

/// One fixed-window counter after an increment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// hits in the current window, this one included
    pub count: u64,
    /// time until the window ends and the counter resets
    pub resets_in: Duration,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Put `token_id` on the revocation list for `ttl` (the token's remaining life).
    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<(), StoreError>;
    /// Is `token_id` on the revocation list?
    async fn is_revoked(&self, token_id: &str) -> Result<bool, StoreError>;
    /// Count one hit on `key` in a fixed window of `window`, atomically.
    async fn hit(&self, key: &str, window: Duration) -> Result<Hit, StoreError>;
    /// Forget `key`'s counter (e.g. after a successful login).
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
    /// Can the backend be reached? (for `/readyz`)
    async fn ping(&self) -> Result<(), StoreError>;
    /// Can a revocation check be answered now? A login asks before the
    /// identity provider issues tokens that the check would then refuse.
    /// A backend whose checks fail open answers yes even when unreachable.
    async fn revocation_check_ready(&self) -> Result<(), StoreError> {
        self.ping().await
    }
    /// `memory` or `redis`
    fn backend(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_needs_a_redis_url_and_never_echoes_it() {
        let mut s = StoreSettings {
            backend: StoreBackend::Redis,
            ..Default::default()
        };
        assert_eq!(s.validate()[0].0, "store.url");
        s.url = Some(Secret::new("http://:hunter2@host"));
        let v = s.validate();
        assert_eq!(v.len(), 1);
        assert!(!v[0].1.contains("hunter2"));
        s.url = Some(Secret::new("redis://127.0.0.1:6379/0"));
        assert!(s.validate().is_empty());
        assert!(StoreSettings::default().validate().is_empty());
    }
}
