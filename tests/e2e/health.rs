//! Workflow health in business terms: counted as runs and attempts are recorded, read back as
//! `instance { health(window) }` and rolled up per template, connector and team.

use crate::execution::{event_to, forwarding_to};
use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::receiver::{Receiver, Reply};
use serde_json::json;
use std::time::Duration;

const HEALTH: &str = "query($i: Int!, $w: Window!) { instance(id: $i) { health(window: $w) {
    status summary eventsMatched duplicatesSuppressed
    runs { succeeded skipped failed }
    deliveries { succeeded failedAttempts retried dead deadLettersOpen }
    latency { p50Ms p95Ms p99Ms }
    freshness { slaMinutes minutesSince late measuredFrom }
    completeness { complete incomplete share gaps { field reason count } } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_counts_what_happened_and_names_missing_fields() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    // The first request fails once: one delivery is retried.
    let rx = Receiver::start(vec![Reply::Status(503)]).await;
    let instance = forwarding_to(&app, &rx.url("/hook"), 5).await;
    for i in 0..4 {
        event_to(&app, &format!("h-{i}"), &format!("h{i}@example.com")).await;
    }
    // One submission without a company: its record leaves incomplete.
    let key = write_key(&app, &["event.form_submitted"]).await;
    let (status, body) = post_events(
        &app,
        &key,
        &json!([{"id": "h-nocompany", "type": "event.form_submitted", "occurred_at": "2026-11-27T09:30:00Z",
                 "payload": {"email": "x@example.com", "form_id": "f", "source_category": "web",
                             "submitted_at": "2026-11-27T09:30:00Z"}}]),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    // Five deliveries, one of them after a retry (scheduled a second later): six requests.
    assert!(
        eventually(Duration::from_secs(30), || async { rx.count() >= 6 }).await,
        "every record arrived: {} requests",
        rx.count()
    );
    app.drain(Duration::from_secs(30)).await;
    let token = app.token("carol", &["compliance"]);
    let body = app
        .gql(&token, HEALTH, json!({"i": instance, "w": "H1"}))
        .await;
    let h = &body["data"]["instance"]["health"];
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(h["eventsMatched"], 5, "{h}");
    assert_eq!(h["runs"]["succeeded"], 5, "{h}");
    assert_eq!(h["deliveries"]["succeeded"], 5, "{h}");
    assert_eq!(h["deliveries"]["failedAttempts"], 1, "{h}");
    assert_eq!(h["deliveries"]["retried"], 1, "{h}");
    assert_eq!(h["deliveries"]["deadLettersOpen"], 0, "{h}");
    assert_eq!(h["completeness"]["complete"], 4, "{h}");
    assert_eq!(h["completeness"]["incomplete"], 1, "{h}");
    let gap = &h["completeness"]["gaps"][0];
    assert_eq!(gap["field"], "company", "{h}");
    assert!(
        gap["reason"].as_str().unwrap_or("").starts_with("missing"),
        "{h}"
    );
    assert!(h["latency"]["p50Ms"].as_i64().is_some(), "{h}");
    assert_eq!(h["freshness"]["late"], false, "{h}");
    assert_eq!(
        h["status"], "DEGRADED",
        "an incomplete record degrades it: {h}"
    );
    assert!(
        h["summary"].as_str().unwrap_or("").contains("5 delivered"),
        "{h}"
    );

    // The same figures rolled up for the template and the connector.
    let t = app
        .gql(
            &token,
            "query { templateHealth(template: \"form-forwarding\", window: H24) { eventsMatched deliveries { succeeded } } }",
            json!({}),
        )
        .await;
    assert_eq!(t["data"]["templateHealth"]["eventsMatched"], 5, "{t}");
    let c = app
        .gql(
            &token,
            "query { connectorHealth(connector: \"webhook\", window: D7) { deliveries { succeeded } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        c["data"]["connectorHealth"]["deliveries"]["succeeded"], 5,
        "{c}"
    );

    // An unknown window is refused by the schema, naming the value.
    let bad = app
        .gql(&token, HEALTH, json!({"i": instance, "w": "H2"}))
        .await;
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("H2"),
        "{bad}"
    );
}
