//! End-to-end delivery benchmark (not a test): events accepted over HTTP → runs → signed
//! webhook deliveries to a local receiver. Reports the maximum deliveries/s, then p50/p99 of
//! "event accepted → delivered" (each delivery's recorded latency) at half that rate.
//!
//! `cargo run --release --example delivery_bench -- [DATABASE_URL] [WORKERS] [EVENTS]`
//! WORKERS = 0 (default): workers embedded in the API process, as `switchyard serve` runs them.
//! WORKERS = N: N `switchyard worker` processes (target/release/switchyard, or $SWITCHYARD_BIN)
//! on the same database — the PostgreSQL scale-out shape. EVENTS defaults to 4,000.
//! A fourth argument `memory` instead queues EVENTS events first, then starts one worker
//! process and reports its resident memory over 30 s while it works through the backlog.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::{Bench, forwarding_workflow, gql};

fn event(i: usize, run: &str) -> Value {
    json!({
        "id": format!("{run}-{i}"), "type": "event.form_submitted",
        "occurred_at": "2026-11-27T09:30:00Z",
        "payload": { "email": format!("p{i}-{run}@bench.example"), "form_id": "ebook-2026",
            "company": "Example GmbH", "source_category": "web", "country": "DE",
            "consent_marketing": true, "submitted_at": "2026-11-27T09:30:00Z" }
    })
}

async fn receiver(count: Arc<AtomicUsize>) -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(move || {
        let count = Arc::clone(&count);
        async move {
            count.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/hook"))
}

async fn send(
    client: &reqwest::Client,
    addr: &str,
    key: &str,
    events: &[Value],
) -> anyhow::Result<()> {
    let resp = client
        .post(format!("http://{addr}/v1/events"))
        .basic_auth(key, Some(""))
        .json(events)
        .send()
        .await?;
    if !resp.status().is_success() {
        anyhow::bail!("ingest answered {}", resp.status());
    }
    Ok(())
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn wait_for(count: &AtomicUsize, n: usize, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while count.load(Ordering::Relaxed) < n {
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    let workers: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let events: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4000);
    let memory = args.get(3).is_some_and(|a| a == "memory");
    let embedded = workers == 0 && !memory;
    // `bench` lives to the end: dropping it stops the server.
    let bench = Bench::start(dir.path(), args.first().map(String::as_str), embedded).await?;
    let (addr, token, db, url, config_file) = (
        bench.addr.clone(),
        bench.token.clone(),
        bench.db.clone(),
        bench.url.clone(),
        bench.config_file.clone(),
    );
    let mut children = Vec::new();
    let bin =
        std::env::var("SWITCHYARD_BIN").unwrap_or_else(|_| "target/release/switchyard".into());
    let spawn_worker = || {
        std::process::Command::new(&bin)
            .arg("--config")
            .arg(&config_file)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--database-url", &url, "worker"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
    };
    if !memory && !embedded {
        for _ in 0..workers {
            children.push(spawn_worker()?);
        }
    }
    let count = Arc::new(AtomicUsize::new(0));
    let hook = receiver(Arc::clone(&count)).await?;
    let client = reqwest::Client::new();
    let (_, instance_id) = forwarding_workflow(&client, &addr, &token, &hook).await?;
    let key = gql(&client, &addr, &token,
        "mutation { createWriteKey(name: \"bench\", eventTypes: [\"event.form_submitted\"]) { key } }", json!({})).await?;
    let key = key["createWriteKey"]["key"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    if memory {
        // Memory of one worker process holding a backlog of EVENTS queued jobs.
        for chunk in (0..events).collect::<Vec<_>>().chunks(1000) {
            let batch: Vec<Value> = chunk.iter().map(|i| event(*i, "mem")).collect();
            send(&client, &addr, &key, &batch).await?;
        }
        let mut child = spawn_worker()?;
        let pid = child.id();
        let mut peak = 0u64;
        let mut last = 0u64;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            last = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
                .unwrap_or(0);
            peak = peak.max(last);
        }
        let delivered = count.load(Ordering::Relaxed);
        println!(
            "memory: one worker with {events} jobs queued: RSS peak {:.1} MB, after 30 s {:.1} MB ({delivered} delivered meanwhile, {} still queued)",
            peak as f64 / 1024.0,
            last as f64 / 1024.0,
            events.saturating_sub(delivered)
        );
        let _ = child.kill();
        let _ = child.wait();
        return Ok(());
    }

    // 1. Maximum throughput: everything at once in batches of 100, 4 requests in flight.
    let started = Instant::now();
    let batches: Vec<Vec<Value>> = (0..events)
        .map(|i| event(i, "max"))
        .collect::<Vec<_>>()
        .chunks(100)
        .map(<[Value]>::to_vec)
        .collect();
    for group in batches.chunks(4) {
        let sends = group.iter().map(|b| send(&client, &addr, &key, b));
        for r in futures::future::join_all(sends).await {
            r?;
        }
    }
    let accepted_in = started.elapsed();
    if !wait_for(&count, events, Duration::from_secs(600)).await {
        anyhow::bail!(
            "only {} of {events} delivered",
            count.load(Ordering::Relaxed)
        );
    }
    let took = started.elapsed();
    let max_rate = events as f64 / took.as_secs_f64();
    println!(
        "workers={} db={} events={events}: accepted in {:.2} s, all delivered in {:.2} s -> {:.0} deliveries/s",
        if workers == 0 {
            "embedded".to_string()
        } else {
            workers.to_string()
        },
        if url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        },
        accepted_in.as_secs_f64(),
        took.as_secs_f64(),
        max_rate
    );

    // 2. Latency at half the maximum rate for 10 s: batches of 10 at a steady pace.
    let rate = (max_rate / 2.0).max(10.0);
    let n = (rate * 10.0) as usize;
    let interval = Duration::from_secs_f64(10.0 / rate);
    let before = count.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval(interval);
    let mut sent = 0;
    let mut pending = Vec::new();
    while sent < n {
        tick.tick().await;
        let batch: Vec<Value> = (sent..(sent + 10).min(n))
            .map(|i| event(i, "half"))
            .collect();
        sent += batch.len();
        let (client, addr, key) = (client.clone(), addr.clone(), key.clone());
        pending.push(tokio::spawn(async move {
            send(&client, &addr, &key, &batch).await
        }));
    }
    for p in pending {
        p.await??;
    }
    if !wait_for(&count, before + n, Duration::from_secs(120)).await {
        anyhow::bail!("half-rate phase did not finish");
    }
    let mut latencies: Vec<i64> = entity::delivery::Entity::find()
        .select_only()
        .column(entity::delivery::Column::LatencyMs)
        .filter(entity::delivery::Column::InstanceId.eq(instance_id))
        .filter(entity::delivery::Column::Status.eq("delivered"))
        .filter(entity::delivery::Column::Id.gt(i64::try_from(events).unwrap_or(0)))
        .into_tuple::<Option<i64>>()
        .all(&db)
        .await?
        .into_iter()
        .flatten()
        .collect();
    latencies.sort_unstable();
    println!(
        "half rate {:.0} events/s for 10 s ({} deliveries): accepted -> delivered p50 {} ms, p99 {} ms, max {} ms",
        rate,
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0)
    );
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    Ok(())
}
