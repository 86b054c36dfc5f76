//! Policy-driven approvals (issue 9, part 5): the policy says which workflows need an approval
//! and from whom; an approval records the rule that required it and what it approved, expires
//! when configured to, and is revoked by itself when its rule or its inputs change (here: the
//! destination) — the workflow goes back to pending, its owner and the approver are notified.

use crate::helpers::*;
use crate::policy::{copy_policies, read, replace};
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PAT: (&str, &str) = ("pat", "platform_engineer");
const WAIT: Duration = Duration::from_secs(10);
const APPROVE: &str = "mutation($id: Int!) { approveInstance(id: $id) { status approvedBy } }";
const APPROVALS: &str = "query($i: Int!) { approvals(instance: $i) {
    id requirement rule approverRoles approvedBy expiresAt inputs status endReason } }";
const REBIND: &str = "mutation($id: Int!, $c: [SlotBinding!]!) {
    rebindInstance(id: $id, connections: $c) { status bindings } }";

async fn publish(app: &TestApp, key: &str, sensitive: bool, category: &str, steps: Value) {
    let input = json!({
        "key": key, "name": key, "category": "audience", "owner": "marketing-ops",
        "version": "1.0.0", "summary": "Sends contacts on.", "description": "Sends contacts on.",
        "definition": {
            "sensitive": sensitive, "parameters": {"type": "object"}, "trigger": {"type": "manual"},
            "slots": {"out": {"category": category}},
            "reads": [{"contract": "contact", "versions": "^1", "fields": ["email", "country"]}],
            "steps": steps
        }
    });
    let body = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
            json!({ "i": input }),
        )
        .await;
    assert!(body["errors"].is_null(), "publish {key}: {body}");
}

async fn connection(app: &TestApp, connector: &str, name: &str) -> i64 {
    let body = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            "mutation($c: String!, $n: String!, $s: JSON!) { createConnection(connector: $c, name: $n, settings: $s) { id } }",
            json!({ "c": connector, "n": name, "s": { "url": format!("http://127.0.0.1:9/{name}"), "secret": SECRET } }),
        )
        .await;
    body["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("createConnection: {body}"))
}

async fn instantiate(app: &TestApp, template: &str, conn: i64) -> (i64, String) {
    let body = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            "mutation($t: String!, $c: [SlotBinding!]!) { instantiateTemplate(template: $t, name: \"it\", params: {}, connections: $c) { id status } }",
            json!({ "t": template, "c": [{ "slot": "out", "connection": conn }] }),
        )
        .await;
    let i = &body["data"]["instantiateTemplate"];
    (
        i["id"].as_i64().unwrap_or_else(|| panic!("{body}")),
        i["status"].as_str().unwrap_or_default().to_string(),
    )
}

async fn approvals(app: &TestApp, id: i64) -> Vec<Value> {
    let body = app
        .gql(
            &app.token("carol", &["compliance"]),
            APPROVALS,
            json!({ "i": id }),
        )
        .await;
    body["data"]["approvals"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("approvals: {body}"))
}

async fn status(app: &TestApp, id: i64) -> String {
    let body = app
        .gql(
            &app.token("carol", &["compliance"]),
            "query($id: Int!) { instance(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    body["data"]["instance"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn notes(app: &TestApp, who: (&str, &str)) -> Vec<Value> {
    let body = app
        .gql(
            &app.token(who.0, &[who.1]),
            "{ myNotifications { topic target message } }",
            json!({}),
        )
        .await;
    body["data"]["myNotifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A sensitive template sending hashed emails to an ad audience.
async fn hashed_to_ads(app: &TestApp) {
    publish(
        app,
        "ads-upload",
        true,
        "ads",
        json!([
            {"id": "hash", "type": "map", "reads": ["email", "country"],
             "config": {"fields": {"country": "country"}, "computed": {"email_sha256": "sha256(lower(event.email))"}}},
            {"id": "upload", "type": "deliver", "reads": [], "config": {"slot": "out"}}]),
    )
    .await;
}

#[tokio::test]
async fn an_approval_is_revoked_when_the_approved_destination_changes() {
    let app = spawn_app().await;
    hashed_to_ads(&app).await;
    let (first, second) = (
        connection(&app, "ads-audience", "audience-a").await,
        connection(&app, "ads-audience", "audience-b").await,
    );
    let (id, st) = instantiate(&app, "ads-upload", first).await;
    assert_eq!(
        st, "pending_approval",
        "the policy requires an approval of sensitive templates"
    );

    let ava = app.token("ava", &["approver"]);
    let ok = app.gql(&ava, APPROVE, json!({ "id": id })).await;
    assert_eq!(ok["data"]["approveInstance"]["status"], "active", "{ok}");
    let given = approvals(&app, id).await;
    assert_eq!(given.len(), 1, "{given:?}");
    assert_eq!(given[0]["status"], "valid");
    assert_eq!(given[0]["requirement"], "approval:sensitive:ads-upload");
    assert!(
        given[0]["rule"].as_str().is_some_and(
            |r| r.contains("p, role:approver, approval:sensitive:*, approve, any, allow")
        ),
        "records the rule that required it: {given:?}"
    );
    assert_eq!(given[0]["inputs"]["destinations"]["out"], first);

    // The owner points the workflow at another audience: the approval no longer holds.
    let moved = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            REBIND,
            json!({ "id": id, "c": [{ "slot": "out", "connection": second }] }),
        )
        .await;
    assert_eq!(
        moved["data"]["rebindInstance"]["status"], "pending_approval",
        "{moved}"
    );
    assert_eq!(moved["data"]["rebindInstance"]["bindings"]["out"], second);
    let after = approvals(&app, id).await;
    assert_eq!(after[0]["status"], "revoked", "{after:?}");
    let why = after[0]["endReason"].as_str().unwrap_or_default();
    assert!(
        why.contains(&format!("destination out: connection {first} -> {second}")),
        "{why}"
    );

    let entries = audit_entries(&app, "approval.revoke").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["target"], format!("instance:{id}"));
    assert_eq!(entries[0]["after"]["status"], "pending_approval");
    for who in [PAT, ("ava", "approver")] {
        let n = notes(&app, who).await;
        assert!(
            n.iter().any(|x| x["topic"] == "approval"
                && x["message"].as_str().is_some_and(|m| m.contains("revoked"))),
            "{} is told: {n:?}",
            who.0
        );
    }

    // A new approval of the new destination makes it active again.
    let again = app.gql(&ava, APPROVE, json!({ "id": id })).await;
    assert_eq!(
        again["data"]["approveInstance"]["status"], "active",
        "{again}"
    );
    let now = approvals(&app, id).await;
    assert_eq!(now[0]["status"], "valid");
    assert_eq!(now[0]["inputs"]["destinations"]["out"], second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_says_who_must_approve_and_a_changed_rule_revokes() {
    let policies = copy_policies();
    let rule = "p, role:compliance, approval:flow:personal:generic, approve, any, allow";
    let csv = format!("{}{rule}\n", read(policies.path(), "policy.csv"));
    replace(policies.path(), "policy.csv", &csv);
    let app = spawn_with(Setup {
        policy_dir: Some(policies.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    publish(
        &app,
        "mail-out",
        false,
        "generic",
        json!([{"id": "send", "type": "deliver", "reads": ["email", "country"], "config": {"slot": "out"}}]),
    )
    .await;
    let hook = connection(&app, "webhook", "hook").await;
    let (id, st) = instantiate(&app, "mail-out", hook).await;
    assert_eq!(
        st, "pending_approval",
        "personal data to a generic endpoint needs compliance"
    );

    let approver = app
        .gql(
            &app.token("ava", &["approver"]),
            APPROVE,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&approver), Some("FORBIDDEN"), "{approver}");
    assert!(
        error_message(&approver).contains("compliance") && error_message(&approver).contains(rule),
        "{approver}"
    );
    let carol = app
        .gql(
            &app.token("carol", &["compliance"]),
            APPROVE,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        carol["data"]["approveInstance"]["status"], "active",
        "{carol}"
    );
    let given = approvals(&app, id).await;
    assert_eq!(given[0]["requirement"], "approval:flow:personal:generic");

    // The rule now asks for a platform admin instead: the compliance approval no longer counts.
    let changed = csv.replace(
        rule,
        "p, role:platform_admin, approval:flow:personal:generic, approve, any, allow",
    );
    let proposal = copy_policies();
    replace(proposal.path(), "policy.csv", &changed);
    let out = app.cli(&[
        "policy",
        "diff",
        "--against",
        &proposal.path().display().to_string(),
    ]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "needing an approval is not blocking: {text}"
    );
    assert!(
        text.contains(&format!(
            "instance {id} 'it' would need an approval from platform_admin"
        )),
        "the diff says so beforehand: {text}"
    );
    replace(policies.path(), "policy.csv", &changed);
    let back = eventually(WAIT, || async {
        status(&app, id).await == "pending_approval"
    })
    .await;
    assert!(
        back,
        "the workflow waits for a new approval: {:?}",
        approvals(&app, id).await
    );
    let ended = approvals(&app, id).await;
    assert_eq!(ended[0]["status"], "revoked");
    assert!(
        ended[0]["endReason"]
            .as_str()
            .is_some_and(|r| r.contains("the rule that required it changed")),
        "{ended:?}"
    );
    let n = notes(&app, ("carol", "compliance")).await;
    assert!(
        n.iter().any(|x| x["topic"] == "approval"),
        "the approver is told: {n:?}"
    );
}

#[tokio::test]
async fn an_approval_expires_when_configured_to() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, "[approvals]\nexpire_after = \"2s\"\n").expect("config");
    let app = spawn_with(Setup {
        config_file: Some(path),
        ..Default::default()
    })
    .await;
    hashed_to_ads(&app).await;
    let conn = connection(&app, "ads-audience", "audience").await;
    let (id, _) = instantiate(&app, "ads-upload", conn).await;
    let ok = app
        .gql(
            &app.token("ava", &["approver"]),
            APPROVE,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(ok["data"]["approveInstance"]["status"], "active", "{ok}");
    assert!(approvals(&app, id).await[0]["expiresAt"].is_string());
    let expired = eventually(WAIT, || async {
        status(&app, id).await == "pending_approval"
    })
    .await;
    assert!(expired, "{:?}", approvals(&app, id).await);
    assert_eq!(approvals(&app, id).await[0]["status"], "expired");
    assert_eq!(audit_entries(&app, "approval.expire").await.len(), 1);
}
