//! Worker processes: `switchyard worker` processes run the jobs an API process stages. A
//! worker killed with SIGKILL in the middle of a delivery loses nothing: its job is re-queued
//! when its heartbeat goes stale (here 2 s × 2 missed beats) and another worker finishes it;
//! the receiver sees one `webhook-id`, so the effect is single. SIGTERM drains in-flight work.

use crate::execution::{event_to, forwarding_to};
use crate::helpers::*;
use crate::receiver::{Receiver, Reply};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `switchyard worker` on the app's database and keys with a fast heartbeat.
fn worker(app: &TestApp) -> Worker {
    let config = app.dir.path().join("worker.toml");
    std::fs::write(
        &config,
        "[execution]\noutbound_allow = [\"127.0.0.1\"]\nretry_schedule = \"0s,1s,1s,1s\"\n\
         heartbeat_seconds = 2\nmissed_heartbeats = 2\n",
    )
    .expect("write worker config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(app.dir.path())
        .arg("--database-url")
        .arg(&app.config.database_url)
        .arg("--policy-dir")
        .arg(&app.config.policy_dir)
        .args(["worker", "--concurrency", "4"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchyard worker");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("worker is running"));
    assert!(ready, "the worker printed that it runs");
    std::thread::spawn(move || for _ in lines {});
    Worker(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_delivery_is_replaced_and_the_effect_stays_single() {
    let app = spawn_app().await;
    // The first request hangs long enough for the kill to land while it is in flight.
    let rx = Receiver::start(vec![Reply::Hang(Duration::from_secs(6))]).await;
    let instance = forwarding_to(&app, &rx.url("/hook"), 15).await;
    let mut first = worker(&app);
    event_to(&app, "crash-1", "crash@example.com").await;
    assert!(
        eventually(Duration::from_secs(20), || async { rx.count() >= 1 }).await,
        "the first worker started the delivery"
    );
    let killed = Instant::now();
    // SAFETY-free: SIGKILL through the standard library.
    first.0.kill().expect("SIGKILL the worker");
    let _ = first.0.wait();
    let _second = worker(&app);
    assert!(
        eventually(Duration::from_secs(60), || async { rx.count() >= 2 }).await,
        "the job of the killed worker was picked up again"
    );
    let recovered = killed.elapsed();
    println!(
        "orphan recovery after SIGKILL: {} ms",
        recovered.as_millis()
    );
    assert!(recovered < Duration::from_secs(60), "recovered within 60 s");
    assert_eq!(
        rx.distinct("webhook-id").len(),
        1,
        "both requests carry one webhook-id: one effect at a receiver that honours it"
    );
    let token = app.token("pat", &["platform_engineer"]);
    let delivered = eventually(Duration::from_secs(20), || {
        let app = &app;
        let token = token.clone();
        async move {
            let body = app
                .gql(
                    &token,
                    "query($i: Int!) { runs(instance: $i) { id } }",
                    serde_json::json!({ "i": instance }),
                )
                .await;
            let Some(run) = body["data"]["runs"][0]["id"].as_i64() else {
                return false;
            };
            let d = app
                .gql(
                    &token,
                    "query($r: Int!) { deliveries(run: $r) { status } }",
                    serde_json::json!({ "r": run }),
                )
                .await;
            d["data"]["deliveries"][0]["status"] == "delivered"
        }
    })
    .await;
    assert!(delivered, "the delivery is recorded as delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_the_in_flight_delivery_finish_before_the_worker_exits() {
    let app = spawn_app().await;
    let rx = Receiver::start(vec![Reply::Hang(Duration::from_secs(3))]).await;
    let instance = forwarding_to(&app, &rx.url("/hook"), 15).await;
    let mut w = worker(&app);
    event_to(&app, "term-1", "term@example.com").await;
    assert!(
        eventually(Duration::from_secs(20), || async { rx.count() >= 1 }).await,
        "the delivery started"
    );
    let pid = w.0.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = w.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the worker exits after draining"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "clean exit: {exit:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the in-flight delivery"
    );
    let token = app.token("pat", &["platform_engineer"]);
    let body = app
        .gql(
            &token,
            "query($i: Int!) { runs(instance: $i) { id } }",
            serde_json::json!({ "i": instance }),
        )
        .await;
    let run = body["data"]["runs"][0]["id"].as_i64().expect("a run");
    let d = app
        .gql(
            &token,
            "query($r: Int!) { deliveries(run: $r) { status attempts } }",
            serde_json::json!({ "r": run }),
        )
        .await;
    assert_eq!(d["data"]["deliveries"][0]["status"], "delivered", "{d}");
    assert_eq!(rx.count(), 1, "finished, not abandoned and redone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_worker_processes_share_the_queue_and_deliver_each_event_once() {
    let app = spawn_app().await;
    let rx = Receiver::start(vec![]).await;
    forwarding_to(&app, &rx.url("/hook"), 15).await;
    let _a = worker(&app);
    let _b = worker(&app);
    let key = crate::ingest::write_key(&app, &["event.form_submitted"]).await;
    let events: Vec<serde_json::Value> = (0..60)
        .map(|i| {
            serde_json::json!({ "id": format!("share-{i}"), "type": "event.form_submitted",
                "occurred_at": "2026-11-27T09:30:00Z",
                "payload": { "email": format!("p{i}@example.com"), "form_id": "f", "company": "Acme",
                             "source_category": "web", "submitted_at": "2026-11-27T09:30:00Z" } })
        })
        .collect();
    let (status, body) = crate::ingest::post_events(&app, &key, &serde_json::json!(events)).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        eventually(Duration::from_secs(30), || async { rx.count() >= 60 }).await,
        "all delivered: {}",
        rx.count()
    );
    app.settled(Duration::from_secs(30)).await;
    assert_eq!(rx.count(), 60, "no event was processed by both workers");
    assert_eq!(rx.distinct("webhook-id").len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_stuck_in_a_live_worker_is_failed_by_the_job_timeout_and_retried() {
    // The worker stays alive (its heartbeat goes on), so its lease never runs out; the per-job
    // timeout (2 s here) abandons the stuck attempt and gives the job back to be tried again.
    let app = spawn_with(Setup {
        workers: true,
        execution: Some(api::config::ExecutionConfig {
            job_timeout_seconds: 2,
            ..test_execution()
        }),
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![Reply::Hang(Duration::from_secs(8))]).await;
    forwarding_to(&app, &rx.url("/stuck"), 15).await;
    event_to(&app, "stuck-1", "stuck@example.com").await;
    assert!(
        eventually(Duration::from_secs(30), || async { rx.count() >= 2 }).await,
        "the stuck job was timed out and run again: {} requests",
        rx.count()
    );
    assert_eq!(
        rx.distinct("webhook-id").len(),
        1,
        "the retry reuses the delivery key"
    );
}
