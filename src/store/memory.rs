//! The in-process store: one gateway, no setup.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::sync::Cache;
use moka::Expiry;

use super::{Hit, Store, StoreError};

#[derive(Clone)]
struct Entry {
    count: u64,
    expires: Instant,
}

struct ByEntry;

impl Expiry<String, Entry> for ByEntry {
    fn expire_after_create(&self, _k: &String, v: &Entry, now: Instant) -> Option<Duration> {
        Some(v.expires.saturating_duration_since(now))
    }
    fn expire_after_update(
        &self,
        _k: &String,
        v: &Entry,
        now: Instant,
        _d: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.expires.saturating_duration_since(now))
    }
}

/// Entries expire on their own; the map is bounded so a flood cannot grow it
/// without limit (oldest-least-used entries go first).
pub struct MemoryStore {
    revoked: Cache<String, Entry>,
    counters: Cache<String, Entry>,
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
        self.revoked
            .insert(token_id.to_owned(), Entry { count: 1, expires });
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
        let entry = self
            .counters
            .entry(key.to_owned())
            .and_upsert_with(|old| match old {
                Some(e) if e.value().expires > now => Entry {
                    count: e.value().count + 1,
                    expires: e.value().expires,
                },
                _ => Entry {
                    count: 1,
                    expires: now + window,
                },
            })
            .into_value();
        Ok(Hit {
            count: entry.count,
            resets_in: entry.expires.saturating_duration_since(now),
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
