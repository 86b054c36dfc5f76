//! Workflows that start workflows: the launch scenario built from built-in templates. An audience
//! sync publishes a segment's audience and emits `event.audience_published`; the launch segment
//! check validates it and emits `event.segment_validated`; the launch sales alert routes a chat
//! alert to the right sales team and records the launch at an analytics endpoint. Every hop is
//! a real run on real local destinations; lineage follows the chain both ways. Loops are
//! refused up front (publish, instantiate) with the cycle named, and at run time by depth.

use crate::execution::{connection_id, identify};
use crate::helpers::*;
use crate::ingest::write_key;
use crate::receiver::Receiver;
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MIA: (&str, &str) = ("mia", "marketer");
const PAT: (&str, &str) = ("pat", "platform_engineer");
const WATCHER: (&str, &str) = ("carol", "compliance");
const WAIT: Duration = Duration::from_secs(30);
const INSTANTIATE: &str = "mutation($t: String!, $n: String!, $p: JSON!, $c: [SlotBinding!]!) {
    instantiateTemplate(template: $t, name: $n, params: $p, connections: $c) { id status } }";
const RUNS: &str = "query($i: Int!) { runs(instance: $i) { id eventId status step detail } }";

struct Launch {
    ads: Receiver,
    chat: Receiver,
    analytics: Receiver,
    sync: i64,
    check: i64,
    alert: i64,
}

async fn instantiate(
    app: &TestApp,
    template: &str,
    name: &str,
    params: Value,
    slots: Value,
) -> Value {
    app.gql(
        &app.token(MIA.0, &[MIA.1]),
        INSTANTIATE,
        json!({ "t": template, "n": name, "p": params, "c": slots }),
    )
    .await
}

fn id_of(body: &Value) -> i64 {
    body["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("instantiate: {body}"))
}

/// Sets up the launch: `people` contacts with ads consent in segment `emea-launch`, and the three
/// workflows (the audience sync approved by a second person).
async fn launch(app: &TestApp, people: usize) -> Launch {
    let (ads, chat, analytics) = (
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
    );
    let key = write_key(app, &["contact"]).await;
    let list: Vec<(String, String, Vec<&str>, bool)> = (0..people)
        .map(|i| {
            (
                format!("u{i}"),
                format!("p{i}@example.com"),
                vec!["emea-launch"],
                true,
            )
        })
        .collect();
    identify(app, &key, &list).await;
    let ads_conn = connection_id(
        app,
        MIA,
        "ads-audience",
        json!({ "url": ads.url("/audiences"), "secret": SECRET }),
    )
    .await;
    let chat_conn = connection_id(
        app,
        MIA,
        "slack",
        json!({ "webhook_url": chat.url("/services/T0/B0/x") }),
    )
    .await;
    let hook_conn = connection_id(
        app,
        MIA,
        "webhook",
        json!({ "url": analytics.url("/launches"), "secret": SECRET }),
    )
    .await;

    let check = instantiate(
        app,
        "segment-validation",
        "Launch check",
        json!({ "min_audience_size": 100 }),
        json!([]),
    )
    .await;
    assert_eq!(
        check["data"]["instantiateTemplate"]["status"], "active",
        "{check}"
    );
    let alert = instantiate(
        app,
        "launch-sales-alert",
        "Launch alerts",
        json!({}),
        json!([{ "slot": "chat", "connection": chat_conn }, { "slot": "analytics", "connection": hook_conn }]),
    )
    .await;
    assert_eq!(
        alert["data"]["instantiateTemplate"]["status"], "active",
        "{alert}"
    );
    let sync = instantiate(
        app,
        "audience-sync",
        "EMEA launch audience",
        json!({ "segment_ids": ["emea-launch"], "match_keys": ["email"], "min_segment_size": 100 }),
        json!([{ "slot": "ads", "connection": ads_conn }]),
    )
    .await;
    let sync = id_of(&sync);
    let approved = app
        .gql(
            &app.token("olga", &["approver"]),
            "mutation($i: Int!) { approveInstance(id: $i) { status } }",
            json!({ "i": sync }),
        )
        .await;
    assert_eq!(
        approved["data"]["approveInstance"]["status"], "active",
        "{approved}"
    );
    Launch {
        ads,
        chat,
        analytics,
        sync,
        check: id_of(&check),
        alert: id_of(&alert),
    }
}

async fn run_now(app: &TestApp, id: i64) {
    let body = app
        .gql(
            &app.token(MIA.0, &[MIA.1]),
            "mutation($i: Int!) { runInstanceNow(id: $i) }",
            json!({ "i": id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

async fn runs(app: &TestApp, instance: i64) -> Vec<Value> {
    let body = app
        .gql(
            &app.token(WATCHER.0, &[WATCHER.1]),
            RUNS,
            json!({ "i": instance }),
        )
        .await;
    body["data"]["runs"].as_array().cloned().unwrap_or_default()
}

const LINEAGE: &str = "query($d: Int, $e: String) { lineage(delivery: $d, event: $e) {
    event { id contract source emittedByRun chain }
    hops { instance template templateVersion run runStatus emitted
           event { id contract source emittedByRun chain }
           steps { step kind decision detail }
           deliveries { id slot status } } } }";

#[tokio::test]
async fn launch_scenario_runs_through_three_chained_workflows() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let l = launch(&app, 120).await;
    run_now(&app, l.sync).await;
    app.drain(WAIT).await;

    // 1. Audience published: the ad platform got the hashed audience.
    assert_eq!(l.ads.count(), 1, "one audience update");
    assert_eq!(
        l.ads.seen()[0].body["data"]["add"].as_array().map(Vec::len),
        Some(120)
    );
    // 2. Segment validated, 3. sales alerted: one chat alert, routed to the EMEA team.
    assert_eq!(l.chat.count(), 1, "one sales alert");
    let text = l.chat.seen()[0].body["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(text.contains("switchyard - emea-launch"), "{text}");
    assert!(text.contains("120 people"), "{text}");
    assert!(
        text.contains("sales-emea"),
        "routed to the EMEA team: {text}"
    );
    // 4. Analytics updated: one signed launch row.
    assert_eq!(l.analytics.count(), 1, "one launch row");
    let row = &l.analytics.seen()[0];
    assert!(
        row.headers.contains_key("webhook-signature"),
        "signed like every webhook"
    );
    let data = &row.body["data"];
    assert_eq!(data["segment_id"], "emea-launch", "{}", row.body);
    assert_eq!(data["audience_size"], 120, "{}", row.body);
    assert_eq!(data["team"], "sales-emea", "{}", row.body);

    // Each workflow ran once, started by the one before it.
    let check_runs = runs(&app, l.check).await;
    assert_eq!(check_runs.len(), 1, "{check_runs:?}");
    assert_eq!(check_runs[0]["status"], "succeeded", "{check_runs:?}");
    let alert_runs = runs(&app, l.alert).await;
    assert_eq!(alert_runs.len(), 1, "{alert_runs:?}");

    // Lineage of the analytics row walks back up the chain to the audience sync.
    let token = app.token(WATCHER.0, &[WATCHER.1]);
    let run = alert_runs[0]["id"].as_i64().expect("run id");
    let dl = app
        .gql(
            &token,
            "query($r: Int!) { deliveries(run: $r) { id slot } }",
            json!({ "r": run }),
        )
        .await;
    let analytics_delivery = dl["data"]["deliveries"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["slot"] == "analytics"))
        .and_then(|x| x["id"].as_i64())
        .unwrap_or_else(|| panic!("analytics delivery: {dl}"));
    let body = app
        .gql(&token, LINEAGE, json!({ "d": analytics_delivery }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let hops = body["data"]["lineage"]["hops"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let templates: Vec<&str> = hops.iter().filter_map(|h| h["template"].as_str()).collect();
    assert_eq!(
        templates,
        ["audience-sync", "segment-validation", "launch-sales-alert"],
        "{body}"
    );
    assert_eq!(hops[0]["templateVersion"], "1.1.0");
    let announce = hops[0]["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "announce"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(announce["decision"], "emitted", "{body}");
    let published = hops[1]["event"].clone();
    assert_eq!(published["contract"], "event.audience_published", "{body}");
    assert_eq!(published["emittedByRun"], hops[0]["run"], "{body}");
    assert_eq!(
        published["source"],
        format!("workflow:{}", l.sync),
        "{body}"
    );
    assert_eq!(hops[0]["emitted"], json!([published["id"]]), "{body}");
    let validated = hops[2]["event"].clone();
    assert_eq!(validated["contract"], "event.segment_validated", "{body}");
    assert_eq!(validated["chain"], json!([l.sync, l.check]), "{body}");
    assert_eq!(
        hops[2]["deliveries"].as_array().map(Vec::len),
        Some(1),
        "only the delivery asked about"
    );

    // Downstream from the published event: the check and the alert it led to.
    let id = published["id"].as_str().expect("event id");
    let body = app.gql(&token, LINEAGE, json!({ "e": id })).await;
    let down: Vec<&str> = body["data"]["lineage"]["hops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["template"].as_str())
        .collect();
    assert_eq!(down, ["segment-validation", "launch-sales-alert"], "{body}");

    // Nothing changed: the next sync publishes nothing, so nothing downstream runs again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    run_now(&app, l.sync).await;
    app.drain(WAIT).await;
    assert_eq!(
        (l.ads.count(), l.chat.count(), l.analytics.count()),
        (1, 1, 1)
    );
    assert_eq!(runs(&app, l.check).await.len(), 1);
}

#[tokio::test]
async fn a_chain_longer_than_the_limit_fails_with_the_chain_named() {
    let execution = api::config::ExecutionConfig {
        max_chain_depth: 1,
        ..test_execution()
    };
    let app = spawn_with(Setup {
        workers: true,
        execution: Some(execution),
        ..Default::default()
    })
    .await;
    let l = launch(&app, 100).await;
    run_now(&app, l.sync).await;
    app.drain(WAIT).await;
    assert_eq!(l.ads.count(), 1, "the audience sync itself ran");
    let check = runs(&app, l.check).await;
    assert_eq!(check.len(), 1, "{check:?}");
    assert_eq!(check[0]["status"], "failed", "{check:?}");
    let detail = check[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("chain too deep"), "{detail}");
    assert!(
        detail.contains(&format!("instance {} → instance {}", l.sync, l.check)),
        "{detail}"
    );
    assert!(detail.contains("execution.max_chain_depth = 1"), "{detail}");
    assert_eq!(
        runs(&app, l.alert).await.len(),
        0,
        "nothing started past the limit"
    );
    assert_eq!((l.chat.count(), l.analytics.count()), (0, 0));
}

#[tokio::test]
async fn a_small_audience_stops_the_chain_at_the_check() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let l = launch(&app, 100).await;
    // A second, stricter check: it skips the audience, so nothing downstream runs for it.
    let small = instantiate(
        &app,
        "segment-validation",
        "Strict launch check",
        json!({ "min_audience_size": 500 }),
        json!([]),
    )
    .await;
    let strict = id_of(&small);
    run_now(&app, l.sync).await;
    app.drain(WAIT).await;
    let strict_runs = runs(&app, strict).await;
    assert_eq!(strict_runs.len(), 1, "{strict_runs:?}");
    assert_eq!(strict_runs[0]["status"], "skipped", "{strict_runs:?}");
    assert_eq!(strict_runs[0]["step"], "large_enough");
    // The lenient check passed it on: one alert, not two.
    assert_eq!(l.chat.count(), 1);
}

/// How many `relaunch` workflows exist.
async fn relaunch_instances(app: &TestApp) -> usize {
    let body = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            "{ instances { id template status } }",
            json!({}),
        )
        .await;
    body["data"]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["template"] == "relaunch")
        .count()
}

/// Publishes a template that starts on `event.segment_validated` and emits `contract` with the
/// given payload fields.
async fn publish_emitter(
    app: &TestApp,
    key: &str,
    trigger: &str,
    contract: &str,
    fields: Value,
) -> Value {
    let input = json!({
        "key": key, "name": "Relaunch", "category": "audience", "owner": "marketing-ops",
        "version": "1.0.0", "summary": "Publishes an audience again when a launch is validated.",
        "description": "Emits an event for every validated launch segment.",
        "definition": {
            "parameters": {"type": "object", "properties": {}, "additionalProperties": false},
            "trigger": {"type": "event", "contract": trigger, "versions": "^1"},
            "reads": [{"contract": trigger, "versions": "^1",
                       "fields": ["segment_id", "audience_size", "published_at"]}],
            "steps": [{"id": "again", "type": "emit", "description": "Publish again",
                       "config": {"contract": contract, "fields": fields}}]
        }
    });
    app.gql(
        &app.token(PAT.0, &[PAT.1]),
        "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
        json!({ "i": input }),
    )
    .await
}

#[tokio::test]
async fn loops_are_refused_before_they_run_with_the_cycle_named() {
    let app = spawn_app().await;
    let fields = json!({"segment_id": "segment_id", "audience_size": "audience_size", "published_at": "published_at"});
    // A workflow may not emit the event that starts it.
    let body = publish_emitter(
        &app,
        "echo",
        "event.segment_validated",
        "event.segment_validated",
        fields.clone(),
    )
    .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "input.definition.steps[0].config.contract",
        "{body}"
    );
    assert!(error_message(&body).contains("loop"), "{body}");
    // Nor emit fields its contract does not have.
    let body = publish_emitter(
        &app,
        "sloppy",
        "event.segment_validated",
        "event.audience_published",
        json!({"bogus": "segment_id"}),
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "input.definition.steps[0].config.fields.bogus",
        "{body}"
    );
    // A cycle through two workflows: validated → relaunch → published → check → validated.
    let body = publish_emitter(
        &app,
        "relaunch",
        "event.segment_validated",
        "event.audience_published",
        fields,
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let check = instantiate(
        &app,
        "segment-validation",
        "Launch check",
        json!({}),
        json!([]),
    )
    .await;
    let check = id_of(&check);
    let body = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            INSTANTIATE,
            json!({ "t": "relaunch", "n": "Relaunch EMEA", "p": {}, "c": [] }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let msg = error_message(&body);
    assert!(msg.contains("loop refused"), "{msg}");
    assert!(
        msg.contains("'Relaunch EMEA'") && msg.contains("'Launch check' (segment-validation)"),
        "{msg}"
    );
    assert!(
        msg.contains("event.audience_published") && msg.contains("event.segment_validated"),
        "{msg}"
    );
    assert_eq!(relaunch_instances(&app).await, 0, "nothing half-written");
    // Retire the check and the relaunch may be created; then a new check would close the loop.
    let body = app
        .gql(
            &app.token(MIA.0, &[MIA.1]),
            "mutation($i: Int!) { retireInstance(id: $i) { status } }",
            json!({ "i": check }),
        )
        .await;
    assert_eq!(
        body["data"]["retireInstance"]["status"], "retired",
        "{body}"
    );
    let body = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            INSTANTIATE,
            json!({ "t": "relaunch", "n": "Relaunch EMEA", "p": {}, "c": [] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(relaunch_instances(&app).await, 1);
    let body = instantiate(
        &app,
        "segment-validation",
        "Second check",
        json!({}),
        json!([]),
    )
    .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        error_message(&body).contains("'Relaunch EMEA' (relaunch)"),
        "{body}"
    );
}

#[tokio::test]
async fn emitted_events_are_checked_against_their_contract() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    // Two emitters started by `event.audience_published`, sent here straight from a write key:
    // one breaks a `block` contract (a negative size), one a `flag` contract (an email that is
    // not one; `contact` 1.2.0 says flag).
    let emitter = |key: &str, contract: &str, fields: Value, computed: Value| {
        json!({
            "key": key, "name": key, "category": "audience", "owner": "marketing-ops",
            "version": "1.0.0", "summary": "Emits an event for every published audience.",
            "description": "A test emitter.",
            "definition": {
                "parameters": {"type": "object", "properties": {}, "additionalProperties": false},
                "trigger": {"type": "event", "contract": "event.audience_published", "versions": "^1"},
                "reads": [{"contract": "event.audience_published", "versions": "^1",
                           "fields": ["segment_id", "audience_size", "published_at"]}],
                "steps": [{"id": "out", "type": "emit", "description": "Emit",
                           "config": {"contract": contract, "fields": fields, "computed": computed}}]
            }
        })
    };
    let pat = app.token(PAT.0, &[PAT.1]);
    for input in [
        emitter(
            "shrink",
            "event.segment_validated",
            json!({"segment_id": "segment_id", "published_at": "published_at"}),
            json!({"audience_size": "int(event.audience_size) - 1000"}),
        ),
        emitter(
            "to-contact",
            "contact",
            json!({"email": "segment_id", "updated_at": "published_at"}),
            json!({"lifecycle_stage": "'lead'", "email_opt_in": "false"}),
        ),
    ] {
        let body = app
            .gql(
                &pat,
                "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
                json!({ "i": input }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let mut ids = Vec::new();
    for t in ["shrink", "to-contact"] {
        let body = app
            .gql(
                &pat,
                INSTANTIATE,
                json!({ "t": t, "n": t, "p": {}, "c": [] }),
            )
            .await;
        ids.push(id_of(&body));
    }
    let key = write_key(&app, &["event.audience_published"]).await;
    let (status, body) = crate::ingest::post_events(
        &app,
        &key,
        &json!([{ "id": "pub-1", "type": "event.audience_published", "occurred_at": "2026-11-30T10:00:00Z",
                  "payload": { "segment_id": "emea-launch", "audience_size": 120, "published_at": "2026-11-30T10:00:00Z" } }]),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    app.drain(WAIT).await;
    let shrink = runs(&app, ids[0]).await;
    assert_eq!(shrink[0]["status"], "failed", "{shrink:?}");
    let detail = shrink[0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("breaks contract event.segment_validated 1.0.0"),
        "{detail}"
    );
    assert!(detail.contains("/payload/audience_size"), "{detail}");
    let flagged = runs(&app, ids[1]).await;
    assert_eq!(flagged[0]["status"], "succeeded", "{flagged:?}");
    let dana = app.token("dana", &["data_engineer"]);
    let drift = app
        .gql(
            &dana,
            "{ contractDrift(name: \"contact\") { version rule count } }",
            json!({}),
        )
        .await;
    let counted = json!({ "version": "1.2.0", "rule": "format", "count": 1 });
    assert!(
        drift["data"]["contractDrift"]
            .as_array()
            .is_some_and(|rows| rows.contains(&counted)),
        "the emitted event's violation counts as drift: {drift}"
    );
    let body = app
        .gql(
            &app.token(WATCHER.0, &[WATCHER.1]),
            LINEAGE,
            json!({ "e": "pub-1" }),
        )
        .await;
    let hops = body["data"]["lineage"]["hops"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let emitted: Vec<&Value> = hops
        .iter()
        .flat_map(|h| h["emitted"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(
        emitted.len(),
        1,
        "only the flagged event was stored: {body}"
    );
}
