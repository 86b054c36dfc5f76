//! The contract registry guards every change: the seeded FULL-mode case end to end over
//! GraphQL, and `switchyard contract show` / `contract check` for CI pipelines.

use crate::helpers::*;
use serde_json::{Value, json};

const CHECK: &str = "query($input: PublishInput!) { checkContractCompatibility(input: $input) {
    mode compatible againstVersion
    changes { kind pointer compatible }
    breaking { direction kind pointer message }
    consumers { kind key version fields steps { id fields } broken } } }";

const PUBLISH: &str =
    "mutation($input: PublishInput!) { publishContractVersion(input: $input) { version } }";

/// The current `event.form_submitted` document as publish input, at `version`.
async fn form_submitted_input(app: &TestApp, version: &str) -> Value {
    let token = app.token("dana", &["data_engineer"]);
    let body = app
        .gql(
            &token,
            "{ contract(name: \"event.form_submitted\") { key name summary description category owner versions { definition } } }",
            json!({}),
        )
        .await;
    let c = &body["data"]["contract"];
    json!({
        "key": c["key"], "name": c["name"], "summary": c["summary"], "description": c["description"],
        "category": c["category"], "owner": c["owner"], "version": version,
        "definition": c["versions"][0]["definition"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extending_a_routed_enum_under_full_is_refused_naming_lead_routing_and_its_route_step() {
    let app = spawn_app().await;
    let token = app.token("dana", &["data_engineer"]);
    let mut input = form_submitted_input(&app, "1.1.0").await;
    input["definition"]["schema"]["properties"]["source_category"]["enum"] =
        json!(["web", "event", "partner", "webinar"]);
    let report = app.gql(&token, CHECK, json!({ "input": input })).await;
    let r = &report["data"]["checkContractCompatibility"];
    assert_eq!(r["mode"], "FULL", "{report}");
    assert_eq!(r["compatible"], false, "{report}");
    assert!(
        r["breaking"]
            .as_array()
            .expect("breaking")
            .iter()
            .any(|b| b["direction"] == "FORWARD"
                && b["pointer"]
                    .as_str()
                    .unwrap_or("")
                    .contains("source_category")),
        "{report}"
    );
    let routing = r["consumers"]
        .as_array()
        .expect("consumers")
        .iter()
        .find(|c| c["key"] == "lead-routing")
        .cloned()
        .expect("lead-routing consumes the contract");
    assert_eq!(routing["broken"], true, "{routing}");
    assert!(
        routing["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .any(|s| s["id"] == "route"),
        "{routing}"
    );

    let refused = app.gql(&token, PUBLISH, json!({ "input": input })).await;
    assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
    let msg = error_message(&refused);
    assert!(
        msg.contains("lead-routing") && msg.contains("route"),
        "{msg}"
    );
    let consumers = &refused["errors"][0]["extensions"]["consumers"];
    assert!(consumers.to_string().contains("lead-routing"), "{refused}");
    let versions = app
        .gql(
            &token,
            "{ contract(name: \"event.form_submitted\") { versions { version } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        versions["data"]["contract"]["versions"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_an_optional_unused_field_is_accepted() {
    let app = spawn_app().await;
    let token = app.token("dana", &["data_engineer"]);
    let mut input = form_submitted_input(&app, "1.1.0").await;
    input["definition"]["schema"]["properties"]["referrer_code"] = json!({
        "type": "string", "description": "Partner referral code.", "x-pii": "none"
    });
    let report = app.gql(&token, CHECK, json!({ "input": input })).await;
    assert_eq!(
        report["data"]["checkContractCompatibility"]["compatible"], true,
        "{report}"
    );
    let published = app.gql(&token, PUBLISH, json!({ "input": input })).await;
    assert_eq!(
        published["data"]["publishContractVersion"]["version"], "1.1.0",
        "{published}"
    );
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_check_cli_show_edit_check_loop() {
    let app = spawn_app().await;
    let shown = app.cli(&["contract", "show", "event.form_submitted"]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let doc = stdout(&shown);
    assert!(
        doc.contains("key: event.form_submitted") && doc.contains("source_category"),
        "{doc}"
    );

    let breaking = doc.replace("version: 1.0.0", "version: 1.1.0").replacen(
        "- partner",
        "- partner\n        - webinar",
        1,
    );
    assert_ne!(
        breaking,
        doc.replace("version: 1.0.0", "version: 1.1.0"),
        "the edit applied"
    );
    let file = write(app.dir.path(), "breaking.yaml", &breaking);
    let out = app.cli(&["contract", "check", file.to_str().expect("path")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(
        text.contains("source_category") && text.contains("lead-routing"),
        "{text}"
    );

    let json_out = app.cli(&[
        "contract",
        "check",
        file.to_str().expect("path"),
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&json_out.stdout).expect("json report");
    assert_eq!(report["compatible"], false);

    let fine = doc.replace("version: 1.0.0", "version: 1.0.1");
    let file = write(app.dir.path(), "same.yaml", &fine);
    let out = app.cli(&["contract", "check", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_check_cli_bad_input_exits_2() {
    let app = spawn_app().await;
    let dir = app.dir.path();
    let missing = app.cli(&["contract", "check", "/nonexistent/file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    let invalid = write(
        dir,
        "invalid.yaml",
        "name: lead\nversion: 2.0.0\nschema: {type: strnig}\n",
    );
    let out = app.cli(&["contract", "check", invalid.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("schema"),
        "names the field"
    );
    let unknown = write(
        dir,
        "unknown.yaml",
        "name: no.such.contract\nversion: 1.0.0\nschema: {type: object}\n",
    );
    let out = app.cli(&["contract", "check", unknown.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no.such.contract"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_check_against_a_running_server() {
    let app = spawn_app().await;
    let token = app.token("dana", &["data_engineer"]);
    let file = write(
        app.dir.path(),
        "short.yaml",
        "name: event.form_submitted\nversion: 2.0.0\nschema:\n  type: object\n  properties: {email: {type: string}}\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "contract",
            "check",
            file.to_str().expect("path"),
            "--against",
            &app.url(""),
        ])
        .env("SWITCHYARD_TOKEN", token)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("BREAKING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_instances_pinned_to_a_consumer_are_listed_as_broken() {
    let app = spawn_app().await;
    let sam = app.token("sam", &["sales_ops"]);
    let connect = |connector: &'static str, settings: Value| {
        let sam = sam.clone();
        let app = &app;
        async move {
            let body = app
                .gql(&sam, "mutation($c: String!, $s: JSON!) { createConnection(connector: $c, name: \"sales\", settings: $s) { id } }",
                    json!({ "c": connector, "s": settings }))
                .await;
            body["data"]["createConnection"]["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{body}"))
        }
    };
    let crm = connect("hubspot", json!({ "access_token": "pat-na1-0123456789" })).await;
    let chat = connect(
        "slack",
        json!({ "webhook_url": "https://hooks.slack.com/services/T0/B0/y" }),
    )
    .await;
    let created = app
        .gql(&sam, "mutation($c: [SlotBinding!]!) { instantiateTemplate(template: \"lead-routing\", name: \"Global routing\",
            params: {emea_countries: [\"FR\"], apac_countries: [\"JP\"]}, connections: $c) { status } }",
            json!({ "c": [{ "slot": "crm", "connection": crm }, { "slot": "chat", "connection": chat }] }))
        .await;
    assert_eq!(
        created["data"]["instantiateTemplate"]["status"], "active",
        "{created}"
    );
    let mut input = form_submitted_input(&app, "1.1.0").await;
    input["definition"]["schema"]["properties"]["source_category"]["enum"] =
        json!(["web", "event", "partner", "webinar"]);
    let report = app
        .gql(
            &app.token("dana", &["data_engineer"]),
            CHECK,
            json!({ "input": input }),
        )
        .await;
    let consumers = report["data"]["checkContractCompatibility"]["consumers"]
        .as_array()
        .expect("consumers")
        .clone();
    let live = consumers
        .iter()
        .find(|c| c["key"] == "lead-routing/Global routing")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(live["broken"], true);
    assert!(
        live["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .any(|s| s["id"] == "route")
    );
}
