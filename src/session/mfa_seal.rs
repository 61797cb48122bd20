//! The MFA session handle: what the gateway must remember between the steps
//! of a multi-factor login (Auth0's `mfa_token` above all), sealed with
//! ChaCha20-Poly1305 under a server key and handed to the client as an opaque
//! string. Every replica holding the key can open it; nobody else can read or
//! change it. One-time use and attempt counting live in the shared store,
//! keyed by the session's random id.

use std::time::Duration;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// Prefix of every handle (a version, so the format can change).
const PREFIX: &str = "mfa1.";
/// Binds the ciphertext to its purpose: a key reused elsewhere cannot be
/// made to open something sealed for another use.
const AAD: &[u8] = b"authgate mfa session v1";
/// Longest handle accepted; checked before any decoding.
pub(crate) const MAX_HANDLE_CHARS: usize = 16 * 1024;

/// The sealed state of one multi-factor login. `Debug` redacts the tokens.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct MfaSession {
    /// Random id (hex): one-time use and attempt counters are keyed by it.
    pub sid: String,
    /// Auth0's mfa_token.
    pub tok: String,
    /// Expiry, UNIX seconds (never later than the mfa_token's).
    pub exp: u64,
    /// SHA-256 (hex) of what binds the session to the client that logged in.
    pub bind: String,
    /// The login's email, lower-cased (the per-account limit's key).
    pub acct: String,
    /// The user as audit events name them (masked or hashed).
    pub user: String,
    /// The active authenticators: (id, factor).
    #[serde(default)]
    pub auths: Vec<(String, String)>,
    /// The out-of-band code of the last challenge or enrolment.
    #[serde(default)]
    pub oob: Option<String>,
    /// Whether that challenge expects a binding code.
    #[serde(default)]
    pub prompt: bool,
}

impl std::fmt::Debug for MfaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaSession")
            .field("sid", &self.sid)
            .field("exp", &self.exp)
            .field("tok", &"[REDACTED]")
            .field("oob", &self.oob.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

/// Why a handle was refused; the client hears only "expired, log in again".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not a handle of this key: malformed, tampered with, or forged.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Presented by another client than the one that logged in.
    OtherClient,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Invalid => "invalid",
            Refusal::Expired => "expired",
            Refusal::OtherClient => "other_client",
        }
    }
}

/// Seals and opens handles with one key.
pub(crate) struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([REDACTED])")
    }
}

/// A 256-bit key derived from `material` for this one purpose.
fn derive(material: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes keys of any length: `new_from_slice` cannot fail
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(material) else {
        return [0; 32];
    };
    mac.update(b"authgate mfa session seal");
    mac.finalize().into_bytes().into()
}

/// The hash a session is bound with: of a cookie value or a client address.
pub(crate) fn binding(kind: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(b":");
    h.update(value.as_bytes());
    hex::encode(h.finalize())
}

/// 32 random hex digits.
pub(crate) fn random_id(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Sealer {
    /// A sealer whose key is derived from `material` (any length). `None`
    /// only if the cipher refused a 32-byte key (it takes any).
    pub fn from_material(material: &Secret) -> Option<Self> {
        Self::from_key(derive(material.expose().as_bytes()))
    }

    /// A sealer with a random key: handles die with the process.
    pub fn random() -> Option<Self> {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self::from_key(k)
    }

    fn from_key(key: [u8; 32]) -> Option<Self> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key).ok()?;
        Some(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// The handle for `session`.
    pub fn seal(&self, session: &MfaSession) -> Result<String, ()> {
        let mut data = serde_json::to_vec(session).map_err(|_| ())?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
            )
            .map_err(|_| ())?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens `handle`, checks its expiry against `now` (UNIX seconds) and its
    /// binding against `bind`.
    pub fn open(&self, handle: &str, now: u64, bind: &str) -> Result<MfaSession, Refusal> {
        if handle.len() > MAX_HANDLE_CHARS {
            return Err(Refusal::Invalid);
        }
        let body = handle.strip_prefix(PREFIX).ok_or(Refusal::Invalid)?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| Refusal::Invalid)?;
        if raw.len() < NONCE_LEN {
            return Err(Refusal::Invalid);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Refusal::Invalid)?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(AAD), &mut sealed)
            .map_err(|_| Refusal::Invalid)?;
        let session: MfaSession = serde_json::from_slice(plain).map_err(|_| Refusal::Invalid)?;
        if session.exp <= now {
            return Err(Refusal::Expired);
        }
        let same_client: bool =
            subtle::ConstantTimeEq::ct_eq(session.bind.as_bytes(), bind.as_bytes()).into();
        if !same_client {
            return Err(Refusal::OtherClient);
        }
        Ok(session)
    }
}

/// The time left before `exp`, at least a second (store TTLs).
pub(crate) fn remaining(exp: u64, now: u64) -> Duration {
    Duration::from_secs(exp.saturating_sub(now).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> MfaSession {
        MfaSession {
            sid: random_id(16),
            tok: "raw-mfa-token".into(),
            exp: 1_000,
            bind: binding("ip", "203.0.113.7"),
            acct: "ada@example.com".into(),
            user: "a***@example.com".into(),
            auths: vec![("totp|dev_1".into(), "otp".into())],
            oob: None,
            prompt: false,
        }
    }

    #[test]
    fn round_trip_and_opaque() {
        let s = Sealer::from_material(&Secret::new("k".repeat(32))).unwrap();
        let original = session();
        let h = s.seal(&original).unwrap();
        assert!(!h.contains("raw-mfa-token") && !h.contains("ada@"));
        assert_eq!(s.open(&h, 999, &original.bind).unwrap(), original);
    }

    #[test]
    fn expired_tampered_other_key_other_client() {
        let s = Sealer::from_material(&Secret::new("k".repeat(32))).unwrap();
        let h = s.seal(&session()).unwrap();
        let b = session().bind;
        assert_eq!(s.open(&h, 1_000, &b), Err(Refusal::Expired));
        assert_eq!(
            s.open(&h, 10, &binding("ip", "198.51.100.1")),
            Err(Refusal::OtherClient)
        );
        let other = Sealer::from_material(&Secret::new("x".repeat(32))).unwrap();
        assert_eq!(other.open(&h, 10, &b), Err(Refusal::Invalid));
        // flip one character of the ciphertext
        let mut chars: Vec<char> = h.chars().collect();
        let i = chars.len() - 5;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(s.open(&tampered, 10, &b), Err(Refusal::Invalid));
        assert_eq!(s.open("mfa1.", 10, &b), Err(Refusal::Invalid));
        assert_eq!(s.open("garbage", 10, &b), Err(Refusal::Invalid));
        assert_eq!(
            s.open(&"A".repeat(MAX_HANDLE_CHARS + 1), 10, &b),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn debug_redacts() {
        let dbg = format!("{:?}", session());
        assert!(!dbg.contains("raw-mfa-token"));
    }
}
