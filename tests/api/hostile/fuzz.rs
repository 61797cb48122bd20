//! Property test over the whole request path (HTTP body → GraphQL → guard),
//! in-process through the router with the real guard: for hostile bodies,
//! documents and `Authorization` headers, the gateway never panics, never
//! answers 5xx (other than 503 `UPSTREAM_UNAVAILABLE`: the identity provider
//! is a closed port here), answers within the time box, and still serves a
//! normal query afterwards.
//!
//! `AUTHGATE_FUZZ_CASES` sets the number of cases (default 2000), and the run
//! stops taking new cases after `AUTHGATE_FUZZ_SECONDS` (default 40).

use std::path::Path;
use std::time::{Duration, Instant};

use authgate::config::{ProviderKind, Settings};
use authgate::Application;
use axum::body::Body;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::Request;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use tower::ServiceExt;

/// The time box asserted per request: the gateway's own request timeout
/// (10 s here) answers long before; debug builds are slow, hence generous.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One request: POST (JSON body) or GET (the body's text as `query`).
#[derive(Debug, Clone)]
struct Case {
    body: Vec<u8>,
    get: bool,
    authorization: Option<String>,
}

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// A request body around `query` and raw `variables` JSON text.
fn request(query: &str, variables: &str) -> Vec<u8> {
    format!(r#"{{"query":{},"variables":{variables}}}"#, json!(query)).into_bytes()
}

fn deep() -> impl Strategy<Value = Vec<u8>> {
    (1usize..3_000, 0u8..5).prop_map(|(d, kind)| match kind {
        0 => request(
            &format!("{{ __typename(a: {}) }}", nested(d, "[", "]", "1")),
            "{}",
        ),
        1 => request(&nested(d, "{ a ", " }", "__typename"), "{}"),
        2 => request(
            &format!("{{ __typename(a: {}) }}", nested(d, "{a: ", "}", "1")),
            "{}",
        ),
        3 => request(
            "{ __typename }",
            &format!(r#"{{"v":{}}}"#, nested(d, "[", "]", "1")),
        ),
        _ => format!(
            r#"{{"query":"{{ __typename }}","extensions":{}}}"#,
            nested(d, r#"{"e":"#, "}", "1")
        )
        .into_bytes(),
    })
}

/// Random fragment graphs (fan-out, chains, cycles).
fn fragments() -> impl Strategy<Value = Vec<u8>> {
    (
        1usize..12,
        prop::collection::vec((0usize..12, 0usize..12, 1usize..25), 0..40),
    )
        .prop_map(|(n, edges)| {
            let mut bodies = vec![String::from("__typename"); n];
            for (from, to, times) in edges {
                for _ in 0..times {
                    bodies[from % n].push_str(&format!(" ...F{}", to % n));
                }
            }
            let mut q = String::from("query { ...F0 }");
            for (i, b) in bodies.iter().enumerate() {
                q.push_str(&format!(" fragment F{i} on Query {{ {b} }}"));
            }
            request(&q, "{}")
        })
}

fn numbers() -> impl Strategy<Value = Vec<u8>> {
    let fixed = prop::sample::select(vec![
        "1e999999",
        "-1e999999",
        "1e-999999",
        "18446744073709551616",
        "-9223372036854775809",
        "0.0000000000000000000000000000001",
        "-0",
        "01",
        "1.",
        ".5",
        "NaN",
        "Infinity",
    ]);
    (fixed, "[0-9]{1,600}", any::<bool>()).prop_map(|(f, digits, in_vars)| {
        let n = if digits.len() % 2 == 0 { f.to_owned() } else { digits };
        if in_vars {
            format!(
                r#"{{"query":"query($p: Int) {{ invitations(page: $p) {{ total }} }}","variables":{{"p":{n}}}}}"#
            )
            .into_bytes()
        } else {
            request(&format!("{{ invitations(page: {n}) {{ total }} }}"), "{}")
        }
    })
}

fn strings() -> impl Strategy<Value = Vec<u8>> {
    (any::<String>(), 0u8..4, 0usize..40_000).prop_map(|(s, kind, len)| match kind {
        0 => request(&s, "{}"),
        1 => request(
            "query($s: String) { __typename }",
            &json!({ "s": s }).to_string(),
        ),
        2 => request(
            &format!("{{ __typename(a: {}) }}", json!(s.repeat(1 + len / 64))),
            "{}",
        ),
        _ => request(
            &format!("{{ {} }}", "\u{feff}\u{202e}é𝕏".repeat(len / 8)),
            "{}",
        ),
    })
}

fn dup_keys() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        r#"{"query":"{ __typename }","query":"mutation { logout { ok } }"}"#,
        r#"{"query":"{ __typename }","variables":{"a":1,"a":2}}"#,
        r#"{"query":"{ __typename }","extensions":{"x":{"y":1,"y":1}}}"#,
        r#"[{"query":"{ __typename }","query":"{ __typename }"}]"#,
        r#"{"query":"{ __typename }","qu\u0065ry":"{ __typename }"}"#,
    ])
    .prop_map(|s| s.as_bytes().to_vec())
}

fn b64(b: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// `Bearer x.y.z` with random parts, or a JSON header and payload of
/// random claims, or garbage.
fn authorization() -> impl Strategy<Value = Option<String>> {
    let part = "[A-Za-z0-9_-]{0,120}";
    let alg = prop::sample::select(vec!["none", "HS256", "RS256", "ES256", "RS512", ""]);
    prop_oneof![
        Just(None),
        (part, part, part).prop_map(|(a, b, c)| Some(format!("Bearer {a}.{b}.{c}"))),
        (alg, any::<i64>(), "[ -~]{0,40}", any::<Vec<u8>>()).prop_map(|(alg, exp, s, sig)| {
            let h = json!({"alg": alg, "typ": "JWT", "kid": s});
            let c = json!({"sub": s, "exp": exp, "iss": s, "aud": [s, 1], "scope": exp});
            Some(format!(
                "Bearer {}.{}.{}",
                b64(h.to_string()),
                b64(c.to_string()),
                b64(sig)
            ))
        }),
        "[ -~]{0,200}".prop_map(Some),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let body = prop_oneof![
        deep(),
        fragments(),
        numbers(),
        strings(),
        dup_keys(),
        prop::collection::vec(any::<u8>(), 0..2_000),
    ];
    (body, any::<bool>(), authorization()).prop_map(|(body, get, authorization)| Case {
        body,
        get,
        authorization,
    })
}

/// The real guard over the test-only key set; identity provider at a
/// closed port.
fn settings() -> Settings {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/guard");
    let mut s = crate::helpers::test_settings();
    s.identity.provider = ProviderKind::Auth0;
    s.guard.issuer = "https://tenant.test/".into();
    s.guard.audience = "https://api.test".into();
    s.guard.jwks_file = Some(fixtures.join("jwks.json"));
    s.guard.jwks_url = None;
    s.graphql.limits.batching = true;
    s.server.request_timeout = Duration::from_secs(10);
    // every case comes from one address: the abuse limits are not under test
    s.limits.requests.per_ip = Some(100_000_000);
    s.limits.requests.per_account = Some(100_000_000);
    s
}

fn http_request(c: &Case) -> Request<Body> {
    let mut b = if c.get {
        // the body's text, whatever it is, as the `query` parameter
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", &String::from_utf8_lossy(&c.body))
            .finish();
        Request::get(format!("/graphql?{q}")).header("apollo-require-preflight", "1")
    } else {
        Request::post("/graphql").header("content-type", "application/json")
    };
    b = b.header("accept", "application/graphql-response+json");
    if let Some(a) = &c.authorization {
        b = b.header("authorization", a.as_str());
    }
    let body = if c.get {
        Body::empty()
    } else {
        Body::from(c.body.clone())
    };
    match b.body(body) {
        Ok(r) => r,
        // a header value that is not valid: send none
        Err(_) => Request::post("/graphql")
            .header("content-type", "application/json")
            .body(Body::from(c.body.clone()))
            .expect("a plain request builds"),
    }
}

async fn send(
    router: &authgate::http::Edge,
    req: Request<Body>,
) -> Result<(u16, Value), TestCaseError> {
    let answer = async {
        let resp = router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    };
    tokio::time::timeout(ANSWER_WITHIN, answer)
        .await
        .map_err(|_| TestCaseError::fail("no answer within the time box"))
}

#[test]
fn hostile_requests_never_break_the_gateway() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt
        .block_on(Application::builder(settings()).build())
        .unwrap();
    let router = authgate::http::router(app.state().clone());
    let cases = u32::try_from(env_or("AUTHGATE_FUZZ_CASES", 2_000)).unwrap_or(2_000);
    let stop_at = Instant::now() + Duration::from_secs(env_or("AUTHGATE_FUZZ_SECONDS", 40));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let result = runner.run(&case(), |c| {
        if Instant::now() > stop_at {
            return Ok(());
        }
        let (status, body) = rt.block_on(send(&router, http_request(&c)))?;
        *seen.lock().unwrap().entry(status).or_default() += 1;
        let code = body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("");
        prop_assert!(
            status < 500 || (status == 503 && code == "UPSTREAM_UNAVAILABLE"),
            "{status} {body}"
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // the cases ran, and both answers and refusals were seen
    let seen = seen.into_inner().unwrap();
    eprintln!("statuses: {seen:?}");
    assert!(
        seen.contains_key(&200) && seen.contains_key(&400),
        "{seen:?}"
    );
    // still serving
    let ok = Case {
        body: br#"{"query":"{ __typename }"}"#.to_vec(),
        get: false,
        authorization: None,
    };
    let (status, body) = rt.block_on(send(&router, http_request(&ok))).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["__typename"], "Query");
}
