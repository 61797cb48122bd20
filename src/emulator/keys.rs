//! RS256 signing keys: previous / current / next, like an Auth0 tenant.

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::EmulatorError;

/// Why a bearer JWT was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    /// Signature, issuer, audience or format wrong.
    Invalid,
    /// `exp` in the past.
    Expired,
}

/// One stored RSA key. No `Debug`: it holds a private key.
#[derive(Clone, Deserialize, Serialize)]
pub(crate) struct StoredKey {
    pub kid: String,
    /// PEM of the private key: PKCS#8 (`PRIVATE KEY`) for keys made now,
    /// PKCS#1 (`RSA PRIVATE KEY`) in older state files; both load.
    pub private_pem: String,
    /// Base64url modulus.
    pub n: String,
    /// Base64url public exponent.
    pub e: String,
    /// The parsed signing key, made on first use: parsing and checking the
    /// PEM costs more than a signature, once per token otherwise.
    #[serde(skip)]
    encoding: OnceLock<EncodingKey>,
}

/// The key set: Auth0 always publishes current and next, and the previous one until revoked.
#[derive(Clone, Deserialize, Serialize)]
pub(crate) struct KeyRing {
    pub previous: Option<StoredKey>,
    pub current: StoredKey,
    pub next: StoredKey,
}

impl StoredKey {
    pub fn generate() -> Result<Self, EmulatorError> {
        // aws-lc (already linked for JWT signatures): constant-time RSA, unlike
        // the `rsa` crate (RUSTSEC-2023-0071)
        let key = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| EmulatorError::Key("RSA key generation failed".into()))?;
        let pkcs8 = key
            .as_der()
            .map_err(|_| EmulatorError::Key("RSA key export failed".into()))?;
        let public = key.public_key();
        let n_bytes = public.modulus().big_endian_without_leading_zero().to_vec();
        let e_bytes = public.exponent().big_endian_without_leading_zero().to_vec();
        let digest = Sha256::digest(&n_bytes);
        let kid = URL_SAFE_NO_PAD.encode(&digest[..16]);
        Ok(Self {
            kid,
            private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
            n: URL_SAFE_NO_PAD.encode(n_bytes),
            e: URL_SAFE_NO_PAD.encode(e_bytes),
            encoding: OnceLock::new(),
        })
    }

    fn encoding_key(&self) -> Result<&EncodingKey, EmulatorError> {
        if let Some(key) = self.encoding.get() {
            return Ok(key);
        }
        let key = EncodingKey::from_rsa_pem(self.private_pem.as_bytes())
            .map_err(|e| EmulatorError::Key(e.to_string()))?;
        Ok(self.encoding.get_or_init(|| key))
    }

    /// Checks that the stored PEM still parses (a corrupt state file fails at start).
    pub fn check(&self) -> Result<(), EmulatorError> {
        let invalid = |e: jsonwebtoken::errors::Error| {
            EmulatorError::Key(format!("stored key {} is invalid: {e}", self.kid))
        };
        // a signature is what proves the key usable (parsing is lazy)
        let key = self.encoding_key()?;
        jsonwebtoken::crypto::sign(b"check", key, Algorithm::RS256).map_err(invalid)?;
        Ok(())
    }

    fn jwk(&self) -> Value {
        json!({"alg": "RS256", "kty": "RSA", "use": "sig", "n": self.n, "e": self.e, "kid": self.kid})
    }
}

/// RFC 7468 text encoding, 64 characters a line.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

impl KeyRing {
    pub fn generate() -> Result<Self, EmulatorError> {
        Ok(Self {
            previous: None,
            current: StoredKey::generate()?,
            next: StoredKey::generate()?,
        })
    }

    /// Next becomes current, current becomes previous, `fresh` becomes next.
    pub fn rotate_with(&mut self, fresh: StoredKey) {
        let next = std::mem::replace(&mut self.next, fresh);
        let current = std::mem::replace(&mut self.current, next);
        self.previous = Some(current);
    }

    fn all(&self) -> impl Iterator<Item = &StoredKey> {
        [
            Some(&self.current),
            Some(&self.next),
            self.previous.as_ref(),
        ]
        .into_iter()
        .flatten()
    }

    pub fn jwks(&self) -> Value {
        json!({"keys": self.all().map(StoredKey::jwk).collect::<Vec<_>>()})
    }

    /// Signs claims with the current key (RS256, `typ: JWT`, `kid`).
    pub fn sign(&self, claims: &Value) -> Result<String, EmulatorError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.current.kid.clone());
        header.typ = Some("JWT".into());
        let key = self.current.encoding_key()?;
        jsonwebtoken::encode(&header, claims, key).map_err(|e| EmulatorError::Key(e.to_string()))
    }

    /// Verifies a JWT signed by any published key, for `issuer` and one of `audience`.
    pub fn verify(&self, token: &str, issuer: &str, audience: &str) -> Result<Value, TokenProblem> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenProblem::Invalid)?;
        let kid = header.kid.ok_or(TokenProblem::Invalid)?;
        let key = self
            .all()
            .find(|k| k.kid == kid)
            .ok_or(TokenProblem::Invalid)?;
        let decoding =
            DecodingKey::from_rsa_components(&key.n, &key.e).map_err(|_| TokenProblem::Invalid)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Value>(token, &decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenProblem::Expired,
                _ => TokenProblem::Invalid,
            })
    }

    pub fn kids(&self) -> Value {
        json!({
            "current_kid": self.current.kid,
            "next_kid": self.next.kid,
            "previous_kid": self.previous.as_ref().map(|k| k.kid.clone()),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_what_its_published_jwk_verifies() {
        let ring = KeyRing::generate().unwrap();
        assert!(ring
            .current
            .private_pem
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(ring.current.e, "AQAB");
        ring.current.check().unwrap();
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let token = ring
            .sign(&json!({"iss": "https://t/", "aud": "api", "exp": exp}))
            .unwrap();
        assert!(ring.verify(&token, "https://t/", "api").is_ok());
        assert_ne!(ring.current.kid, ring.next.kid);
    }

    #[test]
    fn a_corrupt_stored_key_is_refused_and_a_pkcs1_key_still_loads() {
        let mut key = StoredKey::generate().unwrap();
        key.private_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
        assert!(key.check().is_err());
        // state files written before the switch hold PKCS#1: the same key
        // re-wrapped (PKCS#8's inner octet string is the PKCS#1 structure)
        let fresh = StoredKey::generate().unwrap();
        let body: String = fresh
            .private_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert!(aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).is_ok());
        // PKCS#8 v1 for RSA 2048: the PKCS#1 DER is the OCTET STRING after
        // a 26-byte prefix (SEQUENCE, version, algorithm, OCTET STRING header)
        let inner = &der[26..];
        assert!(aws_lc_rs::rsa::KeyPair::from_der(inner).is_ok());
        let legacy = StoredKey {
            private_pem: pem("RSA PRIVATE KEY", inner),
            encoding: OnceLock::new(),
            ..fresh
        };
        legacy.check().unwrap();
    }
}
