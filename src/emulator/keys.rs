//! RS256 signing keys: previous / current / next, like an Auth0 tenant.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
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
    /// PKCS#1 PEM of the private key.
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
        let mut rng = rand::rngs::OsRng;
        let key =
            RsaPrivateKey::new(&mut rng, 2048).map_err(|e| EmulatorError::Key(e.to_string()))?;
        let n_bytes = key.n().to_bytes_be();
        let e_bytes = key.e().to_bytes_be();
        let digest = Sha256::digest(&n_bytes);
        let kid = URL_SAFE_NO_PAD.encode(&digest[..16]);
        let pem = key
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| EmulatorError::Key(e.to_string()))?;
        Ok(Self {
            kid,
            private_pem: pem.to_string(),
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
        RsaPrivateKey::from_pkcs1_pem(&self.private_pem)
            .map(|_| ())
            .map_err(|e| EmulatorError::Key(format!("stored key {} is invalid: {e}", self.kid)))
    }

    fn jwk(&self) -> Value {
        json!({"alg": "RS256", "kty": "RSA", "use": "sig", "n": self.n, "e": self.e, "kid": self.kid})
    }
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
