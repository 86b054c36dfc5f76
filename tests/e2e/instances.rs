//! Instantiating templates under policy: parameters checked against the template's schema,
//! slots bound to connections of the right category, every data flow decided by policy and
//! stored with the instance, four-eyes approval for sensitive templates, lifecycle actions.

use crate::helpers::*;
use serde_json::{Value, json};

const INSTANTIATE: &str = "mutation($t: String!, $n: String!, $p: JSON!, $c: [SlotBinding!]!) {
    instantiateTemplate(template: $t, name: $n, params: $p, connections: $c) { id status flows approverRoles owner } }";

async fn connect(
    app: &TestApp,
    who: (&str, &str),
    connector: &str,
    name: &str,
    settings: Value,
) -> i64 {
    let body = app
        .gql(&app.token(who.0, &[who.1]),
            "mutation($c: String!, $n: String!, $s: JSON!) { createConnection(connector: $c, name: $n, settings: $s) { id } }",
            json!({ "c": connector, "n": name, "s": settings }))
        .await;
    body["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("createConnection: {body}"))
}

async fn lead_capture_bindings(app: &TestApp) -> Value {
    let mia = ("mia", "marketer");
    let crm = connect(
        app,
        mia,
        "hubspot",
        "EMEA HubSpot",
        json!({ "access_token": "pat-eu1-0123456789" }),
    )
    .await;
    let chat = connect(
        app,
        mia,
        "slack",
        "#leads",
        json!({ "webhook_url": "https://hooks.slack.com/services/T0/B0/x" }),
    )
    .await;
    json!([{ "slot": "crm", "connection": crm }, { "slot": "chat", "connection": chat }])
}

#[tokio::test]
async fn a_marketer_instantiates_lead_capture_with_checked_params_and_stored_flows() {
    let app = spawn_app().await;
    let bindings = lead_capture_bindings(&app).await;
    let token = app.token("mia", &["marketer"]);
    let bad = app
        .gql(
            &token,
            INSTANTIATE,
            json!({ "t": "lead-capture", "n": "EMEA forms",
        "p": { "default_lead_status": "closed" }, "c": bindings }),
        )
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"), "{bad}");
    assert_eq!(
        bad["errors"][0]["extensions"]["field"], "params.default_lead_status",
        "{bad}"
    );

    let ok = app
        .gql(
            &token,
            INSTANTIATE,
            json!({ "t": "lead-capture", "n": "EMEA forms",
        "p": { "default_lead_status": "new" }, "c": bindings }),
        )
        .await;
    let inst = &ok["data"]["instantiateTemplate"];
    assert_eq!(inst["status"], "active", "{ok}");
    assert_eq!(inst["flows"]["crm"]["category"], "crm");
    assert_eq!(inst["flows"]["crm"]["fields"]["email"], "personal", "{ok}");
    assert!(
        inst["flows"]["chat"]["fields"].get("email").is_none(),
        "chat gets no email: {ok}"
    );

    let again = app
        .gql(
            &token,
            INSTANTIATE,
            json!({ "t": "lead-capture", "n": "EMEA forms",
        "p": { "default_lead_status": "new" }, "c": bindings }),
        )
        .await;
    assert_eq!(error_code(&again), Some("CONFLICT"));
    let routing = app
        .gql(
            &token,
            INSTANTIATE,
            json!({ "t": "lead-routing", "n": "x", "p": {}, "c": [] }),
        )
        .await;
    assert_eq!(
        error_code(&routing),
        Some("FORBIDDEN"),
        "marketers do not instantiate lead routing"
    );
}

#[tokio::test]
async fn slots_need_a_connection_of_their_category() {
    let app = spawn_app().await;
    let bindings = lead_capture_bindings(&app).await;
    let swapped = json!([{ "slot": "crm", "connection": bindings[1]["connection"] }, { "slot": "chat", "connection": bindings[0]["connection"] }]);
    let body = app
        .gql(
            &app.token("mia", &["marketer"]),
            INSTANTIATE,
            json!({ "t": "lead-capture", "n": "x",
        "p": { "default_lead_status": "new" }, "c": swapped }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "connections.chat",
        "{body}"
    );
    let missing = app
        .gql(
            &app.token("mia", &["marketer"]),
            INSTANTIATE,
            json!({ "t": "lead-capture", "n": "x",
        "p": { "default_lead_status": "new" }, "c": [] }),
        )
        .await;
    assert_eq!(
        missing["errors"][0]["extensions"]["field"], "connections.chat",
        "{missing}"
    );
}

/// Publishes an `ads` connector and a template sending contact emails to it, raw or hashed.
async fn ads_setup(app: &TestApp, hashed: bool) -> i64 {
    let pat = app.token("pat", &["platform_engineer"]);
    let connector = json!({ "key": "ads-audiences", "name": "Ads audiences", "summary": "Ad platform audiences.",
        "description": "Uploads audience members to an ad platform.", "category": "ads", "owner": "platform-integrations",
        "version": "1.0.0", "definition": { "direction": "destination", "objects": ["contact"], "actions": ["upsert"],
        "data_classes": ["none", "personal"],
        "settings_schema": { "type": "object", "properties": { "account": { "type": "string" } } } } });
    let r = app
        .gql(
            &pat,
            "mutation($i: PublishInput!) { publishConnectorVersion(input: $i) { version } }",
            json!({ "i": connector }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    let computed = if hashed {
        json!({ "email_sha256": "sha256(lower(event.email))" })
    } else {
        json!({ "email_copy": "event.email" })
    };
    let template = json!({ "key": "ads-export", "name": "Ads export", "summary": "Sends contacts to ads.",
        "description": "Sends contact identifiers to an ad audience.", "category": "audience", "owner": "marketing-ops",
        "version": "1.0.0", "definition": { "sensitive": true, "parameters": { "type": "object" },
        "trigger": { "type": "manual" }, "slots": { "ads": { "category": "ads" } },
        "reads": [{ "contract": "contact", "versions": "^1", "fields": ["email", "country"] }],
        "steps": [
            { "id": "prepare", "type": "map", "reads": ["email", "country"], "config": { "fields": { "country": "country" }, "computed": computed } },
            { "id": "upload", "type": "deliver", "reads": [], "config": { "slot": "ads" } } ] } });
    let r = app
        .gql(
            &pat,
            "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
            json!({ "i": template }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    connect(
        app,
        ("pat", "platform_engineer"),
        "ads-audiences",
        "Ads",
        json!({ "account": "123" }),
    )
    .await
}

#[tokio::test]
async fn personal_data_reaches_ads_only_hashed() {
    let app = spawn_app().await;
    let conn = ads_setup(&app, false).await;
    let pat = app.token("pat", &["platform_engineer"]);
    let body = app.gql(&pat, INSTANTIATE, json!({ "t": "ads-export", "n": "raw", "p": {}, "c": [{ "slot": "ads", "connection": conn }] })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let msg = error_message(&body);
    assert!(
        msg.contains("`email` (personal)") && msg.contains("ads") && msg.contains("policy.csv:"),
        "{msg}"
    );
    let count = app.gql(&pat, "{ instances { id } }", json!({})).await;
    assert_eq!(count["data"]["instances"], json!([]), "nothing written");
}

#[tokio::test]
async fn sensitive_templates_wait_for_a_second_person() {
    let app = spawn_app().await;
    let conn = ads_setup(&app, true).await;
    let pat = app.token("pat", &["platform_engineer"]);
    let body = app.gql(&pat, INSTANTIATE, json!({ "t": "ads-export", "n": "hashed", "p": {}, "c": [{ "slot": "ads", "connection": conn }] })).await;
    let inst = &body["data"]["instantiateTemplate"];
    assert_eq!(inst["status"], "pending_approval", "{body}");
    assert_eq!(inst["flows"]["ads"]["fields"]["email"], "hashed", "{body}");
    assert!(
        inst["approverRoles"]
            .as_array()
            .expect("roles")
            .contains(&json!("approver")),
        "{body}"
    );
    let id = inst["id"].as_i64().expect("id");
    let approve = "mutation($id: Int!) { approveInstance(id: $id) { status approvedBy } }";
    let admin_self = app
        .gql(
            &app.token("pat", &["platform_admin"]),
            approve,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        error_code(&admin_self),
        Some("FORBIDDEN"),
        "four eyes: {admin_self}"
    );
    let marketer = app
        .gql(
            &app.token("mia", &["marketer"]),
            approve,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&marketer), Some("FORBIDDEN"));
    let ok = app
        .gql(
            &app.token("ava", &["approver"]),
            approve,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(ok["data"]["approveInstance"]["status"], "active", "{ok}");
    assert_eq!(ok["data"]["approveInstance"]["approvedBy"], "ava");

    let step = |m: &str| format!("mutation($id: Int!) {{ {m}(id: $id) {{ status }} }}");
    let paused = app
        .gql(&pat, &step("pauseInstance"), json!({ "id": id }))
        .await;
    assert_eq!(
        paused["data"]["pauseInstance"]["status"], "paused",
        "{paused}"
    );
    let twice = app
        .gql(&pat, &step("pauseInstance"), json!({ "id": id }))
        .await;
    assert_eq!(error_code(&twice), Some("CONFLICT"));
    let resumed = app
        .gql(&pat, &step("resumeInstance"), json!({ "id": id }))
        .await;
    assert_eq!(resumed["data"]["resumeInstance"]["status"], "active");
    let retired = app
        .gql(&pat, &step("retireInstance"), json!({ "id": id }))
        .await;
    assert_eq!(retired["data"]["retireInstance"]["status"], "retired");

    let log = app
        .gql(
            &app.token("carol", &["compliance"]),
            "{ auditLog(filter: {target: \"instance:*\"}) { edges { node { action outcome } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<String> = log["data"]["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["node"]["action"].as_str().unwrap_or(""),
                e["node"]["outcome"].as_str().unwrap_or("")
            )
        })
        .collect();
    for a in [
        "instance.create allowed",
        "instance.approve denied",
        "instance.approve allowed",
        "instance.pause allowed",
        "instance.retire allowed",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    let denied = actions.iter().filter(|x| *x == "instance.approve denied");
    assert_eq!(
        denied.count(),
        2,
        "the four-eyes refusal is audited as denied too: {actions:?}"
    );
}
