//! Ingestion benchmark (not a test): events/s accepted over HTTP (validated and committed) in
//! batches of 500 realistic `event.form_submitted` events, side by side with a raw multi-row
//! INSERT of the same rows through sqlx into the same database; then validation alone against
//! serde_json parsing alone.
//!
//! `cargo run --release --example ingest_bench -- [DATABASE_URL] [BATCHES] [CONCURRENCY]`
//! (default: a fresh SQLite file, 40 batches, 4 concurrent requests).

use api::config::{CommonArgs, Config};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::time::Instant;

const BATCH: usize = 500;

fn event(i: usize, run: &str) -> Value {
    let cats = ["web", "event", "partner"];
    json!({
        "id": format!("{run}-{i}"),
        "type": "event.form_submitted",
        "occurred_at": "2026-11-27T09:30:00Z",
        "source": "website",
        "payload": {
            "email": format!("person{i}@example{}.com", i % 97),
            "first_name": "Ana", "last_name": "Example", "company": "Example GmbH",
            "company_domain": format!("example{}.com", i % 97), "job_title": "Head of Marketing",
            "country": "DE", "form_id": "ebook-2026", "form_name": "State of B2B marketing",
            "page_url": "https://www.example.com/ebook", "consent_marketing": !i.is_multiple_of(3),
            "utm_source": "linkedin", "utm_medium": "paid", "utm_campaign": "q4-ebook",
            "source_category": cats[i % 3], "submitted_at": "2026-11-27T09:30:00Z"
        }
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    let url = args
        .first()
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            )
        });
    let batches: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(40);
    let concurrency: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    let config = Config::load(
        &CommonArgs {
            data_dir: Some(dir.path().to_path_buf()),
            database_url: Some(url.clone()),
            ..Default::default()
        },
        None,
    )?;
    let app = api::server::build(config, false).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = app.router;
    tokio::spawn(async move { axum::serve(listener, router).await });
    let token = app
        .state
        .auth
        .mint("bench", &["platform_engineer".into()], 3600)?;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&token)
        .json(&json!({"query": "mutation { createWriteKey(name: \"bench\", eventTypes: [\"event.form_submitted\"]) { key } }"}))
        .send().await?.json().await?;
    let key = created["data"]["createWriteKey"]["key"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let bodies: Vec<Vec<u8>> = (0..batches)
        .map(|b| {
            serde_json::to_vec(
                &(0..BATCH)
                    .map(|i| event(b * BATCH + i, "http"))
                    .collect::<Vec<_>>(),
            )
        })
        .collect::<Result<_, _>>()?;

    // 1. HTTP ingestion.
    let started = Instant::now();
    let mut accepted = 0u64;
    for chunk in bodies.chunks(concurrency) {
        let sends = chunk.iter().map(|body| {
            client
                .post(format!("http://{addr}/v1/events"))
                .basic_auth(&key, Some(""))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        });
        for resp in futures::future::join_all(sends).await {
            let v: Value = resp?.json().await?;
            accepted += v["accepted"].as_u64().unwrap_or(0);
        }
    }
    let http_secs = started.elapsed().as_secs_f64();
    let http_rate = accepted as f64 / http_secs;

    // 2. Raw multi-row INSERT of the same rows, same database, same concurrency.
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let started = Instant::now();
    let mut inserted = 0u64;
    for (c, chunk) in bodies.chunks(concurrency).enumerate() {
        let stmts = chunk.iter().enumerate().map(|(k, _)| {
            let b = c * concurrency + k;
            let mut sql = String::from("INSERT INTO events (id, event_type, contract_version_id, version, occurred_at, received_at, source, write_key_id, status, payload) VALUES ");
            let mut values = Vec::with_capacity(BATCH * 10);
            for i in 0..BATCH {
                let e = event(b * BATCH + i, "raw");
                let n = i * 10;
                let ph: Vec<String> = (1..=10).map(|j| match backend {
                    sea_orm::DatabaseBackend::Postgres => format!("${}", n + j),
                    _ => "?".to_string(),
                }).collect();
                if i > 0 { sql.push(','); }
                sql.push_str(&format!("({})", ph.join(",")));
                values.extend([
                    e["id"].as_str().unwrap_or_default().into(), "event.form_submitted".into(), 1i64.into(),
                    "1.0.0".into(), "2026-11-27T09:30:00Z".into(), "2026-11-27T09:30:00.000000Z".into(),
                    "website".into(), sea_orm::Value::BigInt(None), "accepted".into(), e["payload"].to_string().into(),
                ]);
            }
            sea_orm::Statement::from_sql_and_values(backend, sql, values)
        });
        for r in futures::future::join_all(stmts.map(|s| db.execute_raw(s))).await {
            inserted += r?.rows_affected();
        }
    }
    let raw_secs = started.elapsed().as_secs_f64();
    let raw_rate = inserted as f64 / raw_secs;

    // 3. Validation alone vs parsing alone (one core).
    let payloads: Vec<Vec<u8>> = (0..20_000)
        .map(|i| event(i, "v")["payload"].to_string().into_bytes())
        .collect();
    let started = Instant::now();
    let mut parsed = 0usize;
    for p in &payloads {
        parsed += serde_json::from_slice::<Value>(p).map(|_| 1).unwrap_or(0);
    }
    let parse_rate = parsed as f64 / started.elapsed().as_secs_f64();
    let compiled = app
        .state
        .validators
        .resolve(db, "event.form_submitted", None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let mut valid = 0usize;
    for p in &payloads {
        let v: Value = serde_json::from_slice(p)?;
        valid += usize::from(compiled.violations(&v).is_empty());
    }
    let validate_rate = valid as f64 / started.elapsed().as_secs_f64();

    println!("database: {}", api::config::mask_url(&url));
    println!(
        "HTTP ingest   : {accepted} events in {http_secs:.2}s = {http_rate:.0} events/s ({batches} batches of {BATCH}, {concurrency} concurrent)"
    );
    println!("raw INSERT    : {inserted} rows in {raw_secs:.2}s = {raw_rate:.0} rows/s");
    println!("ratio         : {:.2}", http_rate / raw_rate);
    println!("parse only    : {parse_rate:.0} payloads/s (one core)");
    println!(
        "parse+validate: {validate_rate:.0} payloads/s (one core), ratio {:.2}",
        validate_rate / parse_rate
    );
    Ok(())
}
