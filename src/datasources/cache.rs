//! Per-operation state: identical GETs are made once, and batched fields
//! gather their parents' keys into one call per level.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::ServerResult;
use futures::future::{BoxFuture, FutureExt, Shared};

use super::error::DatasourceError;
use super::upstream::Answer;

pub(crate) type SharedAnswer = Shared<BoxFuture<'static, Result<Arc<Answer>, DatasourceError>>>;
/// Items of a batched answer by key (the key's text).
pub(crate) type BatchMap = Arc<HashMap<String, Vec<serde_json::Value>>>;
pub(crate) type SharedBatch = Shared<BoxFuture<'static, Result<BatchMap, DatasourceError>>>;

/// The keys a batch collects; `None` once the call has started.
pub(crate) type Keys = Arc<Mutex<Option<Vec<String>>>>;

struct Batch {
    keys: Keys,
    result: SharedBatch,
}

/// Inserted into every request's data (by [`RequestCacheExtension`]);
/// resolvers find it with `ctx.data_opt::<RequestCache>()`.
#[derive(Default)]
pub struct RequestCache {
    gets: Mutex<HashMap<String, SharedAnswer>>,
    batches: Mutex<HashMap<String, Batch>>,
}

impl RequestCache {
    /// The answer to the GET `key`, started by `start` only the first time.
    pub(crate) fn get(&self, key: String, start: impl FnOnce() -> SharedAnswer) -> SharedAnswer {
        let mut map = self.gets.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_insert_with(start).clone()
    }

    /// Adds `key` to the open batch of `group` (or opens one with `start`),
    /// and returns the batch's answer.
    pub(crate) fn batch(
        &self,
        group: String,
        key: String,
        start: impl Fn(Keys) -> SharedBatch,
    ) -> SharedBatch {
        let mut map = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = map.get(&group) {
            let mut keys = b.keys.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = keys.as_mut() {
                k.push(key);
                return b.result.clone();
            }
        }
        let keys: Keys = Arc::new(Mutex::new(Some(vec![key])));
        let result = start(keys.clone());
        map.insert(
            group,
            Batch {
                keys,
                result: result.clone(),
            },
        );
        result
    }
}

/// Waits until no sibling resolver added a key since the last look (the
/// executor polls all the fields of one level before any of them twice),
/// then takes the keys and closes the batch.
pub(crate) async fn collect_keys(keys: &Keys) -> Vec<String> {
    let count = |k: &Keys| {
        k.lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, Vec::len)
    };
    let mut last = count(keys);
    for _ in 0..1000 {
        tokio::task::yield_now().await;
        let now = count(keys);
        if now == last {
            break;
        }
        last = now;
    }
    let mut taken = keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_default();
    taken.sort();
    taken.dedup();
    taken
}

/// A schema extension that gives every request a fresh [`RequestCache`].
pub struct RequestCacheExtension;

impl ExtensionFactory for RequestCacheExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestCacheExt)
    }
}

struct RequestCacheExt;

#[async_trait::async_trait]
impl Extension for RequestCacheExt {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        next.run(ctx, request.data(RequestCache::default())).await
    }
}

pub(crate) fn shared<T: Clone + Send + Sync + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> Shared<BoxFuture<'static, T>> {
    f.boxed().shared()
}
