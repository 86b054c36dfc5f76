//! Lineage: where an event went and why, from the decision record the workers keep; and the
//! data-subject question "which destinations received this person's data".

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::receiver::Receiver;
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PAT: (&str, &str) = ("pat", "platform_engineer");

/// A template that routes by country and suppresses what it routed to the `hold` desk.
fn routing_template(key: &str) -> Value {
    json!({
        "key": key, "name": "Route then hold", "category": "lead-management",
        "owner": "platform-integrations", "version": "1.0.0",
        "summary": "Route submissions, hold some.", "description": "Route submissions, hold some.",
        "definition": {
            "parameters": {"type": "object", "properties": {}},
            "trigger": {"type": "event", "contract": "event.form_submitted", "versions": "^1"},
            "slots": {"hook": {"category": "generic"}},
            "reads": [{"contract": "event.form_submitted", "versions": "^1",
                       "fields": ["email", "form_id", "country"]}],
            "steps": [
                {"id": "route", "type": "route", "reads": ["country"], "config": {
                    "assign_to": "desk", "default_owner": "world",
                    "rules": [{"when": "has(event.country) && event.country == 'DE'", "owner": "hold"}]}},
                {"id": "hold", "type": "suppress", "reads": [],
                 "config": {"suppress_when": "event.desk == 'hold'"}},
                {"id": "send", "type": "deliver", "reads": ["email", "form_id"],
                 "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}
            ]
        }
    })
}

async fn workflow(app: &TestApp, key: &str, url: &str) -> i64 {
    let token = app.token(PAT.0, &[PAT.1]);
    let body = app
        .gql(
            &token,
            "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
            json!({"i": routing_template(key)}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let c = app
        .gql(&token, "mutation($s: JSON!, $n: String!) { createConnection(connector: \"webhook\", name: $n, settings: $s) { id } }",
             json!({"s": {"url": url, "secret": SECRET}, "n": key}))
        .await;
    let conn = c["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{c}"));
    let i = app
        .gql(&token, "mutation($t: String!, $c: Int!) { instantiateTemplate(template: $t, name: $t, params: {}, connections: [{slot: \"hook\", connection: $c}]) { id } }",
             json!({"t": key, "c": conn}))
        .await;
    i["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{i}"))
}

fn submission(id: &str, email: &str, country: &str) -> Value {
    json!({"id": id, "type": "event.form_submitted", "occurred_at": "2026-11-27T09:30:00Z",
           "payload": {"email": email, "form_id": "f", "source_category": "web", "country": country,
                       "submitted_at": "2026-11-27T09:30:00Z"}})
}

const LINEAGE: &str = "query($e: String, $d: Int) { lineage(event: $e, delivery: $d) {
    event { id contract contractVersion source }
    hops { instanceName template templateVersion runStatus
           steps { step kind decision detail }
           deliveries { id connector status responseCode sent { field class rule } withheld { field } missing } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_shows_each_decision_and_where_a_person_s_data_went() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let (a, b) = (Receiver::start(vec![]).await, Receiver::start(vec![]).await);
    workflow(&app, "route-hold-a", &a.url("/a")).await;
    workflow(&app, "route-hold-b", &b.url("/b")).await;
    let key = write_key(&app, &["event.form_submitted"]).await;
    let (s, body) = post_events(
        &app,
        &key,
        &json!([
            submission("held-1", "held@example.com", "DE"),
            submission("sent-1", "Ada@Example.com", "FR"),
        ]),
    )
    .await;
    assert_eq!(s, 202, "{body}");
    app.drain(Duration::from_secs(30)).await;
    let carol = app.token("carol", &["compliance"]);

    // Routed, then suppressed: both decisions, in order, and nothing delivered.
    let held = app.gql(&carol, LINEAGE, json!({"e": "held-1"})).await;
    let hops = held["data"]["lineage"]["hops"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(hops.len(), 2, "both workflows ran for it: {held}");
    let steps = &hops[0]["steps"];
    assert_eq!(steps[0]["decision"], "routed", "{held}");
    assert!(
        steps[0]["detail"].as_str().unwrap_or("").contains("hold"),
        "{held}"
    );
    assert_eq!(steps[1]["decision"], "suppressed", "{held}");
    assert_eq!(hops[0]["runStatus"], "skipped");
    assert!(
        hops[0]["deliveries"].as_array().is_some_and(Vec::is_empty),
        "{held}"
    );
    assert_eq!(
        held["data"]["lineage"]["event"]["contract"],
        "event.form_submitted"
    );

    // A delivered one: its fields, the rule that let them go, the destination's answer.
    let sent = app.gql(&carol, LINEAGE, json!({"e": "sent-1"})).await;
    let d = &sent["data"]["lineage"]["hops"][0]["deliveries"][0];
    assert_eq!(d["status"], "delivered", "{sent}");
    assert_eq!(d["responseCode"], 200);
    let email = d["sent"]
        .as_array()
        .and_then(|f| f.iter().find(|x| x["field"] == "email"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(email["class"], "personal", "{sent}");
    assert!(
        email["rule"]
            .as_str()
            .unwrap_or("")
            .contains("flow:personal:generic"),
        "{sent}"
    );
    let by_delivery = app.gql(&carol, LINEAGE, json!({"d": d["id"]})).await;
    assert_eq!(
        by_delivery["data"]["lineage"]["event"]["id"], "sent-1",
        "{by_delivery}"
    );

    // The data-subject question, by email (any case): both destinations, which fields, when.
    let who = app
        .gql(&carol, "query { contactLineage(email: \"ada@example.com\") { hops { template deliveries { connector sent { field } } } json } }", json!({}))
        .await;
    let hops = who["data"]["contactLineage"]["hops"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let templates: Vec<&str> = hops.iter().filter_map(|h| h["template"].as_str()).collect();
    assert_eq!(templates, vec!["route-hold-a", "route-hold-b"], "{who}");
    assert_eq!(
        who["data"]["contactLineage"]["json"]["destinations"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // Someone who may not read the workflows is refused, and the refusal is audited.
    let outsider = app.token("eve", &["marketer"]);
    let refused = app.gql(&outsider, LINEAGE, json!({"e": "sent-1"})).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let nope = app
        .gql(
            &outsider,
            "query { contactLineage(email: \"ada@example.com\") { json } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&nope), Some("FORBIDDEN"), "{nope}");
    let audit = app
        .gql(&carol, "query { auditLog(filter: {action: \"lineage.read\"}) { edges { node { actor outcome target } } } }", json!({}))
        .await;
    let denied = &audit["data"]["auditLog"]["edges"][0]["node"];
    assert_eq!(denied["actor"], "eve", "{audit}");
    assert_eq!(denied["outcome"], "denied");
    let unknown = app
        .gql(
            &carol,
            "query { contactLineage(email: \"nobody@example.com\") { json } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");
}
