//! The in-process store: one gateway, no setup.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::sync::Cache;
use moka::Expiry;

use super::{Hit, Store, StoreError};

/// A revocation: only its expiry matters.
#[derive(Clone)]
struct Entry {
    expires: Instant,
}

/// A fixed-window counter. Counting is an atomic add on a counter found by
/// a plain read: the map is written only when a window opens, not on every
/// hit (moka's upsert on every request was most of the limiter's cost).
struct Counter {
    count: AtomicU64,
    expires: Instant,
}

trait Expiring {
    fn expires(&self) -> Instant;
}

impl Expiring for Entry {
    fn expires(&self) -> Instant {
        self.expires
    }
}

impl Expiring for Arc<Counter> {
    fn expires(&self) -> Instant {
        self.expires
    }
}

struct ByEntry;

impl<V: Expiring> Expiry<String, V> for ByEntry {
    fn expire_after_create(&self, _k: &String, v: &V, now: Instant) -> Option<Duration> {
        Some(v.expires().saturating_duration_since(now))
    }
    fn expire_after_update(
        &self,
        _k: &String,
        v: &V,
        now: Instant,
        _d: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.expires().saturating_duration_since(now))
    }
}

/// Entries expire on their own; the map is bounded so a flood cannot grow it
/// without limit (oldest-least-used entries go first).
pub struct MemoryStore {
    revoked: Cache<String, Entry>,
    counters: Cache<String, Arc<Counter>>,
}

impl MemoryStore {
    pub fn new(max_entries: u64) -> Self {
        Self {
            revoked: Cache::builder()
                .max_capacity(max_entries)
                .expire_after(ByEntry)
                .build(),
            counters: Cache::builder()
                .max_capacity(max_entries)
                .expire_after(ByEntry)
                .build(),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(1_000_000)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<(), StoreError> {
        let expires = Instant::now() + ttl;
        self.revoked.insert(token_id.to_owned(), Entry { expires });
        Ok(())
    }

    async fn is_revoked(&self, token_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .revoked
            .get(token_id)
            .is_some_and(|e| e.expires > Instant::now()))
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<Hit, StoreError> {
        let now = Instant::now();
        let counter = match self.counters.get(key) {
            Some(c) if c.expires > now => c,
            // a new window: opened once, atomically (concurrent hits that
            // find none agree on one counter)
            _ => self
                .counters
                .entry(key.to_owned())
                .and_upsert_with(|old| match old {
                    Some(e) if e.value().expires > now => e.into_value(),
                    _ => Arc::new(Counter {
                        count: AtomicU64::new(0),
                        expires: now + window,
                    }),
                })
                .into_value(),
        };
        let count = counter.count.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Hit {
            count,
            resets_in: counter.expires.saturating_duration_since(now),
        })
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.counters.invalidate(key);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn revocations_expire() {
        let s = MemoryStore::default();
        s.revoke("a", Duration::from_secs(60)).await.unwrap();
        s.revoke("b", Duration::ZERO).await.unwrap();
        assert!(s.is_revoked("a").await.unwrap());
        assert!(!s.is_revoked("b").await.unwrap());
        assert!(!s.is_revoked("c").await.unwrap());
    }

    #[tokio::test]
    async fn counters_count_within_a_window() {
        let s = MemoryStore::default();
        for i in 1..=5 {
            let h = s.hit("k", Duration::from_secs(60)).await.unwrap();
            assert_eq!(h.count, i);
            assert!(h.resets_in <= Duration::from_secs(60));
        }
        s.reset("k").await.unwrap();
        assert_eq!(s.hit("k", Duration::from_secs(60)).await.unwrap().count, 1);
    }
}
