//! Rate limits: a write key or a subject over its configured rate gets HTTP 429 with
//! `Retry-After`, nothing it sent is stored, and other keys and subjects go on unaffected.

use crate::helpers::*;
use crate::ingest::form_submitted;
use api::ratelimit::RateLimitConfig;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

async fn limited(config: RateLimitConfig) -> TestApp {
    spawn_with(Setup {
        rate_limit: Some(config),
        ..Default::default()
    })
    .await
}

async fn new_key(app: &TestApp, name: &str) -> String {
    let token = app.token("pat", &["platform_engineer"]);
    let body = app
        .gql(
            &token,
            "mutation($n: String!) { createWriteKey(name: $n, eventTypes: [\"event.form_submitted\"]) { key } }",
            json!({ "n": name }),
        )
        .await;
    body["data"]["createWriteKey"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("createWriteKey: {body}"))
        .to_string()
}

/// POSTs one event; returns the status, `Retry-After` and the body.
async fn send(app: &TestApp, key: &str, id: &str) -> (u16, Option<u64>, Value) {
    let resp = app
        .client
        .post(app.url("/v1/events"))
        .basic_auth(key, Some(""))
        .json(&json!([form_submitted(id, "web")]))
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_write_key_over_its_rate_gets_429_with_retry_after_and_others_go_on() {
    let app = limited(RateLimitConfig {
        write_key_per_second: 1,
        write_key_burst: 3,
        ..RateLimitConfig::default()
    })
    .await;
    let busy = new_key(&app, "busy-site").await;
    let quiet = new_key(&app, "quiet-site").await;
    for i in 0..3 {
        let (status, _, body) = send(&app, &busy, &format!("busy-{i}")).await;
        assert_eq!(status, 202, "within the burst: {body}");
    }
    let (status, retry, body) = send(&app, &busy, "busy-over").await;
    assert_eq!(status, 429, "{body}");
    assert!(
        retry.is_some_and(|s| (1..=2).contains(&s)),
        "Retry-After: {retry:?}"
    );
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("rate_limit.write_key_per_second"),
        "names the rule: {body}"
    );
    let stored = entity::event::Entity::find_by_id("busy-over".to_string())
        .one(&app.state.db)
        .await
        .expect("query");
    assert!(stored.is_none(), "the refused event was not stored");
    let (status, _, body) = send(&app, &quiet, "quiet-1").await;
    assert_eq!(status, 202, "another key is unaffected: {body}");
}

async fn me(app: &TestApp, token: &str) -> (u16, Option<u64>, Value) {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": "{ me { sub } }" }))
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_subject_over_its_graphql_rate_gets_429_and_another_subject_does_not() {
    let app = limited(RateLimitConfig {
        subject_per_second: Some(1),
        subject_burst: 2,
        ..RateLimitConfig::default()
    })
    .await;
    let alice = app.token("alice", &["marketer"]);
    let bob = app.token("bob", &["marketer"]);
    assert_eq!(me(&app, &alice).await.0, 200);
    assert_eq!(me(&app, &alice).await.0, 200);
    let (status, retry, body) = me(&app, &alice).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry.is_some_and(|s| s >= 1), "Retry-After: {retry:?}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        error_message(&body).contains("rate_limit.subject_per_second"),
        "{body}"
    );
    assert!(
        body["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .is_some()
    );
    let (status, _, body) = me(&app, &bob).await;
    assert_eq!(status, 200, "bob has his own bucket: {body}");
    assert_eq!(body["data"]["me"]["sub"], "bob");
}

#[tokio::test]
async fn development_mode_does_not_limit_subjects_by_default() {
    let app = spawn_app().await;
    let alice = app.token("alice", &["marketer"]);
    for i in 0..250 {
        let (status, _, body) = me(&app, &alice).await;
        assert_eq!(status, 200, "request {i}: {body}");
    }
}
