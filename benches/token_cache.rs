//! What the verified-token cache costs in memory, and what a hit saves.
//!
//! `cargo bench --bench token_cache` (release). Signs distinct access tokens
//! with the test-only key of `tests/fixtures/guard/` and feeds them to the
//! real guard, in chunks (a chunk's tokens are dropped once verified, so the
//! process's memory is the cache's, not the test's). Prints, for 1k, 10k and
//! 100k distinct tokens, with the default budget and with an unbounded one:
//! live heap (a counting allocator), the cache's own estimate, entries and
//! RSS; then the median cost of a hit and of a miss.
//!
//! `AUTHGATE_BENCH_TOKENS=1000,10000` picks other sizes. Under `cargo test`
//! (no `--bench` argument) it is a quick smoke run of 300 tokens.

// A bench may unwrap: a panic is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use authgate::auth::{Authenticator, GuardSettings, DEFAULT_CACHE_MAX_BYTES};
use authgate::store::MemoryStore;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

/// Counts live heap bytes: what the cache really holds, to check its estimate.
#[global_allocator]
static ALLOC: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn live() -> isize {
    // stats_alloc books a realloc's growth in bytes_allocated and its
    // shrinking in bytes_deallocated (bytes_reallocated is the same delta again)
    let s = ALLOC.stats();
    (s.bytes_allocated as isize) - (s.bytes_deallocated as isize)
}

const ISSUER: &str = "https://tenant.test/";
const AUDIENCE: &str = "https://api.test";

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/guard")
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// Distinct realistic Auth0 access tokens (~900 bytes): same claims as the
/// `guard` bench, a different subject each.
struct Minter {
    key: EncodingKey,
    header: Header,
    now: u64,
}

impl Minter {
    fn new() -> Self {
        let pem = std::fs::read(fixtures().join("rsa2048_a.pem")).unwrap();
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("test-a".into());
        Self {
            key: EncodingKey::from_rsa_pem(&pem).unwrap(),
            header,
            now: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        }
    }

    fn token(&self, i: usize) -> String {
        let claims = json!({
            "iss": ISSUER, "sub": format!("auth0|5f7c8ec7c33c6c{i:010}"),
            "aud": [AUDIENCE, "https://tenant.test/userinfo"], "azp": "client-123",
            "iat": self.now, "exp": self.now + 86_400, "gty": "password",
            "scope": "openid profile email read:things write:things",
            "permissions": ["read:things", "write:things"],
            "https://authgate.dev/roles": ["admin"],
        });
        encode(&self.header, &claims, &self.key).unwrap()
    }
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

async fn guard(cache_max_bytes: u64) -> Authenticator {
    Authenticator::new(
        settings(cache_max_bytes),
        reqwest::Client::new(),
        Arc::new(MemoryStore::new(1_000_000)),
    )
    .await
}

fn median(mut v: Vec<u128>) -> u128 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it: then a smoke run (a few hundred tokens) proves it works
    let measuring = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = std::env::var("AUTHGATE_BENCH_TOKENS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            if measuring {
                vec![1_000, 10_000, 100_000]
            } else {
                vec![300]
            }
        });
    let (hit_runs, miss_runs) = if measuring {
        (20_000, 2_000)
    } else {
        (200, 20)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let minter = Minter::new();

    println!("| budget | distinct tokens | entries | estimate (MiB) | live heap (MiB) | heap/entry (B) | estimate/entry (B) | RSS (MiB) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (label, budget) in [
        ("default (16 MiB)", DEFAULT_CACHE_MAX_BYTES),
        ("unbounded", u64::MAX / 2),
    ] {
        let g = rt.block_on(guard(budget));
        let base = live();
        let mut done = 0;
        for &n in &sizes {
            while done < n {
                let end = (done + 1000).min(n);
                let chunk: Vec<String> = (done..end).map(|i| minter.token(i)).collect();
                rt.block_on(async {
                    for t in &chunk {
                        assert!(g.authenticate(t).await.user().is_some());
                    }
                });
                done = end;
            }
            let usage = g.cache_usage();
            let heap = live() - base;
            let per = |b: i128| b / i128::from(usage.entries.max(1) as u32);
            println!(
                "| {label} | {n} | {} | {:.1} | {:.1} | {} | {} | {:.1} |",
                usage.entries,
                usage.bytes as f64 / 1_048_576.0,
                heap as f64 / 1_048_576.0,
                per(heap as i128),
                per(usage.bytes as i128),
                rss_kib() as f64 / 1024.0,
            );
        }
        drop(g);
    }

    // What a hit saves: the median of one authenticate() on a cached token,
    // against one with the cache off (a full signature check each time).
    let cached = rt.block_on(guard(DEFAULT_CACHE_MAX_BYTES));
    let uncached = rt.block_on(guard(0));
    let t = minter.token(usize::MAX / 2);
    let time = |g: &Authenticator, runs: usize| -> u128 {
        rt.block_on(async {
            let mut v = Vec::with_capacity(runs);
            for _ in 0..runs {
                let start = Instant::now();
                std::hint::black_box(g.authenticate(&t).await);
                v.push(start.elapsed().as_nanos());
            }
            median(v)
        })
    };
    time(&cached, 10);
    let hit = time(&cached, hit_runs);
    let miss = time(&uncached, miss_runs);
    println!();
    println!("| authenticate() | median (ns) |");
    println!("|---|---:|");
    println!("| cache hit | {hit} |");
    println!("| cache off (verify) | {miss} |");
    println!("| ratio | {:.0}× |", miss as f64 / hit.max(1) as f64);
}
