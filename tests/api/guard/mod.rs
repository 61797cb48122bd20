//! Tests of the request guard (`authgate::auth::Authenticator`), against a
//! local JWKS double and the test keys in `tests/fixtures/guard/`.

mod cache;
mod corpus;
mod id_token;
mod jwks;
mod strict;
mod verify;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use authgate::auth::{Authenticator, GuardSettings, Principal, Rejection, User};
use authgate::store::{Hit, MemoryStore, Store, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const ISSUER: &str = "https://tenant.test/";
pub const AUDIENCE: &str = "https://api.test";
pub const CLIENT_ID: &str = "client-123";
pub const ROLES: &str = "https://authgate.dev/roles";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

pub fn key_a() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(include_str!("../../fixtures/guard/rsa2048_a.pem")).unwrap()
}
pub fn key_b() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(include_str!("../../fixtures/guard/rsa2048_b.pem")).unwrap()
}
pub fn key_weak() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(include_str!("../../fixtures/guard/rsa1024.pem")).unwrap()
}
pub const PUB_A_PEM: &str = include_str!("../../fixtures/guard/rsa2048_a.pub.pem");

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The public JWK of `key`; `extra` fields (alg, use, kid…) are merged in.
pub fn jwk(key: &RsaPrivateKey, extra: Value) -> Value {
    let mut v = json!({
        "kty": "RSA",
        "n": b64(key.n().to_bytes_be()),
        "e": b64(key.e().to_bytes_be()),
    });
    if let (Some(o), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

/// The usual JWK of key A: kid "a", RS256, use sig.
pub fn jwk_a() -> Value {
    jwk(&key_a(), json!({"kid": "a", "alg": "RS256", "use": "sig"}))
}
/// Key B, kid "b", declaring neither `alg` nor `use` (both optional).
pub fn jwk_b() -> Value {
    jwk(&key_b(), json!({"kid": "b"}))
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Good access-token claims; tests change what they need.
pub fn claims() -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "sub": "auth0|42",
        "aud": [AUDIENCE, "https://tenant.test/userinfo"],
        "azp": CLIENT_ID,
        "iat": now,
        "exp": now + 3600,
        "scope": "openid profile read:things",
        "gty": "password",
        "permissions": ["read:things", "write:things"],
        ROLES: ["admin", "editor"],
    })
}

pub fn with(mut base: Value, changes: Value) -> Value {
    if let (Some(o), Some(c)) = (base.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            if v.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

/// Sign `header`.`claims` with `key` (RSASSA-PKCS1-v1_5; SHA-256/384/512 per
/// `alg`, SHA-256 for anything else) — any header can be crafted this way.
pub fn sign_raw(key: &RsaPrivateKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(serde_json::to_vec(header).unwrap()),
        b64(serde_json::to_vec(claims).unwrap())
    );
    let sig = match header["alg"].as_str() {
        Some("RS384") => rsa::pkcs1v15::SigningKey::<sha2::Sha384>::new(key.clone())
            .sign(input.as_bytes())
            .to_vec(),
        Some("RS512") => rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(key.clone())
            .sign(input.as_bytes())
            .to_vec(),
        _ => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone())
            .sign(input.as_bytes())
            .to_vec(),
    };
    format!("{input}.{}", b64(sig))
}

/// Sign a header and claims given as JSON text (RS256), so that a test can
/// craft what `serde_json::Value` cannot hold: duplicate member names.
pub fn sign_text(key: &RsaPrivateKey, header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let sig = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone())
        .sign(input.as_bytes())
        .to_vec();
    format!("{input}.{}", b64(sig))
}

/// An RS256 token with kid "a" signed by key A.
pub fn token(claims: &Value) -> String {
    sign_raw(
        &key_a(),
        &json!({"alg": "RS256", "typ": "JWT", "kid": "a"}),
        claims,
    )
}

/// A JWKS double on 127.0.0.1:0.
pub struct JwksServer {
    pub server: MockServer,
}

impl JwksServer {
    pub async fn start(keys: Vec<Value>) -> Self {
        let me = Self {
            server: MockServer::start().await,
        };
        me.serve(keys).await;
        me
    }

    /// Answer with these keys from now on (request counts restart at 0).
    pub async fn serve(&self, keys: Vec<Value>) {
        self.respond(ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
            .await;
    }

    pub async fn respond(&self, response: ResponseTemplate) {
        self.server.reset().await;
        Mock::given(method("GET"))
            .and(path(JWKS_PATH))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    pub async fn hits(&self) -> usize {
        self.server.received_requests().await.unwrap().len()
    }

    pub fn url(&self) -> Url {
        Url::parse(&format!("{}{JWKS_PATH}", self.server.uri())).unwrap()
    }
}

pub fn settings(jwks: &JwksServer) -> GuardSettings {
    let mut s = GuardSettings::new(ISSUER, AUDIENCE, jwks.url());
    s.client_id = Some(CLIENT_ID.into());
    s
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

pub fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new(1000))
}

pub async fn guard(settings: GuardSettings) -> Authenticator {
    Authenticator::new(settings, http(), memory_store()).await
}

/// A guard on a JWKS double serving keys A and B.
pub async fn standard() -> (JwksServer, Authenticator) {
    let jwks = JwksServer::start(vec![jwk_a(), jwk_b()]).await;
    let g = guard(settings(&jwks)).await;
    (jwks, g)
}

pub fn user(p: &Principal) -> &User {
    match p {
        Principal::User(u) => u,
        Principal::Anonymous { rejection } => panic!("expected a user, got {rejection:?}"),
    }
}

pub fn rejection(p: &Principal) -> Option<Rejection> {
    match p {
        Principal::User(_) => None,
        Principal::Anonymous { rejection } => *rejection,
    }
}

/// A store whose backend is down.
pub struct DownStore;

#[async_trait]
impl Store for DownStore {
    async fn revoke(&self, _: &str, _: Duration) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn is_revoked(&self, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn hit(&self, _: &str, _: Duration) -> Result<Hit, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn reset(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn backend(&self) -> &'static str {
        "down"
    }
}
