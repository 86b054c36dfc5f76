//! Data visibility: personal values in delivery records are shown in full only to those the
//! policy lets read that class for that workflow (its owner's team, compliance), masked with
//! their class for everyone else; reading them in full is audited without the values.

use crate::execution::{event_to, forwarding_to};
use crate::helpers::*;
use crate::receiver::{Receiver, Reply};
use serde_json::{Value, json};
use std::time::Duration;

const EMAIL: &str = "ana.visible@example.com";
const DELIVERIES: &str =
    "query($r: Int!) { deliveries(run: $r) { id status record history error } }";
const DEAD: &str = "query($i: Int!) { deadLetters(instance: $i) { id record } }";

/// A form-forwarding workflow of pat (team `platform`, from configuration) whose one delivery,
/// carrying [`EMAIL`], became a dead letter; returns the app, the instance and the run.
async fn dead_letter_with_an_email() -> (TestApp, i64, i64, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("config dir");
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, "[teams]\npat = \"platform\"\npia = \"platform\"\n").expect("config");
    let app = spawn_with(Setup {
        workers: true,
        config_file: Some(config),
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![Reply::Status(410)]).await;
    let instance = forwarding_to(&app, &rx.url("/hook"), 5).await;
    event_to(&app, "vis-1", EMAIL).await;
    let pat = app.token("pat", &["platform_engineer"]);
    let dead = eventually(Duration::from_secs(20), || async {
        let body = app.gql(&pat, DEAD, json!({ "i": instance })).await;
        body["data"]["deadLetters"][0]["id"].is_i64()
    })
    .await;
    assert!(dead, "the 410 makes a dead letter");
    let runs = app
        .gql(
            &pat,
            "query($i: Int!) { runs(instance: $i) { id } }",
            json!({ "i": instance }),
        )
        .await;
    let run = runs["data"]["runs"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{runs}"));
    (app, instance, run, dir)
}

async fn record_seen_by(app: &TestApp, token: &str, run: i64) -> Value {
    let body = app.gql(token, DELIVERIES, json!({ "r": run })).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["deliveries"][0].clone()
}

#[tokio::test]
async fn a_viewer_sees_personal_fields_masked_and_the_owners_team_and_compliance_in_full() {
    let (app, instance, run, _dir) = dead_letter_with_an_email().await;

    let vic = app.token_in("vic", &["viewer"], "marketing");
    let seen = record_seen_by(&app, &vic, run).await;
    assert_eq!(
        seen["record"],
        json!({ "email": "[masked: personal]", "form_id": "ebook-2026", "company": "Analytical Engines" }),
        "keys stay, the email is masked with its class, non-personal fields are shown: {seen}"
    );
    let dead = app.gql(&vic, DEAD, json!({ "i": instance })).await;
    assert_eq!(
        dead["data"]["deadLetters"][0]["record"]["email"], "[masked: personal]",
        "{dead}"
    );
    assert!(!dead.to_string().contains(EMAIL) && !seen.to_string().contains(EMAIL));

    let max = app.token_in("max", &["marketer"], "marketing");
    let other = app.gql(&max, DELIVERIES, json!({ "r": run })).await;
    assert_eq!(
        error_code(&other),
        Some("FORBIDDEN"),
        "another team's workflow: {other}"
    );

    let pia = app.token("pia", &["platform_engineer"]);
    assert_eq!(
        record_seen_by(&app, &pia, run).await["record"]["email"],
        EMAIL,
        "a teammate"
    );
    let carol = app.token("carol", &["compliance"]);
    assert_eq!(
        record_seen_by(&app, &carol, run).await["record"]["email"],
        EMAIL,
        "compliance"
    );

    let reads = audit_entries(&app, "data.read").await;
    let by = |who: &str| {
        reads
            .iter()
            .filter(|e| e["actor"] == who)
            .collect::<Vec<_>>()
    };
    assert!(
        by("vic").is_empty(),
        "nothing personal was shown to vic: {reads:?}"
    );
    let pia_reads = by("pia");
    assert_eq!(pia_reads.len(), 1, "{reads:?}");
    assert_eq!(pia_reads[0]["target"], format!("run:{run}"));
    assert_eq!(pia_reads[0]["after"]["classes"], json!(["personal"]));
    assert_eq!(pia_reads[0]["after"]["workflow"], instance);
    assert_eq!(
        by("carol").len(),
        1,
        "compliance's read is audited too: {reads:?}"
    );
    assert!(
        !reads.iter().any(|e| e.to_string().contains(EMAIL)),
        "the audit log names the read, never the value"
    );
}

#[tokio::test]
async fn drift_messages_quoting_a_personal_value_are_masked_for_all_but_compliance() {
    let app = spawn_app().await;
    let key = crate::ingest::write_key(&app, &["event.form_submitted"]).await;
    let mut bad = crate::ingest::form_submitted("e-bad", "webinar");
    bad["payload"]["email"] = json!("not-an-email");
    let (status, body) = crate::ingest::post_events(&app, &key, &json!([bad])).await;
    assert_eq!(status, 207, "{body}");
    let drift = "{ contractDrift(name: \"event.form_submitted\") { pointer lastMessage } }";
    let message_at = |body: &Value, pointer: &str| {
        body["data"]["contractDrift"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["pointer"] == pointer))
            .map(|r| r["lastMessage"].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no drift at {pointer}: {body}"))
    };

    let dana = app.token("dana", &["data_engineer"]);
    let seen = app.gql(&dana, drift, json!({})).await;
    assert_eq!(message_at(&seen, "/payload/email"), "[masked: personal]");
    assert!(
        message_at(&seen, "/payload/source_category").contains("webinar"),
        "a value of class none is shown: {seen}"
    );
    let carol = app.token("carol", &["compliance"]);
    let seen = app.gql(&carol, drift, json!({})).await;
    assert!(
        message_at(&seen, "/payload/email").contains("not-an-email"),
        "{seen}"
    );

    let reads = audit_entries(&app, "data.read").await;
    let actors: Vec<&Value> = reads.iter().map(|e| &e["actor"]).collect();
    assert_eq!(
        actors,
        vec!["carol"],
        "only the full read is audited: {reads:?}"
    );
    assert_eq!(reads[0]["target"], "contract:event.form_submitted");
    assert!(!reads[0].to_string().contains("not-an-email"));
}
