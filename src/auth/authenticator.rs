//! The request guard's core: bearer token in, [`Principal`] out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use moka::sync::Cache;
use moka::Expiry;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use super::jwks::{JwksStore, KeyStatus, Lookup};
use super::verify::{self, Expect, Pre, Purpose, VerifyError};
use super::{GuardSettings, Principal, Rejection, User};
use crate::secret::Secret;
use crate::store::Store;

/// Rejections remembered (bounded, short-lived): a replayed bad token costs a hash.
const NEGATIVE_CAPACITY: u64 = 10_000;
const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// Counters, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// signature verifications performed (cache misses that reached a key)
    pub verifications: u64,
    /// tokens answered from the verified-token cache
    pub cache_hits: u64,
    /// HTTP requests made to the JWKS endpoint (retries included)
    pub jwks_fetches: u64,
}

struct Cached {
    user: Arc<User>,
    /// the key material that verified the token: if it leaves the key set,
    /// the entry is no longer trusted
    key_fingerprint: [u8; 32],
}

/// Entries live until the token expires, never longer.
struct UntilExp;

impl Expiry<[u8; 32], Arc<Cached>> for UntilExp {
    fn expire_after_create(
        &self,
        _k: &[u8; 32],
        v: &Arc<Cached>,
        _now: Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs(
            v.user.expires_at.saturating_sub(verify::now()),
        ))
    }
}

struct Inner {
    roles_claim: String,
    audience: String,
    client_id: Option<String>,
    expect: Expect,
    jwks: Arc<JwksStore>,
    refetch_wait: Duration,
    store: Arc<dyn Store>,
    cache: Option<Cache<[u8; 32], Arc<Cached>>>,
    negative: Cache<[u8; 32], Rejection>,
    verifications: AtomicU64,
    cache_hits: AtomicU64,
}

/// Turns bearer tokens into principals. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.inner.expect.issuer)
            .field("audience", &self.inner.audience)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Build the guard and load the keys (endpoint, else snapshot, else none).
    /// Never fails for an unreachable JWKS: it logs, and keeps trying on
    /// unknown `kid`s and in [`Authenticator::spawn_refresh`].
    pub async fn new(
        settings: GuardSettings,
        http: reqwest::Client,
        store: Arc<dyn Store>,
    ) -> Self {
        let algorithms: Vec<Algorithm> = settings
            .algorithms
            .iter()
            .filter_map(|a| match a.parse::<Algorithm>() {
                Ok(alg) if super::settings::SUPPORTED_ALGORITHMS.contains(&a.as_str()) => Some(alg),
                _ => {
                    warn!(alg = %a, "unsupported algorithm in guard.algorithms ignored");
                    None
                }
            })
            .collect();
        let jwks = Arc::new(JwksStore::new(
            settings.jwks_url.clone(),
            settings.jwks_file.clone(),
            settings.snapshot_path.clone(),
            http,
            algorithms.clone(),
            settings.unknown_kid_cooldown,
            settings.refresh_interval,
        ));
        jwks.initial_load().await;
        let cache = (settings.cache_capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(settings.cache_capacity)
                .expire_after(UntilExp)
                .build()
        });
        Self {
            inner: Arc::new(Inner {
                roles_claim: settings.roles_claim.clone(),
                audience: settings.audience,
                client_id: settings.client_id,
                expect: Expect {
                    issuer: settings.issuer,
                    algorithms,
                    leeway: settings.leeway.as_secs(),
                    max_token_bytes: settings.max_token_bytes,
                    roles_claim: settings.roles_claim.clone(),
                },
                jwks,
                refetch_wait: settings.refetch_wait,
                store,
                cache,
                negative: Cache::builder()
                    .max_capacity(NEGATIVE_CAPACITY)
                    .time_to_live(NEGATIVE_TTL)
                    .build(),
                verifications: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
            }),
        }
    }

    /// Verify an access token. Anything but a valid, unrevoked access token
    /// for the configured audience yields an anonymous principal with the reason.
    pub async fn authenticate(&self, token: &str) -> Principal {
        match self.try_authenticate(token).await {
            Ok(user) => Principal::User(user),
            Err(why) => Principal::rejected(why),
        }
    }

    async fn try_authenticate(&self, token: &str) -> Result<Arc<User>, Rejection> {
        let inner = &self.inner;
        // Cheapest checks first: nothing oversized is hashed, nothing
        // misshapen decoded. The alphabet/segment scan costs as much as the
        // hash, so it runs only on a cache miss: a cached token was verified,
        // hence well-shaped (the key is its SHA-256).
        if token.is_empty() || token.len() > inner.expect.max_token_bytes {
            return Err(Rejection::Invalid);
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let user = match self.cached(&hash) {
            Some(user) => user,
            None => {
                if verify::shape(token, inner.expect.max_token_bytes).is_err() {
                    return Err(Rejection::Invalid);
                }
                if let Some(why) = inner.negative.get(&hash) {
                    return Err(why);
                }
                self.verify_fresh(token, &hash).await?
            }
        };
        // Revocation is checked on every call, cache hit or not. Fail closed.
        match inner.store.is_revoked(&user.token_id).await {
            Ok(false) => Ok(user),
            Ok(true) => Err(Rejection::Revoked),
            Err(e) => {
                warn!(error = %e, "revocation list unavailable; refusing the token");
                Err(Rejection::StoreUnavailable)
            }
        }
    }

    fn cached(&self, hash: &[u8; 32]) -> Option<Arc<User>> {
        let cache = self.inner.cache.as_ref()?;
        let hit = cache.get(hash)?;
        if !self.inner.jwks.current().contains(&hit.key_fingerprint) {
            // Its key was removed from the JWKS: verify again (and fail).
            cache.invalidate(hash);
            return None;
        }
        if hit.user.expires_at.saturating_add(self.inner.expect.leeway) < verify::now() {
            cache.invalidate(hash);
            return None;
        }
        self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        Some(hit.user.clone())
    }

    async fn verify_fresh(&self, token: &str, hash: &[u8; 32]) -> Result<Arc<User>, Rejection> {
        let inner = &self.inner;
        let purpose = Purpose::Access {
            audience: &inner.audience,
        };
        let (claims, exp, fingerprint) = match self.verify_token(token, purpose).await {
            Ok(ok) => ok,
            Err(e) => {
                debug!(reason = %e, "access token refused");
                let why = to_rejection(e);
                if e.is_final() {
                    inner.negative.insert(*hash, why);
                }
                return Err(why);
            }
        };
        let user = Arc::new(self.user_from(claims, exp, token, hash)?);
        if let Some(cache) = &inner.cache {
            if exp > verify::now() {
                cache.insert(
                    *hash,
                    Arc::new(Cached {
                        user: user.clone(),
                        key_fingerprint: fingerprint,
                    }),
                );
            }
        }
        Ok(user)
    }

    /// Structural checks, key lookup (refetching once on an unknown `kid`),
    /// signature and claims.
    async fn verify_token(
        &self,
        token: &str,
        purpose: Purpose<'_>,
    ) -> Result<(Map<String, Value>, u64, [u8; 32]), VerifyError> {
        let inner = &self.inner;
        let pre: Pre = verify::precheck(token, &inner.expect)?;
        let mut keys = inner.jwks.current();
        // A refetch for an unknown kid is waited on for at most
        // `refetch_wait`; a hanging JWKS endpoint then costs a request that
        // long, never the fetch's retries times its timeouts. The fetch
        // carries on in the background and installs what it gets.
        let wait = inner.refetch_wait;
        let lookup = if keys.is_empty() {
            inner.jwks.refetch_for_unknown_kid(wait).await;
            keys = inner.jwks.current();
            if keys.is_empty() {
                return Err(VerifyError::KeysUnavailable);
            }
            keys.lookup(pre.kid.as_deref())
        } else {
            match keys.lookup(pre.kid.as_deref()) {
                Lookup::UnknownKid => {
                    inner.jwks.refetch_for_unknown_kid(wait).await;
                    inner.jwks.current().lookup(pre.kid.as_deref())
                }
                other => other,
            }
        };
        let key = match lookup {
            Lookup::Found(key) => key,
            Lookup::UnknownKid => return Err(VerifyError::Invalid("unknown kid")),
            Lookup::Ambiguous => return Err(VerifyError::Invalid("no kid and several keys")),
        };
        inner.verifications.fetch_add(1, Ordering::Relaxed);
        let (claims, exp) = verify::verify(token, &pre, &key, &inner.expect, purpose)?;
        Ok((claims, exp, key.fingerprint))
    }

    fn user_from(
        &self,
        claims: Map<String, Value>,
        exp: u64,
        token: &str,
        hash: &[u8; 32],
    ) -> Result<User, Rejection> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or(Rejection::Invalid)?
            .to_owned();
        let scopes = claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let permissions = strings(claims.get("permissions"));
        let roles = strings(claims.get(&self.inner.roles_claim));
        Ok(User {
            subject,
            scopes,
            permissions,
            roles,
            claims,
            expires_at: exp,
            token_id: hex::encode(hash),
            token: Secret::new(token),
        })
    }

    /// Verify an ID token (for the login mutation): signature with the same
    /// keys, `iss`, `aud` == `guard.client_id`, `exp`. Returns its claims.
    pub async fn verify_id_token(&self, id_token: &str) -> Result<Map<String, Value>, VerifyError> {
        let client_id = self
            .inner
            .client_id
            .as_deref()
            .ok_or(VerifyError::NotConfigured)?;
        let (claims, _, _) = self
            .verify_token(id_token, Purpose::Id { client_id })
            .await?;
        Ok(claims)
    }

    /// The state of the signing keys (count, source, last success/error).
    pub fn key_status(&self) -> KeyStatus {
        self.inner.jwks.status()
    }

    /// Counters: verifications, cache hits, JWKS fetches.
    pub fn stats(&self) -> GuardStats {
        GuardStats {
            verifications: self.inner.verifications.load(Ordering::Relaxed),
            cache_hits: self.inner.cache_hits.load(Ordering::Relaxed),
            jwks_fetches: self.key_status().fetches,
        }
    }

    /// Refresh the keys now (coalesced with any refresh in flight).
    pub async fn refresh_keys(&self) -> Result<(), super::JwksError> {
        self.inner.jwks.refresh().await
    }

    /// Refresh the keys in the background, every `refresh_interval` (sooner
    /// when `Cache-Control: max-age` says so, or after a failure). The task
    /// ends once every clone of this `Authenticator` is dropped.
    pub fn spawn_refresh(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let delay = match weak.upgrade() {
                    Some(inner) => inner.jwks.next_delay(),
                    None => return,
                };
                tokio::time::sleep(delay).await;
                let Some(inner) = weak.upgrade() else { return };
                let jwks = inner.jwks.clone();
                drop(inner);
                let _ = jwks.refresh().await;
            }
        })
    }
}

fn to_rejection(e: VerifyError) -> Rejection {
    match e {
        VerifyError::Expired => Rejection::Expired,
        VerifyError::KeysUnavailable => Rejection::KeysUnavailable,
        VerifyError::Invalid(_) | VerifyError::NotConfigured => Rejection::Invalid,
    }
}

/// An array of strings, or a single string (the verifier refused other types).
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}
