//! The Redis store: what every replica of a fleet shares.
//!
//! One [`ConnectionManager`] (a multiplexed connection that reconnects on its
//! own) serves every request; each command is bounded by
//! `store.command_timeout`. Revocations are `SET key 1 PX ttl`; counters are
//! one Lua script (`INCR`, then `PEXPIRE` when the key has no expiry, then
//! `PTTL`), so a hit is atomic and costs one round trip.

use std::time::Duration;

use async_trait::async_trait;
use moka::sync::Cache;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use sha2::{Digest, Sha256};

use super::{Hit, Store, StoreError, StoreSettings};

/// Fixed-window counter: `{count, pttl}`. The expiry is set only when the key
/// has none, so the window starts with the first hit and never slides.
const HIT_SCRIPT: &str = r"
local c = redis.call('INCR', KEYS[1])
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  t = tonumber(ARGV[1])
end
return {c, t}
";

/// How long a positive ("revoked") answer is remembered locally. Always safe:
/// a revocation is never lifted before the token expires.
const REVOKED_CACHE_TTL: Duration = Duration::from_secs(300);
const LOCAL_CACHE_CAPACITY: u64 = 100_000;

/// The store on a Redis server (or a Redis-compatible one: Valkey, KeyDB…).
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    command_timeout: Duration,
    fail_open: bool,
    hit_script: Script,
    /// token ids known to be revoked
    revoked: Cache<String, ()>,
    /// token ids seen not revoked, for at most `local_cache_ttl`
    not_revoked: Option<Cache<String, ()>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Prepares the connection without waiting for it: the gateway starts
    /// while Redis is down (`/readyz` says so, and revocation checks fail
    /// closed) and connects as soon as Redis answers.
    pub fn connect(settings: &StoreSettings) -> Result<Self, StoreError> {
        let url = settings.url.as_ref().ok_or_else(|| {
            StoreError::Config("store.url is required for the redis backend".into())
        })?;
        let client = redis::Client::open(url.expose()).map_err(|e| {
            StoreError::Config(format!("store.url is not a Redis URL: {}", e.kind_str()))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.command_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Config(format!("store.url: {}", e.kind_str())))?;
        let not_revoked = (!settings.local_cache_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(LOCAL_CACHE_CAPACITY)
                .time_to_live(settings.local_cache_ttl)
                .build()
        });
        Ok(Self {
            conn,
            prefix: settings.key_prefix.clone(),
            command_timeout: settings.command_timeout,
            fail_open: settings.revocation_fail_open,
            hit_script: Script::new(HIT_SCRIPT),
            revoked: Cache::builder()
                .max_capacity(LOCAL_CACHE_CAPACITY)
                .time_to_live(REVOKED_CACHE_TTL)
                .build(),
            not_revoked,
        })
    }

    fn revocation_key(&self, token_id: &str) -> String {
        format!("{}revoked:{token_id}", self.prefix)
    }

    /// Counter keys may carry client input (an email): hashed, so that no
    /// address is stored in Redis and no key can be crafted.
    fn counter_key(&self, key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        format!("{}rl:{}", self.prefix, hex::encode(&digest[..16]))
    }

    /// Runs `op` within the command timeout. A connection lost while Redis
    /// was away is reported once more, on the next command, before the
    /// manager replaces it: that command is sent again on the fresh
    /// connection, so the first request after Redis is back succeeds.
    async fn run<T, F, Fut>(&self, what: &'static str, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            match op().await {
                Err(e)
                    if !e.is_timeout()
                        && (e.is_connection_refusal()
                            || e.is_connection_dropped()
                            || e.is_io_error()) =>
                {
                    tracing::debug!(op = what, error = %e.kind_str(), "redis connection was stale; sending again");
                    op().await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.command_timeout, attempt).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::warn!(op = what, error = %e, "redis command failed");
                Err(StoreError::Unavailable(format!(
                    "redis {what}: {}",
                    e.kind_str()
                )))
            }
            Err(_) => {
                tracing::warn!(op = what, timeout = ?self.command_timeout, "redis command timed out");
                Err(StoreError::Unavailable(format!(
                    "redis {what}: no answer within {:?}",
                    self.command_timeout
                )))
            }
        }
    }
}

trait KindStr {
    fn kind_str(&self) -> String;
}

impl KindStr for redis::RedisError {
    /// The error without the URL (which may carry a password).
    fn kind_str(&self) -> String {
        if self.is_timeout() {
            "timed out".into()
        } else if self.is_connection_refusal() {
            "connection refused".into()
        } else if self.is_connection_dropped() || self.is_io_error() {
            "connection lost".into()
        } else {
            format!("{:?}", self.kind())
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<(), StoreError> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let key = self.revocation_key(token_id);
        self.run("SET", || {
            let mut conn = self.conn.clone();
            let key = key.clone();
            async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("PX")
                    .arg(ms)
                    .query_async::<()>(&mut conn)
                    .await
            }
        })
        .await?;
        if !ttl.is_zero() {
            self.revoked.insert(token_id.to_owned(), ());
        }
        if let Some(c) = &self.not_revoked {
            c.invalidate(token_id);
        }
        Ok(())
    }

    async fn is_revoked(&self, token_id: &str) -> Result<bool, StoreError> {
        if self.revoked.contains_key(token_id) {
            return Ok(true);
        }
        if self
            .not_revoked
            .as_ref()
            .is_some_and(|c| c.contains_key(token_id))
        {
            return Ok(false);
        }
        let key = self.revocation_key(token_id);
        let answer = self
            .run("EXISTS", || {
                let mut conn = self.conn.clone();
                let key = key.clone();
                async move { conn.exists::<_, bool>(&key).await }
            })
            .await;
        match answer {
            Ok(true) => {
                self.revoked.insert(token_id.to_owned(), ());
                Ok(true)
            }
            Ok(false) => {
                if let Some(c) = &self.not_revoked {
                    c.insert(token_id.to_owned(), ());
                }
                Ok(false)
            }
            Err(e) if self.fail_open => {
                tracing::warn!(error = %e, "revocation list unavailable; accepting the token (store.revocation_fail_open)");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<Hit, StoreError> {
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let key = self.counter_key(key);
        let script = &self.hit_script;
        let (count, pttl): (u64, i64) = self
            .run("hit", || {
                let mut conn = self.conn.clone();
                let key = key.clone();
                async move { script.key(&key).arg(ms).invoke_async(&mut conn).await }
            })
            .await?;
        Ok(Hit {
            count,
            resets_in: Duration::from_millis(u64::try_from(pttl).unwrap_or(0)),
        })
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let key = self.counter_key(key);
        self.run("DEL", || {
            let mut conn = self.conn.clone();
            let key = key.clone();
            async move { conn.del::<_, ()>(&key).await }
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run("PING", || {
            let mut conn = self.conn.clone();
            async move { redis::cmd("PING").query_async::<String>(&mut conn).await }
        })
        .await
        .map(|_| ())
    }

    async fn revocation_check_ready(&self) -> Result<(), StoreError> {
        match self.ping().await {
            Err(_) if self.fail_open => Ok(()),
            other => other,
        }
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
