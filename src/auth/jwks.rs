//! The signing keys: loaded from the tenant's JWKS endpoint (or a static
//! file), refreshed in the background and on an unknown `kid`, and kept in a
//! snapshot on disk so that an outage of the endpoint does not stop the guard.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine};
use futures::future::{BoxFuture, FutureExt, Shared};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{debug, info, instrument, warn};
use url::Url;

use crate::outbound::{read_limited, BodyError, RetryPolicy};

/// base64url, with or without padding (some JWKS publishers pad `n`/`e`).
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// A key set larger than this is refused (Auth0's holds 2–3 keys, ~5 KiB).
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Keys beyond this many are ignored.
const MAX_KEYS: usize = 64;
/// `kid`s longer than this are not looked up.
pub(crate) const MAX_KID_LEN: usize = 256;
/// Never refresh more often than this, whatever `max-age` says.
const MIN_REFRESH: Duration = Duration::from_secs(5);
/// After a failed refresh, try again at least this soon.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Three attempts per fetch (5xx, timeouts and connection errors are
/// retried), waiting 100–200 ms, then 200–400 ms.
const FETCH_RETRY: RetryPolicy = RetryPolicy {
    retries: 2,
    first_delay: Duration::from_millis(100),
    max_delay: Duration::from_millis(200),
};

/// Why the key set could not be loaded. Messages carry no secret (a JWKS is public).
#[derive(Clone, Debug, thiserror::Error)]
pub enum JwksError {
    /// The endpoint could not be reached or timed out.
    #[error("JWKS request failed: {0}")]
    Transport(String),
    /// The endpoint answered with a non-success status.
    #[error("JWKS endpoint answered HTTP {0}")]
    Status(u16),
    /// The document is larger than 1 MiB.
    #[error("JWKS document larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// The document is not a JSON key set (`{"keys": [...]}`).
    #[error("JWKS document is not a key set: {0}")]
    Parse(String),
    /// The document parsed, but none of its keys is a usable RSA signing key.
    #[error("JWKS document holds no usable signing key")]
    NoUsableKeys,
    /// A key file or snapshot could not be read or written.
    #[error("JWKS file {path}: {message}")]
    Io {
        /// the file concerned
        path: String,
        /// the OS error
        message: String,
    },
    /// The refresh task ended abnormally.
    #[error("JWKS refresh task failed")]
    TaskFailed,
}

/// One usable RSA verification key.
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    /// the `alg` the key declares; tokens must then use exactly this one
    pub(crate) alg: Option<Algorithm>,
    pub(crate) decoding: DecodingKey,
    /// SHA-256 of (n, e): identifies the key material independently of `kid`
    pub(crate) fingerprint: [u8; 32],
}

/// An immutable set of keys; replaced as a whole on refresh.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<Key>>,
    by_kid: HashMap<String, Arc<Key>>,
}

/// The outcome of a key lookup.
pub(crate) enum Lookup {
    Found(Arc<Key>),
    /// the token has a `kid` the set does not hold (a refetch may help)
    UnknownKid,
    /// no `kid`, and the set holds more than one key: refuse rather than guess
    Ambiguous,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl KeySet {
    /// Parse a JWKS document; unusable keys are skipped with a warning.
    pub(crate) fn parse(doc: &[u8], allowed: &[Algorithm]) -> Result<Self, JwksError> {
        let raw: RawJwks =
            serde_json::from_slice(doc).map_err(|e| JwksError::Parse(e.to_string()))?;
        let mut set = KeySet::default();
        for (i, value) in raw.keys.into_iter().enumerate() {
            if set.keys.len() >= MAX_KEYS {
                warn!(
                    max = MAX_KEYS,
                    "JWKS holds too many keys; the rest are ignored"
                );
                break;
            }
            match parse_key(value, allowed) {
                Ok(key) => {
                    if let Some(kid) = &key.kid {
                        if set.by_kid.contains_key(kid) {
                            warn!(index = i, kid = ?kid, "JWKS key skipped: duplicate kid");
                            continue;
                        }
                        set.by_kid.insert(kid.clone(), key.clone());
                    }
                    set.keys.push(key);
                }
                Err(why) => warn!(index = i, reason = why, "JWKS key skipped"),
            }
        }
        Ok(set)
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Find the key for a token's `kid`. The `kid` is only used as a map key.
    pub(crate) fn lookup(&self, kid: Option<&str>) -> Lookup {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(k) => Lookup::Found(k.clone()),
                None => Lookup::UnknownKid,
            },
            None if self.keys.len() == 1 => Lookup::Found(self.keys[0].clone()),
            None => Lookup::Ambiguous,
        }
    }

    /// Is this key material still in the set?
    pub(crate) fn contains(&self, fingerprint: &[u8; 32]) -> bool {
        self.keys.iter().any(|k| &k.fingerprint == fingerprint)
    }

    fn kids(&self) -> Vec<String> {
        self.keys.iter().filter_map(|k| k.kid.clone()).collect()
    }
}

fn parse_key(value: serde_json::Value, allowed: &[Algorithm]) -> Result<Arc<Key>, &'static str> {
    let raw: RawJwk = serde_json::from_value(value).map_err(|_| "not a JWK object")?;
    if raw.kty != "RSA" {
        return Err("not an RSA key (only RSA is supported)");
    }
    if let Some(u) = &raw.use_ {
        if u != "sig" {
            return Err("`use` is not `sig`");
        }
    }
    if let Some(ops) = &raw.key_ops {
        if !ops.iter().any(|o| o == "verify") {
            return Err("`key_ops` does not include `verify`");
        }
    }
    let alg = match &raw.alg {
        None => None,
        Some(a) => match a.parse::<Algorithm>() {
            Ok(alg) if allowed.contains(&alg) => Some(alg),
            _ => return Err("`alg` is not an allowed algorithm"),
        },
    };
    if let Some(kid) = &raw.kid {
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            return Err("`kid` is empty or too long");
        }
    }
    let n = B64_LENIENT
        .decode(raw.n.as_deref().ok_or("missing `n`")?)
        .map_err(|_| "`n` is not base64url")?;
    let e = B64_LENIENT
        .decode(raw.e.as_deref().ok_or("missing `e`")?)
        .map_err(|_| "`e` is not base64url")?;
    let n = strip_leading_zeros(&n);
    let e = strip_leading_zeros(&e);
    let bits = match n.first() {
        Some(first) => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    };
    if bits < 2048 {
        return Err("RSA modulus shorter than 2048 bits");
    }
    if bits > 8192 {
        return Err("RSA modulus longer than 8192 bits");
    }
    if e.is_empty() || e.len() > 4 || e.last().is_some_and(|b| b & 1 == 0) {
        return Err("RSA exponent is not a small odd number");
    }
    let mut h = Sha256::new();
    h.update((n.len() as u32).to_be_bytes());
    h.update(n);
    h.update(e);
    Ok(Arc::new(Key {
        kid: raw.kid,
        alg,
        decoding: DecodingKey::from_rsa_raw_components(n, e),
        fingerprint: h.finalize().into(),
    }))
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

/// A failed fetch attempt, and whether another may succeed.
struct FetchFailure {
    error: JwksError,
    retryable: bool,
}

impl std::fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// Where the keys in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// fetched from `guard.jwks_url`
    Fetched,
    /// read from `guard.snapshot_path` because the endpoint could not be reached
    Snapshot,
    /// read from the static `guard.jwks_file`
    File,
    /// no keys: every token is refused with `KEYS_UNAVAILABLE`
    None,
}

/// The state of the key store, for health endpoints and logs. No secrets.
#[derive(Clone, Debug, Serialize)]
pub struct KeyStatus {
    /// how many usable signing keys are loaded
    pub keys: usize,
    /// their `kid`s
    pub kids: Vec<String>,
    /// where they came from
    pub source: KeySource,
    /// when keys were last loaded successfully
    pub last_success: Option<SystemTime>,
    /// the last load error, if the last attempt failed (keys may then be stale)
    pub last_error: Option<String>,
    /// the `Cache-Control: max-age` of the last response
    pub max_age: Option<Duration>,
    /// HTTP requests made to the JWKS endpoint so far (retries included)
    pub fetches: u64,
}

enum Origin {
    Url(Url),
    File(PathBuf),
}

type RefreshFuture = Shared<BoxFuture<'static, Result<(), JwksError>>>;

struct State {
    source: KeySource,
    last_success: Option<SystemTime>,
    last_error: Option<String>,
    max_age: Option<Duration>,
    last_kid_refetch: Option<Instant>,
    inflight: Option<RefreshFuture>,
}

/// The key store. Readers take a short read lock to clone an `Arc<KeySet>`;
/// no lock is ever held across a fetch.
pub(crate) struct JwksStore {
    origin: Origin,
    snapshot: Option<PathBuf>,
    http: reqwest::Client,
    allowed: Vec<Algorithm>,
    cooldown: Duration,
    refresh_interval: Duration,
    keys: RwLock<Arc<KeySet>>,
    state: Mutex<State>,
    fetches: AtomicU64,
}

impl JwksStore {
    pub(crate) fn new(
        jwks_url: Option<Url>,
        jwks_file: Option<PathBuf>,
        snapshot: Option<PathBuf>,
        http: reqwest::Client,
        allowed: Vec<Algorithm>,
        cooldown: Duration,
        refresh_interval: Duration,
    ) -> Self {
        let origin = match (jwks_url, jwks_file) {
            (Some(u), _) => Origin::Url(u),
            (None, Some(f)) => Origin::File(f),
            // validate() refuses this; an empty file path simply fails to load
            (None, None) => Origin::File(PathBuf::new()),
        };
        Self {
            origin,
            snapshot,
            http,
            allowed,
            cooldown,
            refresh_interval,
            keys: RwLock::new(Arc::new(KeySet::default())),
            state: Mutex::new(State {
                source: KeySource::None,
                last_success: None,
                last_error: None,
                max_age: None,
                last_kid_refetch: None,
                inflight: None,
            }),
            fetches: AtomicU64::new(0),
        }
    }

    /// The keys in use.
    pub(crate) fn current(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// First load: the endpoint (or file), else the snapshot. Never fails.
    pub(crate) async fn initial_load(self: &Arc<Self>) {
        if let Err(e) = self.refresh().await {
            warn!(error = %e, "signing keys could not be loaded at start-up");
            if self.current().is_empty() {
                self.load_snapshot().await;
            }
        }
    }

    async fn load_snapshot(&self) {
        let Some(path) = &self.snapshot else { return };
        match read_file(path).await.and_then(|doc| {
            let set = KeySet::parse(&doc, &self.allowed)?;
            if set.is_empty() {
                Err(JwksError::NoUsableKeys)
            } else {
                Ok(set)
            }
        }) {
            Ok(set) => {
                info!(keys = set.len(), path = %path.display(), "serving signing keys from the snapshot");
                self.install(set);
                self.state().source = KeySource::Snapshot;
            }
            Err(e) => warn!(error = %e, "no usable JWKS snapshot"),
        }
    }

    fn install(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.keys.write() {
            Ok(mut k) => *k = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// Refresh now; concurrent callers share one fetch.
    pub(crate) async fn refresh(self: &Arc<Self>) -> Result<(), JwksError> {
        let fut = self.start_or_join(false);
        match fut {
            Some(f) => f.await,
            None => Ok(()),
        }
    }

    /// A token named a `kid` we do not hold: refetch, unless one was done
    /// within the cooldown. Concurrent callers share one fetch, and each
    /// waits for it at most `wait` (the fetch goes on without them).
    pub(crate) async fn refetch_for_unknown_kid(self: &Arc<Self>, wait: Duration) {
        if let Some(f) = self.start_or_join(true) {
            match tokio::time::timeout(wait, f).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(error = %e, "refetch for an unknown kid failed"),
                Err(_) => debug!(
                    wait = ?wait,
                    "the JWKS refetch is slow; answering with the keys in hand"
                ),
            }
        }
    }

    fn start_or_join(self: &Arc<Self>, cooldown: bool) -> Option<RefreshFuture> {
        let mut st = self.state();
        if let Some(f) = &st.inflight {
            return Some(f.clone());
        }
        if cooldown {
            if let Some(t) = st.last_kid_refetch {
                if t.elapsed() < self.cooldown {
                    return None;
                }
            }
            st.last_kid_refetch = Some(Instant::now());
        }
        let me = self.clone();
        // Spawned, so that a caller giving up does not cancel the shared fetch.
        let task = tokio::spawn(async move {
            let result = me.load().await;
            me.state().inflight = None;
            result
        });
        let fut = async move { task.await.unwrap_or(Err(JwksError::TaskFailed)) }
            .boxed()
            .shared();
        st.inflight = Some(fut.clone());
        Some(fut)
    }

    /// One load from the configured origin; updates keys and status.
    async fn load(&self) -> Result<(), JwksError> {
        let outcome = match &self.origin {
            Origin::Url(url) => self.fetch(url).await.and_then(|(doc, max_age)| {
                let set = self.parse_nonempty(&doc)?;
                Ok((set, Some(doc), max_age, KeySource::Fetched))
            }),
            Origin::File(path) => read_file(path).await.and_then(|doc| {
                let set = self.parse_nonempty(&doc)?;
                Ok((set, None, None, KeySource::File))
            }),
        };
        match outcome {
            Ok((set, doc, max_age, source)) => {
                debug!(keys = set.len(), "signing keys loaded");
                self.install(set);
                {
                    let mut st = self.state();
                    st.source = source;
                    st.last_success = Some(SystemTime::now());
                    st.last_error = None;
                    st.max_age = max_age;
                }
                if let (Some(doc), Some(path)) = (doc, &self.snapshot) {
                    if let Err(e) = write_atomically(path, &doc).await {
                        warn!(error = %e, "JWKS snapshot not written");
                    }
                }
                Ok(())
            }
            Err(e) => {
                warn!(error = %e, "signing keys not refreshed; keeping the last good keys");
                self.state().last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn parse_nonempty(&self, doc: &[u8]) -> Result<KeySet, JwksError> {
        let set = KeySet::parse(doc, &self.allowed)?;
        if set.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(set)
    }

    #[instrument(skip(self), fields(url = %url))]
    async fn fetch(&self, url: &Url) -> Result<(Vec<u8>, Option<Duration>), JwksError> {
        FETCH_RETRY
            .run(
                None,
                || self.fetch_once(url),
                |f: &FetchFailure| f.retryable,
            )
            .await
            .map_err(|f| f.error)
    }

    async fn fetch_once(&self, url: &Url) -> Result<(Vec<u8>, Option<Duration>), FetchFailure> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let transport = |e: reqwest::Error| FetchFailure {
            error: JwksError::Transport(e.without_url().to_string()),
            retryable: true,
        };
        let resp = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchFailure {
                error: JwksError::Status(status.as_u16()),
                retryable: status.is_server_error(),
            });
        }
        let max_age = resp
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        let body = read_limited(resp, MAX_JWKS_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => FetchFailure {
                    error: JwksError::TooLarge,
                    retryable: false,
                },
                BodyError::Transport(e) => transport(e),
            })?;
        Ok((body.to_vec(), max_age))
    }

    /// How long the background loop waits before the next refresh.
    pub(crate) fn next_delay(&self) -> Duration {
        let st = self.state();
        let mut delay = next_refresh_delay(self.refresh_interval, st.max_age);
        if st.last_error.is_some() {
            delay = delay.min(RETRY_AFTER_FAILURE);
        }
        delay
    }

    pub(crate) fn status(&self) -> KeyStatus {
        let keys = self.current();
        let st = self.state();
        KeyStatus {
            keys: keys.len(),
            kids: keys.kids(),
            source: if keys.is_empty() {
                KeySource::None
            } else {
                st.source
            },
            last_success: st.last_success,
            last_error: st.last_error.clone(),
            max_age: st.max_age,
            fetches: self.fetches.load(Ordering::Relaxed),
        }
    }
}

/// The refresh interval, shortened to `max-age` when that is shorter (but
/// never below a floor, so a `max-age=0` does not turn into a busy loop).
pub(crate) fn next_refresh_delay(interval: Duration, max_age: Option<Duration>) -> Duration {
    match max_age {
        Some(age) => interval.min(age.max(MIN_REFRESH)),
        None => interval,
    }
}

/// `max-age=N` from a `Cache-Control` value.
pub(crate) fn parse_max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|d| {
        let (name, v) = d.trim().split_once('=')?;
        if name.trim().eq_ignore_ascii_case("max-age") {
            v.trim().trim_matches('"').parse::<u64>().ok()
        } else {
            None
        }
        .map(Duration::from_secs)
    })
}

async fn read_file(path: &Path) -> Result<Vec<u8>, JwksError> {
    let io = |e: std::io::Error| JwksError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let meta = tokio::fs::metadata(path).await.map_err(io)?;
    if meta.len() > MAX_JWKS_BYTES as u64 {
        return Err(JwksError::TooLarge);
    }
    tokio::fs::read(path).await.map_err(io)
}

/// Write to a temporary file beside `path`, flush it, then rename it over
/// `path`, so a reader never sees half a snapshot.
async fn write_atomically(path: &Path, doc: &[u8]) -> Result<(), JwksError> {
    let io = |e: std::io::Error| JwksError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let write = async {
        use tokio::io::AsyncWriteExt;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut f = tokio::fs::File::create(&tmp).await?;
        f.write_all(doc).await?;
        f.sync_all().await?;
        drop(f);
        tokio::fs::rename(&tmp, path).await
    };
    if let Err(e) = write.await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(io(e));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_parsed_from_cache_control() {
        assert_eq!(
            parse_max_age("public, max-age=300, must-revalidate"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_max_age("MAX-AGE=\"7\""), Some(Duration::from_secs(7)));
        assert_eq!(parse_max_age("no-store"), None);
        assert_eq!(parse_max_age("max-age=soon"), None);
    }

    #[test]
    fn shorter_max_age_wins_with_a_floor() {
        let ten_min = Duration::from_secs(600);
        assert_eq!(next_refresh_delay(ten_min, None), ten_min);
        assert_eq!(
            next_refresh_delay(ten_min, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_refresh_delay(ten_min, Some(Duration::from_secs(86_400))),
            ten_min
        );
        assert_eq!(
            next_refresh_delay(ten_min, Some(Duration::ZERO)),
            MIN_REFRESH
        );
    }

    #[test]
    fn garbage_documents_are_errors_and_bad_keys_are_skipped() {
        let rs = [Algorithm::RS256];
        assert!(matches!(
            KeySet::parse(b"not json", &rs),
            Err(JwksError::Parse(_))
        ));
        assert!(matches!(
            KeySet::parse(b"{\"nokeys\":1}", &rs),
            Err(JwksError::Parse(_))
        ));
        let set = KeySet::parse(
            br#"{"keys":[1, {"kty":"EC"}, {"kty":"RSA","n":"AQAB","e":"AQAB"}, {"kty":"RSA"}]}"#,
            &rs,
        )
        .unwrap();
        assert!(set.is_empty());
    }
}
