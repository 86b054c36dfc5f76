//! Alerts that name the business consequence: rules fire and resolve on histories evaluated
//! with an injected clock (not by waiting), alerts deduplicate and escalate, people acknowledge
//! and snooze them (audited), and a team's `alerting` workflow posts them to its chat with the
//! normal delivery machinery.

use crate::helpers::*;
use crate::receiver::Receiver;
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TEAM: &str = "growth";

async fn gql_ok(app: &TestApp, token: &str, q: &str, v: Value) -> Value {
    let body = app.gql(token, q, v).await;
    assert!(body["errors"].is_null(), "{q}: {body}");
    body["data"].clone()
}

/// A form-forwarding workflow owned by `mia` of team growth, posting to `url`.
async fn watched_workflow(app: &TestApp, url: &str) -> i64 {
    watched_workflow_of(app, url, "mia", TEAM).await
}

/// A form-forwarding workflow owned by platform engineer `sub` of `team`, posting to `url`.
pub async fn watched_workflow_of(app: &TestApp, url: &str, sub: &str, team: &str) -> i64 {
    let pat = app.token("pat", &["platform_engineer"]);
    let tpl = json!({
        "key": "forms-out", "name": "Form forwarding", "category": "lead-management",
        "owner": "platform-integrations", "version": "1.0.0",
        "summary": "Forward form submissions.", "description": "Forward form submissions.",
        "definition": {
            "parameters": {"type": "object", "properties": {}},
            "trigger": {"type": "event", "contract": "event.form_submitted", "versions": "^1"},
            "slots": {"hook": {"category": "generic"}},
            "reads": [{"contract": "event.form_submitted", "versions": "^1", "fields": ["email", "form_id"]}],
            "steps": [{"id": "send", "type": "deliver", "reads": ["email", "form_id"],
                       "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]
        }
    });
    gql_ok(
        app,
        &pat,
        "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
        json!({"i": tpl}),
    )
    .await;
    let mia = app.token_in(sub, &["platform_engineer"], team);
    let c = gql_ok(app, &mia, "mutation($s: JSON!) { createConnection(connector: \"webhook\", name: \"out\", settings: $s) { id } }",
        json!({"s": {"url": url, "secret": SECRET}})).await;
    let i = gql_ok(app, &mia, "mutation($c: Int!) { instantiateTemplate(template: \"forms-out\", name: \"Website leads\", params: {}, connections: [{slot: \"hook\", connection: $c}]) { id } }",
        json!({"c": c["createConnection"]["id"]})).await;
    i["instantiateTemplate"]["id"].as_i64().unwrap_or_default()
}

pub async fn evaluate_at(app: &TestApp, hours_ahead: i64) -> worker::alerts::Report {
    let engine = app.state.engine.as_ref().expect("workers");
    let now = chrono::Utc::now() + chrono::Duration::hours(hours_ahead);
    worker::alerts::evaluate(engine, now)
        .await
        .expect("evaluate")
}

async fn alerts(app: &TestApp, status: Option<&str>) -> Vec<Value> {
    let carol = app.token("carol", &["compliance"]);
    let data = gql_ok(app, &carol, "query($s: String) { alerts(filter: {status: $s}) { id rule severity status level message } }",
        json!({"s": status})).await;
    data["alerts"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_workflow_raises_a_late_alert_that_escalates_posts_to_chat_and_resolves() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let (hook, chat) = (Receiver::start(vec![]).await, Receiver::start(vec![]).await);
    let workflow = watched_workflow(&app, &hook.url("/hook")).await;
    crate::execution::event_to(&app, "al-1", "a@example.com").await;
    app.drain(Duration::from_secs(20)).await;

    // Now: fresh, nothing fires.
    let r = evaluate_at(&app, 0).await;
    assert!(r.checked >= 1 && r.opened == 0, "{r:?}");
    assert!(alerts(&app, None).await.is_empty());

    // Three hours without a submission: late against the contract's freshness SLA.
    let r = evaluate_at(&app, 3).await;
    assert_eq!(r.opened, 1, "{r:?}");
    let open = alerts(&app, None).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let late = &open[0];
    assert_eq!(late["rule"], "freshness");
    let msg = late["message"].as_str().unwrap_or("");
    assert!(
        msg.starts_with("Form forwarding 'Website leads' is ")
            && msg.contains("minutes late: no event.form_submitted"),
        "{msg}"
    );
    // The same condition again: the same alert, not a second one; later it escalates.
    assert_eq!(evaluate_at(&app, 3).await.opened, 0);
    let r = evaluate_at(&app, 5).await;
    assert_eq!(r.escalated, 1, "{r:?}");
    assert_eq!(alerts(&app, None).await[0]["level"], 1);

    // The team subscribes to its alerts: the alerting template posts them to chat.
    let mia = app.token_in("mia", &["platform_engineer"], TEAM);
    let slack = gql_ok(&app, &mia, "mutation($s: JSON!) { createConnection(connector: \"slack\", name: \"#alerts\", settings: $s) { id } }",
        json!({"s": {"webhook_url": chat.url("/services/T0/B0/x")}})).await;
    let sub = gql_ok(&app, &mia, "mutation($c: Int!) { instantiateTemplate(template: \"alerting\", name: \"growth alerts\", params: {}, connections: [{slot: \"chat\", connection: $c}]) { id } }",
        json!({"c": slack["createConnection"]["id"]})).await;
    let sub = sub["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_default();
    gql_ok(
        &app,
        &mia,
        "mutation($i: Int!) { runInstanceNow(id: $i) }",
        json!({"i": sub}),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(20), || async { chat.count() >= 1 }).await,
        "the alert was posted"
    );
    let text = chat.seen()[0].body["text"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        text.starts_with('[') && text.contains("] Form forwarding 'Website leads' is"),
        "{text}"
    );
    assert!(
        text.contains("escalation 1"),
        "the post says it is still unresolved: {text}"
    );
    let runs = gql_ok(
        &app,
        &mia,
        "query($i: Int!) { runs(instance: $i) { status detail } }",
        json!({"i": sub}),
    )
    .await;
    let tick = runs["runs"]
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|x| x["detail"].as_str().unwrap_or("").starts_with("checked"))
        })
        .cloned();
    let tick = tick.unwrap_or_else(|| panic!("the tick says what it checked: {runs}"));
    assert_eq!(tick["status"], "succeeded");
    assert!(
        tick["detail"]
            .as_str()
            .unwrap_or("")
            .contains("checked 1 workflows of team growth"),
        "{tick}"
    );

    // Acknowledged by the owner's team (audited); someone else's team may not.
    let id = alerts(&app, None).await[0]["id"]
        .as_i64()
        .unwrap_or_default();
    let other = app.token_in("otto", &["marketer"], "elsewhere");
    let refused = app
        .gql(
            &other,
            "mutation($i: Int!) { acknowledgeAlert(id: $i) { status } }",
            json!({"i": id}),
        )
        .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let acked = gql_ok(
        &app,
        &mia,
        "mutation($i: Int!) { acknowledgeAlert(id: $i) { status acknowledgedBy } }",
        json!({"i": id}),
    )
    .await;
    assert_eq!(acked["acknowledgeAlert"]["status"], "acknowledged");
    let bad = app
        .gql(
            &mia,
            "mutation($i: Int!) { snoozeAlert(id: $i, minutes: 0) { status } }",
            json!({"i": id}),
        )
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"), "{bad}");

    // A new submission: the condition clears and the alert resolves by itself.
    crate::execution::event_to(&app, "al-2", "b@example.com").await;
    app.drain(Duration::from_secs(20)).await;
    let r = evaluate_at(&app, 0).await;
    assert_eq!(r.resolved, 1, "{r:?}");
    assert!(alerts(&app, None).await.is_empty());
    assert_eq!(alerts(&app, Some("resolved")).await.len(), 1);
    let _ = workflow;
}
