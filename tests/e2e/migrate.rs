//! Moving a live workflow to a newer template version (`migrateInstance`): a dry run shows
//! steps, fields, destinations and flow decisions gained and lost and changes nothing; applying
//! it keeps the workflow's id and runs, is audited with before and after, and a run in flight
//! finishes on the version it started on. Older, equal and unknown versions and parameters
//! failing the new schema are refused and change nothing.

use crate::campaign_approval::{
    APPROVE, alice, approve_instance, params, reaches, send_segment, start,
};
use crate::helpers::*;
use crate::receiver::Receiver;
use serde_json::{Value, json};

const MIGRATE: &str = "mutation($i: Int!, $v: String!, $p: JSON, $d: Boolean) {
    migrateInstance(instance: $i, toVersion: $v, params: $p, dryRun: $d) {
    fromVersion toVersion applied stepsAdded stepsRemoved fieldsAdded fieldsRemoved
    slotsAdded slotsRemoved flowsGained flowsLost unboundSlots params } }";

async fn instance(app: &TestApp, id: i64) -> Value {
    let body = app
        .gql(
            &app.token("carol", &["compliance"]),
            "{ instances { id templateVersion params } }",
            json!({}),
        )
        .await;
    body["data"]["instances"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == id).cloned())
        .unwrap_or_else(|| panic!("instance {id}: {body}"))
}

/// A lead-routing 1.0.0 workflow of sam's (sales ops) to a CRM and a chat on loopback.
async fn routing_v1(app: &TestApp, rx: &Receiver) -> i64 {
    let sam = app.token_in("sam", &["sales_ops"], "sales");
    let conn = |c: &'static str, s: Value| {
        let sam = sam.clone();
        async move {
            let body = app
                .gql(
                    &sam,
                    "mutation($c: String!, $s: JSON!) { createConnection(connector: $c, name: $c, settings: $s) { id } }",
                    json!({ "c": c, "s": s }),
                )
                .await;
            body["data"]["createConnection"]["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{c}: {body}"))
        }
    };
    let crm = conn(
        "salesforce",
        json!({ "instance_url": rx.url(""), "access_token": "00Dxx!t", "sobject": "Lead",
                "external_id_field": "Switchyard_Key__c" }),
    )
    .await;
    let chat = conn("slack", json!({ "webhook_url": rx.url("/chat") })).await;
    let made = app
        .gql(
            &sam,
            "mutation($c: [SlotBinding!]!) { instantiateTemplate(template: \"lead-routing\", version: \"1.0.0\", name: \"Inbound\",
                params: {emea_countries: [\"DE\"], apac_countries: [\"JP\"]}, connections: $c) { id templateVersion } }",
            json!({ "c": [{ "slot": "crm", "connection": crm }, { "slot": "chat", "connection": chat }] }),
        )
        .await;
    assert_eq!(
        made["data"]["instantiateTemplate"]["templateVersion"], "1.0.0",
        "{made}"
    );
    made["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .expect("instance")
}

#[tokio::test]
async fn a_dry_run_shows_the_difference_and_applying_it_switches_the_workflow() {
    let app = spawn_app().await;
    let rx = Receiver::start(vec![]).await;
    let id = routing_v1(&app, &rx).await;
    let sam = app.token_in("sam", &["sales_ops"], "sales");
    let dry = app
        .gql(&sam, MIGRATE, json!({ "i": id, "v": "1.1.0" }))
        .await;
    let p = &dry["data"]["migrateInstance"];
    assert_eq!(p["applied"], false, "a dry run by default: {dry}");
    assert_eq!(p["fromVersion"], "1.0.0");
    let added: Vec<&str> = p["stepsAdded"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for s in [
        "accept_within_sla (sla)",
        "reassign_lead (deliver)",
        "tell_owner_team (notify)",
    ] {
        assert!(added.contains(&s), "{s} in {added:?}");
    }
    assert_eq!(p["stepsRemoved"], json!([]), "{dry}");
    assert_eq!(p["slotsAdded"], json!([]), "{dry}");
    assert_eq!(p["unboundSlots"], json!([]), "{dry}");
    assert_eq!(
        p["params"]["sla_minutes"], 30,
        "new defaults filled in: {dry}"
    );
    // The same data reaches the same destinations: no flow decision gained or lost.
    assert_eq!(p["flowsGained"], json!([]), "{dry}");
    assert_eq!(p["flowsLost"], json!([]), "{dry}");
    assert_eq!(instance(&app, id).await["templateVersion"], "1.0.0");
    assert!(audit_entries(&app, "instance.migrate").await.is_empty());

    // Bad input changes nothing.
    for (v, params, why) in [
        ("1.0.0", None, "not newer"),
        ("0.9.0", None, "no version"),
        ("7.0.0", None, "no version"),
        (
            "1.1.0",
            Some(json!({"emea_countries": ["DE"], "apac_countries": ["JP"], "sla_minutes": 0})),
            "sla_minutes",
        ),
    ] {
        let body = app
            .gql(
                &sam,
                MIGRATE,
                json!({ "i": id, "v": v, "p": params, "d": false }),
            )
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{v}: {body}");
        let text = format!(
            "{} {}",
            error_message(&body),
            body["errors"][0]["extensions"]["field"]
        );
        assert!(text.contains(why), "{v}: {text}");
    }
    let viewer = app
        .gql(
            &app.token("vic", &["viewer"]),
            MIGRATE,
            json!({ "i": id, "v": "1.1.0", "d": false }),
        )
        .await;
    assert_eq!(error_code(&viewer), Some("FORBIDDEN"), "{viewer}");
    assert_eq!(instance(&app, id).await["templateVersion"], "1.0.0");

    let applied = app
        .gql(
            &sam,
            MIGRATE,
            json!({ "i": id, "v": "1.1.0", "d": false,
                    "p": {"emea_countries": ["DE", "FR"], "apac_countries": ["JP"], "sla_minutes": 20} }),
        )
        .await;
    assert_eq!(
        applied["data"]["migrateInstance"]["applied"], true,
        "{applied}"
    );
    let now = instance(&app, id).await;
    assert_eq!(now["templateVersion"], "1.1.0");
    assert_eq!(now["params"]["sla_minutes"], 20);
    let entries = audit_entries(&app, "instance.migrate").await;
    let ok: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "allowed")
        .collect();
    assert_eq!(ok.len(), 1, "{entries:?}");
    assert_eq!(ok[0]["target"], format!("instance:{id}"));
    assert_eq!(ok[0]["after"]["version"], "1.1.0");
    // Moving again to the same version is refused.
    let again = app
        .gql(&sam, MIGRATE, json!({ "i": id, "v": "1.1.0", "d": false }))
        .await;
    assert_eq!(error_code(&again), Some("BAD_USER_INPUT"), "{again}");
}

#[tokio::test]
async fn a_run_in_flight_finishes_on_the_version_it_started_on() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![]).await;
    send_segment(&app, "emea-trial", 1200, "active").await;
    let token = alice(&app);
    let chat = app
        .gql(
            &token,
            "mutation($s: JSON!) { createConnection(connector: \"slack\", name: \"#c\", settings: $s) { id } }",
            json!({ "s": { "webhook_url": rx.url("/chat") } }),
        )
        .await["data"]["createConnection"]["id"]
        .as_i64()
        .expect("chat");
    let made = app
        .gql(
            &token,
            "mutation($p: JSON!, $c: Int!) { instantiateTemplate(template: \"campaign-approval\", version: \"1.0.0\", name: \"Old\", params: $p, connections: [{slot: \"chat\", connection: $c}]) { id } }",
            json!({ "p": params("email"), "c": chat }),
        )
        .await;
    let id = made["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{made}"));
    approve_instance(&app, id).await;
    let old_run = start(&app, &token, id, json!({})).await;
    let parked = reaches(
        &app,
        id,
        old_run,
        "waiting_approval",
        Some("manager_approval"),
    )
    .await;
    assert!(
        parked["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("marketing_manager"),
        "{parked}"
    );
    let moved = app
        .gql(
            &token,
            MIGRATE,
            json!({ "i": id, "v": "1.1.0", "d": false }),
        )
        .await;
    assert_eq!(moved["data"]["migrateInstance"]["applied"], true, "{moved}");
    // The parked run is still decided under 1.0.0 (its role), a new run under 1.1.0.
    let avery = app.token("avery", &["approver"]);
    let refused = app.gql(&avery, APPROVE, json!({ "r": old_run })).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    assert!(
        error_message(&refused).contains("marketing_manager"),
        "{refused}"
    );
    let manager = app.token("mona", &["approver", "marketing_manager"]);
    let ok = app.gql(&manager, APPROVE, json!({ "r": old_run })).await;
    assert_eq!(ok["data"]["approveRun"]["status"], "running", "{ok}");
    reaches(&app, id, old_run, "succeeded", None).await;
    let new_run = start(&app, &token, id, json!({})).await;
    let parked = reaches(
        &app,
        id,
        new_run,
        "waiting_approval",
        Some("manager_approval"),
    )
    .await;
    assert!(
        parked["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("role approver"),
        "{parked}"
    );
    let ok = app.gql(&avery, APPROVE, json!({ "r": new_run })).await;
    assert_eq!(ok["data"]["approveRun"]["status"], "running", "{ok}");
}
