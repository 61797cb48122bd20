//! State that replicas must agree on: the revocation list and rate-limit
//! counters. In-process by default; Redis when several replicas run.

mod memory;

use std::time::Duration;

use async_trait::async_trait;

pub use memory::MemoryStore;

/// A store operation failed (only the Redis backend can fail).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or answered an error.
    #[error("store unavailable: {0}")]
    Unavailable(String),
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
    /// `memory` or `redis`
    fn backend(&self) -> &'static str;
}
