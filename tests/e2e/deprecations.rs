//! Deprecation notices: publishing one deprecates the version, lists the live instances it
//! affects, notifies their owners and is audited; after the sunset nobody can start a new
//! instance of the version.

use crate::execution::connect;
use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

const PUBLISH: &str = "mutation($i: DeprecationInput!) { publishDeprecationNotice(input: $i) {
    version sunsetAt sunsetPassed replacement notes affectedInstances { id name owner } } }";
const INSTANTIATE: &str = "mutation($n: String!, $c: [SlotBinding!]!) {
    instantiateTemplate(template: \"lead-capture\", name: $n, params: {default_lead_status: \"new\"}, connections: $c) { id } }";

async fn bindings(app: &TestApp) -> Value {
    let mia = ("mia", "marketer");
    let crm = connect(
        app,
        mia,
        "hubspot",
        json!({ "access_token": "pat-eu1-0123456789" }),
    )
    .await;
    let chat = connect(
        app,
        mia,
        "slack",
        json!({ "webhook_url": "https://hooks.slack.com/services/T0/B0/x" }),
    )
    .await;
    json!([{ "slot": "crm", "connection": crm["data"]["createConnection"]["id"] },
           { "slot": "chat", "connection": chat["data"]["createConnection"]["id"] }])
}

#[tokio::test]
async fn a_deprecation_notice_names_affected_instances_notifies_owners_and_sunsets() {
    let app = spawn_app().await;
    let c = bindings(&app).await;
    let mia = app.token("mia", &["marketer"]);
    let made = app
        .gql(&mia, INSTANTIATE, json!({ "n": "EMEA forms", "c": c }))
        .await;
    let id = made["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{made}"));
    let sunset = chrono::Utc::now() + chrono::Duration::seconds(3);
    let input = json!({ "kind": "TEMPLATE", "key": "lead-capture", "version": "1.0.0",
        "sunsetAt": sunset.to_rfc3339(), "replacement": "lead-capture 2.0.0",
        "notes": "2.0.0 adds enrichment; re-create your workflow from it." });

    let denied = app.gql(&mia, PUBLISH, json!({ "i": input })).await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");
    let no_notes = app
        .gql(&app.token("pat", &["platform_engineer"]), PUBLISH, json!({ "i": { "kind": "TEMPLATE",
            "key": "lead-capture", "version": "1.0.0", "sunsetAt": sunset.to_rfc3339(), "notes": " " } }))
        .await;
    assert_eq!(
        no_notes["errors"][0]["extensions"]["field"], "notes",
        "{no_notes}"
    );

    let body = app
        .gql(
            &app.token("pat", &["platform_engineer"]),
            PUBLISH,
            json!({ "i": input }),
        )
        .await;
    let notice = &body["data"]["publishDeprecationNotice"];
    assert_eq!(notice["replacement"], "lead-capture 2.0.0", "{body}");
    assert_eq!(notice["sunsetPassed"], false);
    assert_eq!(notice["affectedInstances"][0]["id"], id);
    assert_eq!(notice["affectedInstances"][0]["owner"], "mia");
    // Another team's marketer reads the notice, not whose workflows it affects.
    let list = "{ deprecationNotices(kind: TEMPLATE, key: \"lead-capture\") { affectedInstances { id } } }";
    let other = app
        .gql(&app.token_in("max", &["marketer"], "emea"), list, json!({}))
        .await;
    assert_eq!(
        other["data"]["deprecationNotices"][0]["affectedInstances"],
        json!([]),
        "{other}"
    );

    let v = app
        .gql(
            &mia,
            "{ template(key: \"lead-capture\") { versions { version lifecycle } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        v["data"]["template"]["versions"][0]["lifecycle"], "DEPRECATED",
        "{v}"
    );
    let inbox = app
        .gql(
            &mia,
            "{ myNotifications { topic target message } }",
            json!({}),
        )
        .await;
    let note = &inbox["data"]["myNotifications"][0];
    assert_eq!(note["topic"], "deprecation", "{inbox}");
    assert_eq!(note["target"], format!("instance:{id}"));
    assert!(
        note["message"]
            .as_str()
            .unwrap_or("")
            .contains("lead-capture 2.0.0"),
        "{note}"
    );

    // Before the sunset a deprecated version can still be used; after it, not.
    let before = app
        .gql(
            &mia,
            INSTANTIATE,
            json!({ "n": "late but in time", "c": c }),
        )
        .await;
    assert!(before["errors"].is_null(), "{before}");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let mut after = Value::Null;
    for attempt in 0..20 {
        after = app
            .gql(
                &mia,
                INSTANTIATE,
                json!({ "n": format!("too late {attempt}"), "c": c }),
            )
            .await;
        if error_code(&after) == Some("CONFLICT") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        error_code(&after),
        Some("CONFLICT"),
        "refused after the sunset: {after}"
    );
    assert!(
        error_message(&after).contains("sunset")
            && error_message(&after).contains("lead-capture 2.0.0"),
        "{after}"
    );

    let audit = app
        .gql(&app.token("carol", &["compliance"]),
            "query($f: AuditFilter) { auditLog(filter: $f, first: 5) { edges { node { actor outcome after } } } }",
            json!({ "f": { "action": "deprecation.publish" } }))
        .await;
    let edges = audit["data"]["auditLog"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        edges
            .iter()
            .any(|e| e["node"]["actor"] == "pat" && e["node"]["outcome"] == "allowed"),
        "{audit}"
    );
    assert!(
        edges
            .iter()
            .any(|e| e["node"]["actor"] == "mia" && e["node"]["outcome"] == "denied"),
        "{audit}"
    );
}
