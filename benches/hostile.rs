//! What refusing a hostile document costs, in-process through the router
//! (body limit, strict JSON, size/token/nesting/expansion scans, parse,
//! validation), against a normal small query measured in the same run.
//!
//! `cargo bench --bench hostile` (criterion; add `-- --warm-up-time 0.5
//! --measurement-time 2` for a short run). Each document is checked to be
//! answered as expected before it is measured. The document cache is off:
//! an attacker varies the text, so the cold path is the one that counts.

// A bench may unwrap: a panic is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use authgate::config::{ProviderKind, Settings};
use authgate::Application;
use axum::body::Body;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::Request;
use serde_json::json;
use tower::ServiceExt;

fn settings() -> Settings {
    let mut s = Settings::load_from(None, Vec::new()).unwrap();
    s.server.listen = "127.0.0.1:0".parse().unwrap();
    s.identity.provider = ProviderKind::Auth0;
    s.auth0.base_url = Some("http://127.0.0.1:9/".parse().unwrap());
    s.guard.snapshot_path = None;
    s.development.example_upstream.clear();
    s.graphql.schema = vec!["schema".into()];
    s.datasources.clear();
    // the cold path: an attacker varies the text, so no cache hit helps
    s.graphql.document_cache_size = 0;
    // measured, not limited
    s.limits.requests.per_ip = Some(u32::MAX.into());
    s.limits.requests.per_account = Some(u32::MAX.into());
    s
}

fn body(query: &str) -> String {
    json!({ "query": query }).to_string()
}

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

fn fan_out(levels: usize) -> String {
    let mut q = String::from("query { ...F0 }");
    for i in 0..levels {
        q.push_str(&format!(" fragment F{i} on Query {{"));
        for _ in 0..20 {
            q.push_str(&format!(" ...F{}", i + 1));
        }
        q.push('}');
    }
    q.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    q
}

/// `(name, body, expected status)`: the hostile set and the baseline.
fn documents() -> Vec<(&'static str, String, u16)> {
    vec![
        ("baseline_typename", body("{ __typename }"), 200),
        (
            "deep_list_2400",
            body(&format!(
                "{{ __typename(a: {}) }}",
                nested(2_400, "[", "]", "1")
            )),
            400,
        ),
        (
            "deep_selection_1500",
            body(&nested(1_500, "{ a ", " }", "__typename")),
            400,
        ),
        ("fan_out_6x20", body(&fan_out(6)), 400),
        ("fan_out_12x20", body(&fan_out(12)), 400),
        (
            "fragment_cycle",
            body("{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }"),
            400,
        ),
        (
            "wide_2400_fields",
            body(&format!("{{ {} }}", "__typename ".repeat(2_400))),
            400,
        ),
        (
            "many_directives_1200",
            body(&format!(
                "{{ __typename {} }}",
                "@skip(if: false) ".repeat(1_200)
            )),
            400,
        ),
        (
            "many_aliases_1600",
            body(&format!(
                "{{ {} }}",
                (0..1_600)
                    .map(|i| format!("a{i}: __typename"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            400,
        ),
        (
            "deep_variables_json_120",
            format!(
                r#"{{"query":"{{ __typename }}","variables":{{"v":{}}}}}"#,
                nested(120, "[", "]", "1")
            ),
            400,
        ),
        (
            "duplicate_keys",
            r#"{"query":"{ __typename }","query":"mutation { logout { ok } }"}"#.to_owned(),
            400,
        ),
    ]
}

async fn call(router: &authgate::http::Edge, body: String) -> (u16, bytes::Bytes) {
    let req = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(Body::from(body))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = rt
        .block_on(Application::builder(settings()).build())
        .unwrap();
    let router = authgate::http::router(app.state().clone());
    let docs = documents();
    for (name, b, want) in &docs {
        let (status, out) = rt.block_on(call(&router, b.clone()));
        assert_eq!(status, *want, "{name}: {}", String::from_utf8_lossy(&out));
    }
    let mut g = c.benchmark_group("hostile");
    for (name, b, _) in docs {
        g.bench_function(name, |bench| {
            bench
                .to_async(&rt)
                .iter(|| async { black_box(call(&router, b.clone()).await) })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
