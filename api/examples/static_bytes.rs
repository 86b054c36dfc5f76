//! Benchmark baseline: a trivial axum server answering every POST with the bytes of a file,
//! from memory. Compare `wrk` against it and against `switchyard serve` with the same response
//! to see what the real stack (auth, policy, GraphQL, database) costs.
//!
//! `cargo run --release --example static_bytes -- 127.0.0.1:8090 response.json`

use axum::{Router, routing::post};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let file = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: static_bytes ADDR FILE"))?;
    let bytes: &'static [u8] = Box::leak(std::fs::read(&file)?.into_boxed_slice());
    let app = Router::new().route(
        "/graphql",
        post(move || async move { ([("content-type", "application/json")], bytes) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("serving {} bytes on http://{addr}/graphql", bytes.len());
    axum::serve(listener, app).await?;
    Ok(())
}
