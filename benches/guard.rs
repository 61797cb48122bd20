//! What the request guard costs per request.
//!
//! `cargo bench --bench guard` — uses the test-only keys of `tests/fixtures/guard/`.

// A bench may unwrap: a panic is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use authgate::auth::{Authenticator, GuardSettings, Principal};
use authgate::store::MemoryStore;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, DecodingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::json;

const ISSUER: &str = "https://tenant.test/";
const AUDIENCE: &str = "https://api.test";

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/guard")
}

fn key() -> RsaPrivateKey {
    let pem = std::fs::read_to_string(fixtures().join("rsa2048_a.pem")).unwrap();
    RsaPrivateKey::from_pkcs8_pem(&pem).unwrap()
}

fn b64(b: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// A realistic Auth0 access token (~900 bytes), kid "test-a".
fn token(key: &RsaPrivateKey) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "test-a"});
    let claims = json!({
        "iss": ISSUER, "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "aud": [AUDIENCE, "https://tenant.test/userinfo"], "azp": "client-123",
        "iat": now, "exp": now + 86_400, "gty": "password",
        "scope": "openid profile email read:things write:things",
        "permissions": ["read:things", "write:things"],
        "https://authgate.dev/roles": ["admin"],
    });
    let input = format!(
        "{}.{}",
        b64(serde_json::to_vec(&header).unwrap()),
        b64(serde_json::to_vec(&claims).unwrap())
    );
    let sig = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone()).sign(input.as_bytes());
    format!("{input}.{}", b64(sig.to_vec()))
}

fn settings(cache_max_bytes: u64) -> GuardSettings {
    GuardSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_file: Some(fixtures().join("jwks.json")),
        cache_max_bytes,
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = key();
    let token = token(&key);
    let store = || Arc::new(MemoryStore::new(10_000));
    let http = reqwest::Client::new();
    let uncached = rt.block_on(Authenticator::new(settings(0), http.clone(), store()));
    let cached = rt.block_on(Authenticator::new(
        settings(authgate::auth::DEFAULT_CACHE_MAX_BYTES),
        http,
        store(),
    ));
    assert!(matches!(
        rt.block_on(cached.authenticate(&token)),
        Principal::User(_)
    ));
    assert!(matches!(
        rt.block_on(uncached.authenticate(&token)),
        Principal::User(_)
    ));

    let mut g = c.benchmark_group("guard");
    g.bench_function("verify_fresh_rs256", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(uncached.authenticate(black_box(&token)).await) })
    });
    g.bench_function("verify_cached", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cached.authenticate(black_box(&token)).await) })
    });
    let malformed = format!("{}.{}", b64("{\"alg\":\"RS256\""), &token[40..]);
    g.bench_function("reject_malformed", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(uncached.authenticate(black_box(&malformed)).await) })
    });

    let opaque = "t7Qe9m1xZ0bYcQ3kLw8vHs2nJpRa4UfD";
    g.bench_function("reject_opaque", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(uncached.authenticate(black_box(opaque)).await) })
    });

    // Baseline: the backend's raw RSA-2048 PKCS#1 v1.5 SHA-256 signature check.
    let (message, signature) = token.rsplit_once('.').unwrap();
    let n = key.n().to_bytes_be();
    let e = key.e().to_bytes_be();
    let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
    assert!(jsonwebtoken::crypto::verify(
        signature,
        message.as_bytes(),
        &decoding,
        Algorithm::RS256
    )
    .unwrap());
    g.bench_function("raw_rsa_verify_baseline", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                black_box(signature),
                black_box(message.as_bytes()),
                &decoding,
                Algorithm::RS256,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
