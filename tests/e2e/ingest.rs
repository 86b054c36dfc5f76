//! Event ingestion over HTTP: write keys, `/v1/events` (JSON and NDJSON), per-event outcomes,
//! drift counters, and the bad-input matrix.

use crate::helpers::*;
use serde_json::{Value, json};

/// Creates a write key for `types` as a platform engineer; returns the key.
pub async fn write_key(app: &TestApp, types: &[&str]) -> String {
    let token = app.token("pat", &["platform_engineer"]);
    let body = app
        .gql(
            &token,
            "mutation($t: [String!]!) { createWriteKey(name: \"website\", eventTypes: $t) { key writeKey { keyHint eventTypes } } }",
            json!({ "t": types }),
        )
        .await;
    body["data"]["createWriteKey"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("createWriteKey failed: {body}"))
        .to_string()
}

pub fn form_submitted(id: &str, category: &str) -> Value {
    json!({
        "id": id,
        "type": "event.form_submitted",
        "occurred_at": "2026-11-27T09:30:00Z",
        "source": "website",
        "payload": {
            "email": format!("{id}@example.com"),
            "form_id": "ebook-2026",
            "source_category": category,
            "submitted_at": "2026-11-27T09:30:00Z",
            "country": "FR",
            "consent_marketing": true
        }
    })
}

pub async fn post_events(app: &TestApp, key: &str, body: &Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/v1/events"))
        .basic_auth(key, Some(""))
        .json(body)
        .send()
        .await
        .expect("post events");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn stored_events(app: &TestApp) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    entity::event::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count events")
}

#[tokio::test]
async fn write_keys_are_created_by_platform_roles_shown_once_and_audited() {
    let app = spawn_app().await;
    let key = write_key(&app, &["event.form_submitted"]).await;
    assert!(key.starts_with("sy_wk_") && key.len() > 30, "{key}");
    let marketer = app.token("alice", &["marketer"]);
    let body = app
        .gql(
            &marketer,
            "mutation { createWriteKey(name: \"x\", eventTypes: [\"lead\"]) { key } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
    let compliance = app.token("carol", &["compliance"]);
    let log = app
        .gql(&compliance, "{ auditLog(filter: {action: \"write_key.create\"}) { edges { node { outcome after } } } }", json!({}))
        .await;
    let edges = log["data"]["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), 2, "one allowed, one denied: {log}");
    assert!(
        !log.to_string().contains(&key),
        "the key itself never reaches the audit log"
    );
}

#[tokio::test]
async fn valid_events_are_accepted_and_resending_them_is_a_no_op() {
    let app = spawn_app().await;
    let key = write_key(&app, &["event.form_submitted"]).await;
    let batch = json!([
        form_submitted("e-1", "web"),
        form_submitted("e-2", "partner")
    ]);
    let (status, body) = post_events(&app, &key, &batch).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(stored_events(&app).await, 2);
    let (status, body) = post_events(&app, &key, &batch).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["duplicate"], 2, "{body}");
    assert_eq!(stored_events(&app).await, 2, "nothing new is written");
}

#[tokio::test]
async fn violations_are_reported_per_event_with_pointer_and_rule() {
    let app = spawn_app().await;
    let key = write_key(&app, &["event.form_submitted"]).await;
    let mut bad = form_submitted("e-bad", "webinar");
    bad["payload"]["email"] = json!("not-an-email");
    let (status, body) =
        post_events(&app, &key, &json!([form_submitted("e-ok", "web"), bad])).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["results"][0]["status"], "accepted");
    let rejected = &body["results"][1];
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["code"], "CONTRACT_VIOLATION");
    let violations = rejected["violations"].as_array().expect("violations");
    let has = |pointer: &str, rule: &str| {
        violations
            .iter()
            .any(|v| v["pointer"] == pointer && v["rule"] == rule)
    };
    assert!(has("/payload/source_category", "enum"), "{rejected}");
    assert!(has("/payload/email", "format"), "{rejected}");
    assert_eq!(
        stored_events(&app).await,
        1,
        "the rejected event is not stored"
    );
    let token = app.token("dana", &["data_engineer"]);
    let drift = app
        .gql(
            &token,
            "{ contractDrift(name: \"event.form_submitted\") { rule pointer count } }",
            json!({}),
        )
        .await;
    let rows = drift["data"]["contractDrift"]
        .as_array()
        .expect("drift")
        .clone();
    assert!(
        rows.iter().any(|r| r["rule"] == "enum" && r["count"] == 1),
        "{drift}"
    );
}

#[tokio::test]
async fn flag_mode_contracts_accept_violating_events_and_count_them() {
    let app = spawn_app().await;
    let key = write_key(&app, &["event.content_viewed"]).await;
    let event = json!({
        "id": "v-1", "type": "event.content_viewed", "occurred_at": "2026-11-27T09:30:00Z",
        "payload": { "view_id": "view-0001", "anonymous_id": "anon-1", "content_id": "c1",
                     "content_type": "podcast", "viewed_at": "2026-11-27T09:30:00Z" }
    });
    let (status, body) = post_events(&app, &key, &json!([event])).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["results"][0]["status"], "accepted");
    assert_eq!(
        body["results"][0]["violations"][0]["rule"], "enum",
        "{body}"
    );
    assert_eq!(stored_events(&app).await, 1);
}

#[tokio::test]
async fn keys_only_send_their_event_types_and_unknown_contracts_are_named() {
    let app = spawn_app().await;
    let key = write_key(&app, &["event.form_submitted", "lead"]).await;
    let mut other = form_submitted("d-1", "web");
    other["type"] = json!("event.demo_requested");
    let mut unknown = form_submitted("u-1", "web");
    unknown["type"] = json!("lead");
    unknown["version"] = json!("9.9.9");
    let (status, body) = post_events(&app, &key, &json!([other, unknown])).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["results"][0]["code"], "FORBIDDEN", "{body}");
    assert_eq!(body["results"][1]["code"], "NOT_FOUND", "{body}");
    assert!(
        body["results"][1]["violations"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("9.9.9")
    );
}

#[tokio::test]
async fn ndjson_bodies_are_accepted() {
    let app = spawn_app().await;
    let key = write_key(&app, &["event.form_submitted"]).await;
    let body = format!(
        "{}\n{}\n",
        form_submitted("n-1", "web"),
        form_submitted("n-2", "event")
    );
    let resp = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(stored_events(&app).await, 2);
}

#[tokio::test]
async fn envelope_errors_name_the_field() {
    let app = spawn_app().await;
    let key = write_key(&app, &["event.form_submitted"]).await;
    let mut deep = json!("leaf");
    for _ in 0..40 {
        deep = json!({ "x": deep });
    }
    let mut too_deep = form_submitted("deep", "web");
    too_deep["payload"]["nested"] = deep;
    let batch = json!([{ "payload": {} }, { "id": "x", "type": "event.form_submitted", "occurred_at": "yesterday", "payload": {}, "extra": 1 }, too_deep]);
    let (status, body) = post_events(&app, &key, &batch).await;
    assert_eq!(status, 207, "{body}");
    let rules = |i: usize| -> Vec<String> {
        body["results"][i]["violations"]
            .as_array()
            .map_or(vec![], |v| {
                v.iter()
                    .map(|x| {
                        format!(
                            "{} {}",
                            x["pointer"].as_str().unwrap_or(""),
                            x["rule"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
    };
    assert!(rules(0).contains(&"/id required".to_string()), "{body}");
    assert!(rules(0).contains(&"/type required".to_string()), "{body}");
    assert!(
        rules(1).contains(&"/occurred_at format".to_string()),
        "{body}"
    );
    assert!(
        rules(1).contains(&"/extra additionalProperties".to_string()),
        "{body}"
    );
    assert!(
        rules(2).contains(&"/payload maxDepth".to_string()),
        "{body}"
    );
    assert_eq!(stored_events(&app).await, 0, "nothing half-written");
}

#[tokio::test]
async fn bad_bodies_are_refused_whole() {
    let app = spawn_app().await;
    let key = write_key(&app, &["event.form_submitted"]).await;
    let send = |body: Vec<u8>, ct: &'static str| {
        let req = app
            .client
            .post(app.url("/v1/events"))
            .basic_auth(&key, Some(""))
            .header("content-type", ct)
            .body(body);
        async move { req.send().await.expect("post").status().as_u16() }
    };
    assert_eq!(send(b"{not json".to_vec(), "application/json").await, 400);
    assert_eq!(send(b"[]".to_vec(), "application/json").await, 400);
    assert_eq!(send(b"[1]".to_vec(), "text/plain").await, 415);
    let many: Vec<Value> = (0..1_001)
        .map(|i| json!({ "id": format!("m{i}") }))
        .collect();
    assert_eq!(
        send(serde_json::to_vec(&many).expect("json"), "application/json").await,
        413
    );
    let huge = format!(
        "[{{\"id\":\"h\",\"payload\":{{\"x\":\"{}\"}}}}]",
        "a".repeat(1_100_000)
    );
    assert_eq!(send(huge.into_bytes(), "application/json").await, 413);
    assert_eq!(stored_events(&app).await, 0);
}

#[tokio::test]
async fn events_need_a_valid_write_key() {
    let app = spawn_app().await;
    let batch = json!([form_submitted("k-1", "web")]);
    let resp = app
        .client
        .post(app.url("/v1/events"))
        .json(&batch)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 401);
    let (status, body) = post_events(&app, "sy_wk_not-a-real-key", &batch).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_the_same_ids_store_each_event_once() {
    let app = spawn_app().await;
    let key = write_key(&app, &["event.form_submitted"]).await;
    let batch = Value::Array(
        (0..50)
            .map(|i| form_submitted(&format!("c-{i}"), "web"))
            .collect(),
    );
    let results = futures::future::join_all((0..4).map(|_| post_events(&app, &key, &batch))).await;
    let mut accepted = 0;
    for (status, body) in &results {
        assert_eq!(*status, 202, "{body}");
        accepted += body["accepted"].as_u64().unwrap_or(0);
    }
    assert_eq!(
        accepted, 50,
        "each id is accepted exactly once across the racing requests"
    );
    assert_eq!(stored_events(&app).await, 50);
}
