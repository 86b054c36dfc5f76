//! Health-query benchmark (not a test): one workflow with 1,000,000 deliveries over the last
//! seven days, then `instance { health(window) }` over GraphQL, timed per window.
//!
//! The history goes through the same code the engine uses: [`worker::health::Tally`] (dated
//! with `Tally::at`) adds each run, record and attempt to the health aggregates, and the same
//! number of rows is written to `deliveries`, so the query runs beside a full-size history.
//!
//! `cargo run --release --example health_bench -- [DATABASE_URL] [DELIVERIES] [QUERIES]`
//! (default: a fresh SQLite file, 1,000,000 deliveries, 300 queries per window).

use entity::documents::record::DeliveryFields;
use entity::status::{DeliveryStatus, RunStatus};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use std::time::Instant;
use worker::health::Tally;

mod common;
use common::{Bench, forwarding_workflow, gql};

const MINUTE_MS: i64 = 60_000;
const WEEK_MINUTES: i64 = 7 * 24 * 60;
const HEALTH: &str = "query($i: Int!, $w: Window!) { instance(id: $i) { health(window: $w) {
    status summary eventsMatched duplicatesSuppressed
    runs { succeeded skipped failed }
    deliveries { succeeded failedAttempts retried dead deadLettersOpen }
    latency { p50Ms p95Ms p99Ms }
    freshness { slaMinutes minutesSince late measuredFrom }
    completeness { complete incomplete share gaps { field reason count } } } } }";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted
        .get(i.min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// One delivered record, as the engine tallies it: every 50th left without its company, every
/// 40th needed a second attempt, latencies spread from 2 ms to a few hundred.
fn tally_delivery(tally: &mut Tally, instance: i64, i: i64) {
    tally.run(instance, RunStatus::Succeeded, true);
    let mut fields = DeliveryFields::default();
    fields.sent.insert("email".into(), "personal".into());
    fields.sent.insert("form_id".into(), "none".into());
    if i % 50 == 0 {
        fields.missing.push("company".into());
    } else {
        fields.sent.insert("company".into(), "none".into());
    }
    tally.record(instance, &fields);
    let n = if i % 40 == 0 {
        tally.attempt(instance, DeliveryStatus::Retrying, 1, None, Some(503));
        2
    } else {
        1
    };
    let latency = 2 + (i * 7919) % 400;
    tally.attempt(
        instance,
        DeliveryStatus::Delivered,
        n,
        Some(latency),
        Some(200),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    let total: i64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let queries: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);
    // No workers: nothing is delivered for real; the history is written below.
    let bench = Bench::start(dir.path(), args.first().map(String::as_str), false).await?;
    let (addr, token, db, url) = (
        bench.addr.clone(),
        bench.token.clone(),
        bench.db.clone(),
        bench.url.clone(),
    );
    let client = reqwest::Client::new();
    let (conn_id, instance) =
        forwarding_workflow(&client, &addr, &token, "http://127.0.0.1:9/hook").await?;

    // The history: `total` deliveries spread evenly over the last seven days, tallied a minute
    // at a time (as the engine does), and the same number of delivery rows.
    let started = Instant::now();
    let now_minute = entity::clock::now_ms() / MINUTE_MS * MINUTE_MS;
    let per_minute = total / WEEK_MINUTES;
    let extra = total % WEEK_MINUTES;
    let mut i = 0i64;
    for chunk in (0..WEEK_MINUTES).collect::<Vec<_>>().chunks(720) {
        let tx = db.begin().await?;
        for m in chunk {
            let at = now_minute - (WEEK_MINUTES - 1 - m) * MINUTE_MS;
            let mut tally = Tally::at(at + 30_000);
            for _ in 0..per_minute + i64::from(*m < extra) {
                tally_delivery(&mut tally, instance, i);
                i += 1;
            }
            tally.flush(&tx).await?;
        }
        tx.commit().await?;
    }
    let backend = db.get_database_backend();
    let now = entity::clock::now_string();
    let insert = format!(
        "INSERT INTO deliveries (run_id, instance_id, step_id, slot, connection_id, connector, \
         idempotency_key, business_key, object, action, record, status, attempts, latency_ms, \
         history, accepted_at, created_at, updated_at, replays) \
         WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < {total}) \
         SELECT k, {instance}, 'forward', 'hook', {conn_id}, 'webhook', 'bench-' || k, \
         'p' || k || '@bench.example', 'event.form_submitted', 'send', \
         '{{\"email\":\"p@bench.example\",\"form_id\":\"ebook-2026\",\"company\":\"Example GmbH\"}}', \
         'delivered', 1, 2 + (k % 400), '[]', '{now}', '{now}', '{now}', 0 FROM n"
    );
    db.execute_raw(Statement::from_string(backend, insert))
        .await?;
    if backend == DbBackend::Postgres {
        db.execute_raw(Statement::from_string(backend, "ANALYZE".to_string()))
            .await?;
    }
    println!(
        "database: {}; history: {total} deliveries over 7 days for one workflow, written in {:.1}s",
        api::config::mask_url(&url),
        started.elapsed().as_secs_f64()
    );

    println!("| window | health query p50 | p99 | max | deliveries counted |");
    println!("|---|---|---|---|---|");
    for window in ["H1", "H24", "D7"] {
        // Warm up once, and check the figures are the history's.
        let first = gql(
            &client,
            &addr,
            &token,
            HEALTH,
            json!({"i": instance, "w": window}),
        )
        .await?;
        let counted = first["instance"]["health"]["deliveries"]["succeeded"]
            .as_i64()
            .unwrap_or_default();
        let mut times = Vec::with_capacity(queries);
        for _ in 0..queries {
            let t = Instant::now();
            gql(
                &client,
                &addr,
                &token,
                HEALTH,
                json!({"i": instance, "w": window}),
            )
            .await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| {window} | {:.2} ms | {:.2} ms | {:.2} ms | {counted} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or_default()
        );
    }
    Ok(())
}
