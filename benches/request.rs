//! What one whole GraphQL request costs in-process: the router (layers,
//! request id, CORS), the real guard with a cached token, the limiter, the
//! metrics, GraphQL parse/validate/execute, the JSON answer.
//!
//! `cargo bench --bench request` (criterion). `cargo bench --bench request --
//! --loop N WORKLOAD` runs WORKLOAD (`me`, `me-static`, `orders`) N times
//! without criterion, for `valgrind --tool=callgrind` / `perf`.
//!
//! Uses the test-only keys of `tests/fixtures/guard/`, and the example orders
//! service on 127.0.0.1 port 0 (for `orders`).

// A bench may unwrap: a panic is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use authgate::auth::Authenticate;
use authgate::auth::{Principal, User, VerifiedClaims};
use authgate::config::{ProviderKind, Settings};
use authgate::secret::Secret;
use authgate::Application;
use axum::body::Body;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use criterion::{black_box, criterion_group, Criterion};
use http::Request;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::json;
use tower::ServiceExt;

const ISSUER: &str = "https://tenant.test/";
const AUDIENCE: &str = "https://api.test";
const ME: &str = r#"{"query":"{ me { id permissions } }"}"#;
const ORDERS: &str = r#"{"query":"{ orders { id total } }"}"#;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/guard")
}

fn b64(b: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// A realistic Auth0 access token, kid "test-a".
fn token() -> String {
    let pem = std::fs::read_to_string(fixtures().join("rsa2048_a.pem")).unwrap();
    let key = RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "test-a"});
    let claims = json!({
        "iss": ISSUER, "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "aud": [AUDIENCE, "https://tenant.test/userinfo"], "azp": "client-123",
        "iat": now, "exp": now + 86_400, "gty": "password",
        "scope": "openid profile email read:orders",
        "permissions": ["read:orders"],
        "https://authgate.dev/roles": ["user"],
    });
    let input = format!(
        "{}.{}",
        b64(serde_json::to_vec(&header).unwrap()),
        b64(serde_json::to_vec(&claims).unwrap())
    );
    let sig = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key).sign(input.as_bytes());
    format!("{input}.{}", b64(sig.to_vec()))
}

/// A guard double: every token is the same user (no verification cost).
struct OneUser(Principal);

#[async_trait::async_trait]
impl Authenticate for OneUser {
    async fn authenticate(&self, _token: &str) -> Principal {
        self.0.clone()
    }
}

fn one_user() -> Arc<OneUser> {
    Arc::new(OneUser(Principal::User(Arc::new(User::new(
        VerifiedClaims {
            subject: "auth0|5f7c8ec7c33c6c004bbafe82".into(),
            scopes: vec!["openid".into()],
            permissions: vec!["read:orders".into()],
            roles: vec!["user".into()],
            claims: serde_json::from_value(json!({"sub": "auth0|5f7c8ec7c33c6c004bbafe82"}))
                .unwrap(),
            expires_at: 4_102_444_800,
            token_id: "id".into(),
        },
        Secret::new("token"),
    )))))
}

/// Settings like the load harness's: the real guard (static key set),
/// metrics on, limits raised out of the way (still counted).
async fn settings() -> Settings {
    let mut s = Settings::load_from(None, Vec::new()).unwrap();
    s.server.listen = "127.0.0.1:0".parse().unwrap();
    s.identity.provider = ProviderKind::Auth0;
    s.auth0.base_url = Some("http://127.0.0.1:9/".parse().unwrap());
    s.guard.issuer = ISSUER.into();
    s.guard.audience = AUDIENCE.into();
    s.guard.jwks_file = Some(fixtures().join("jwks.json"));
    s.guard.jwks_url = None;
    s.guard.snapshot_path = None;
    s.development.example_upstream.clear();
    s.metrics.enabled = true;
    s.metrics.listen = "127.0.0.1:0".parse().unwrap();
    s.limits.requests.per_ip = Some(100_000_000);
    s.limits.requests.per_account = Some(100_000_000);
    // the example orders service, for `orders`
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(authgate::datasources::example::serve_example(listener));
    for ds in s.datasources.values_mut() {
        let path = ds.url.path().to_owned();
        ds.url = format!("http://{addr}{path}").parse().unwrap();
    }
    s
}

struct Fixture {
    router: authgate::http::Edge,
    token: String,
    _app: Application,
}

async fn fixture(guard: Option<Arc<dyn Authenticate>>) -> Fixture {
    let mut b = Application::builder(settings().await);
    if let Some(g) = guard {
        b = b.authenticator(g);
    }
    let app = b.build().await.unwrap();
    Fixture {
        router: authgate::http::router(app.state().clone()),
        token: token(),
        _app: app,
    }
}

async fn call(router: &authgate::http::Edge, token: &str, body: &'static str) -> bytes::Bytes {
    let req = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
}

fn check(body: &[u8], field: &str) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert!(v["errors"].is_null(), "{v}");
    assert!(!v["data"][field].is_null(), "{v}");
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = rt();
    let real = rt.block_on(fixture(None));
    let stat = rt.block_on(fixture(Some(one_user())));
    check(&rt.block_on(call(&real.router, &real.token, ME)), "me");
    check(&rt.block_on(call(&stat.router, "x", ME)), "me");
    check(
        &rt.block_on(call(&real.router, &real.token, ORDERS)),
        "orders",
    );

    let mut g = c.benchmark_group("request");
    g.bench_function("me_cached_token", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call(&real.router, &real.token, ME).await) })
    });
    g.bench_function("me_static_guard", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call(&stat.router, "x", ME).await) })
    });
    g.bench_function("orders_cached_token", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call(&real.router, &real.token, ORDERS).await) })
    });
    g.finish();
}

/// `--loop N WORKLOAD`: a plain loop for profilers.
fn profile_loop(n: usize, workload: &str) {
    let rt = rt();
    let (f, token, body, field) = match workload {
        "me" => {
            let f = rt.block_on(fixture(None));
            let t = f.token.clone();
            (f, t, ME, "me")
        }
        "me-static" => (rt.block_on(fixture(Some(one_user()))), "x".into(), ME, "me"),
        "orders" => {
            let f = rt.block_on(fixture(None));
            let t = f.token.clone();
            (f, t, ORDERS, "orders")
        }
        other => panic!("unknown workload {other} (me, me-static, orders)"),
    };
    // warm caches (token, documents, connections) before counting
    check(&rt.block_on(call(&f.router, &token, body)), field);
    rt.block_on(async {
        for _ in 0..n {
            black_box(call(&f.router, &token, body).await);
        }
    });
}

criterion_group!(benches, bench);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--loop") {
        let n = args[i + 1].parse().unwrap();
        let w = args.get(i + 2).map_or("me", String::as_str);
        profile_loop(n, w);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
