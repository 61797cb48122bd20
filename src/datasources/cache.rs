//! Per-operation state: identical GETs are made once, and batched fields
//! gather their parents' keys into one call per level.
//!
//! A batch closes when every parent that will join it has joined, not after
//! some polls or some time: a `@rest` field that returns a list records how
//! many items it returned, and each parent of a batched field checks in with
//! its place in that list (with its key, or without one when its key is
//! null). Once every item of every list seen so far has checked in, the call
//! goes out, whatever order the executor polled the resolvers in. Parents whose
//! list length is not known (a list from `@graphql` or from inside a JSON
//! answer) fall back to a quiet window: the batch waits until no parent has
//! joined for `batch_window`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::Notify;

use super::error::DatasourceError;
use super::upstream::Answer;

pub(crate) type SharedAnswer = Shared<BoxFuture<'static, Result<Arc<Answer>, DatasourceError>>>;
/// Items of a batched answer by key (the key's text).
pub(crate) type BatchMap = Arc<HashMap<String, Vec<async_graphql::Value>>>;
pub(crate) type SharedBatch = Shared<BoxFuture<'static, Result<BatchMap, DatasourceError>>>;

/// Longest wait for a parent of a list of known length that has not checked
/// in. Every such parent resolves in the same task as the others, so this
/// bounds only cases the executor never reaches (a parent whose resolution
/// was cut short), never a normal batch.
const STALL: Duration = Duration::from_millis(250);

/// One parent joining a batch.
#[derive(Debug, Clone)]
pub(crate) struct Checkin {
    /// The list this parent is an item of (its response path) and its index
    /// there; `None` for a parent that is not a list item.
    pub slot: Option<(String, usize)>,
    /// That list's length, when a `@rest` field produced it.
    pub expected: Option<usize>,
    /// The parent's key; `None` when it has none (it still checks in, so the
    /// batch does not wait for it).
    pub key: Option<String>,
}

#[derive(Default)]
struct Pending {
    open: bool,
    keys: Vec<String>,
    /// list path → (its length if known, the indexes checked in)
    lists: HashMap<String, (Option<usize>, HashSet<usize>)>,
}

impl Pending {
    fn add(&mut self, c: Checkin) {
        if let Some((list, index)) = c.slot {
            let entry = self
                .lists
                .entry(list)
                .or_insert_with(|| (c.expected, HashSet::new()));
            entry.1.insert(index);
        }
        if let Some(k) = c.key {
            self.keys.push(k);
        }
    }

    /// `Some(true)`: every parent is in; `Some(false)`: some list is known and
    /// incomplete; `None`: some list has an unknown length.
    fn complete(&self) -> Option<bool> {
        let mut all = true;
        for (expected, seen) in self.lists.values() {
            match expected {
                None => return None,
                Some(n) => all &= seen.len() >= *n,
            }
        }
        Some(all)
    }
}

/// The parents gathering for one batched call.
pub(crate) struct Gather {
    pending: Mutex<Pending>,
    joined: Notify,
}

impl Gather {
    fn new(first: Checkin) -> Arc<Self> {
        let mut pending = Pending {
            open: true,
            ..Default::default()
        };
        pending.add(first);
        Arc::new(Self {
            pending: Mutex::new(pending),
            joined: Notify::new(),
        })
    }

    /// A batch of this one key (no per-request cache to gather in).
    pub(crate) fn of(key: String) -> Arc<Self> {
        Self::new(Checkin {
            slot: None,
            expected: None,
            key: Some(key),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until every parent has checked in (or, for lists of unknown
    /// length, until none has joined for `window`), then closes the batch and
    /// returns its keys, sorted, each once.
    pub(crate) async fn keys(&self, window: Duration) -> Vec<String> {
        loop {
            let wait = match self.lock().complete() {
                Some(true) => break,
                Some(false) => STALL,
                None => window,
            };
            // a check-in between the look above and this wait left a permit:
            // `notified` returns at once
            if tokio::time::timeout(wait, self.joined.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        let mut p = self.lock();
        p.open = false;
        let mut keys = std::mem::take(&mut p.keys);
        keys.sort();
        keys.dedup();
        keys
    }
}

struct Batch {
    gather: Arc<Gather>,
    result: SharedBatch,
}

/// Inserted into every request's data (by the factory's `request_data`);
/// resolvers find it with `ctx.data_opt::<RequestCache>()`.
#[derive(Default)]
pub struct RequestCache {
    gets: Mutex<HashMap<String, SharedAnswer>>,
    batches: Mutex<HashMap<String, Batch>>,
    /// response path of a list a `@rest` field returned → its object items
    lists: Mutex<HashMap<String, usize>>,
}

impl RequestCache {
    /// The answer to the GET `key`, started by `start` only the first time.
    pub(crate) fn get(&self, key: String, start: impl FnOnce() -> SharedAnswer) -> SharedAnswer {
        let mut map = self.gets.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_insert_with(start).clone()
    }

    /// Remembers that the list at `path` has `items` parents.
    pub(crate) fn record_list(&self, path: String, items: usize) {
        self.lists
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path, items);
    }

    /// The length recorded for the list at `path`.
    pub(crate) fn list_len(&self, path: &str) -> Option<usize> {
        self.lists
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .copied()
    }

    /// Checks a parent in to the open batch of `group` (or opens one with
    /// `start`). The batch's answer when the parent has a key.
    pub(crate) fn batch(
        &self,
        group: String,
        checkin: Checkin,
        start: impl FnOnce(Arc<Gather>) -> SharedBatch,
    ) -> Option<SharedBatch> {
        let has_key = checkin.key.is_some();
        let mut map = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = map.get(&group) {
            let mut p = b.gather.lock();
            if p.open {
                p.add(checkin);
                drop(p);
                b.gather.joined.notify_one();
                return has_key.then(|| b.result.clone());
            }
        }
        // the first parent, or one of a later list once the last call left
        let gather = Gather::new(checkin);
        let result = start(gather.clone());
        map.insert(
            group,
            Batch {
                gather,
                result: result.clone(),
            },
        );
        has_key.then_some(result)
    }
}

pub(crate) fn shared<T: Clone + Send + Sync + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> Shared<BoxFuture<'static, T>> {
    f.boxed().shared()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(list: &str, index: usize, expected: Option<usize>, key: Option<&str>) -> Checkin {
        Checkin {
            slot: Some((list.into(), index)),
            expected,
            key: key.map(str::to_owned),
        }
    }

    fn start(g: Arc<Gather>) -> SharedBatch {
        shared(async move {
            let keys = g.keys(Duration::from_millis(2)).await;
            Ok(Arc::new(
                keys.into_iter()
                    .map(|k| (k, Vec::new()))
                    .collect::<HashMap<_, _>>(),
            ))
        })
    }

    fn keys_of(b: &BatchMap) -> Vec<String> {
        let mut k: Vec<String> = b.keys().cloned().collect();
        k.sort();
        k
    }

    #[tokio::test]
    async fn a_known_list_goes_out_once_every_item_is_in_however_late() {
        let cache = RequestCache::default();
        let first = cache
            .batch("g".into(), item("orders", 2, Some(3), Some("c2")), start)
            .unwrap();
        let waiting = tokio::spawn(first.clone());
        // many executor rounds without a new parent: still waiting for
        // items 0 and 1 (no round counting, no short window)
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished());
        // a parent without a key checks in too
        assert!(cache
            .batch("g".into(), item("orders", 0, Some(3), None), start)
            .is_none());
        let last = cache
            .batch("g".into(), item("orders", 1, Some(3), Some("c1")), start)
            .unwrap();
        let got = last.await.unwrap();
        assert_eq!(keys_of(&got), ["c1", "c2"]);
        assert_eq!(keys_of(&waiting.await.unwrap().unwrap()), ["c1", "c2"]);
        // a later list opens a batch of its own
        let later = cache
            .batch("g".into(), item("more", 0, Some(1), Some("c1")), start)
            .unwrap();
        assert_eq!(keys_of(&later.await.unwrap()), ["c1"]);
    }

    #[tokio::test]
    async fn an_unknown_list_waits_for_a_quiet_window() {
        let cache = RequestCache::default();
        let a = cache
            .batch("g".into(), item("x", 0, None, Some("k1")), start)
            .unwrap();
        let b = cache
            .batch("g".into(), item("x", 1, None, Some("k1")), start)
            .unwrap();
        let got = a.await.unwrap();
        assert_eq!(keys_of(&got), ["k1"], "each key once");
        assert_eq!(keys_of(&b.await.unwrap()), ["k1"]);
    }
}
