//! The ceiling of the HTTP stack for the load harness (`benches/load/run.sh`):
//! a bare axum handler that answers every `POST /graphql` with a small, fixed
//! JSON body shaped like authgate's answer to `{ me { id permissions } }`.
//! No parsing, no authentication: whatever authgate spends on top of this is
//! GraphQL and auth work.
//!
//! Usage: `cargo run --release --example bare_axum -- [PORT]` (default 0:
//! pick a free port). It prints `listening on 127.0.0.1:PORT` once bound.
//! Worker threads follow `TOKIO_WORKER_THREADS`, like authgate's runtime.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

/// Same size and shape as authgate's `me` answer, so the encoding and
/// socket cost are comparable.
const BODY: &str = r#"{"data":{"me":{"id":"auth0|bench","permissions":["read:orders"]}}}"#;

async fn graphql() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p
            .parse()
            .map_err(|e| anyhow::anyhow!("PORT must be a number 0-65535, got `{p}`: {e}"))?,
        None => 0,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    let app = Router::new().route("/graphql", post(graphql));
    axum::serve(listener, app).await?;
    Ok(())
}
