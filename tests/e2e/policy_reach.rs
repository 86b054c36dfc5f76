//! Policy changes reach running workflows (issue 9, part 3): `policy diff` names the workflow an
//! edit would block (exit 1) before anyone makes it; once made, exactly that workflow is paused,
//! its owner notified, the change audited with the decision before and after and the rule, while
//! the others keep running; a delivery made under the old decision is not sent; and a workflow
//! whose slot the template lets narrow keeps running without the withheld fields.

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::policy::{copy_policies, read, replace};
use crate::receiver::{Receiver, Reply};
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PAT: (&str, &str) = ("pat", "platform_engineer");
const WAIT: Duration = Duration::from_secs(20);
/// Personal data, even hashed, may no longer reach ads.
const FORBID: &str = "p, flows, flow:hashed:ads, send, any, deny";

const INSTANTIATE: &str = "mutation($t: String!, $n: String!, $c: [SlotBinding!]!) {
    instantiateTemplate(template: $t, name: $n, params: {}, connections: $c) { id status } }";

pub(crate) async fn publish(app: &TestApp, key: &str, slot: (&str, &str, bool), steps: Value) {
    let (name, category, narrow) = slot;
    let input = json!({
        "key": key, "name": key, "category": "audience", "owner": "platform-integrations",
        "version": "1.0.0", "summary": "Relays form submissions.",
        "description": "Relays each form submission to one destination.",
        "definition": {
            "parameters": {"type": "object", "properties": {}},
            "trigger": {"type": "event", "contract": "event.form_submitted", "versions": "^1"},
            "slots": {name: {"category": category, "narrow": narrow}},
            "reads": [{"contract": "event.form_submitted", "versions": "^1",
                       "fields": ["email", "form_id", "company"]}],
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

/// An instance of `template` bound at `slot` to a `connector` connection posting to `url`.
pub(crate) async fn instance(
    app: &TestApp,
    template: &str,
    slot: &str,
    connector: &str,
    url: &str,
) -> i64 {
    let token = app.token(PAT.0, &[PAT.1]);
    let conn = app
        .gql(
            &token,
            "mutation($c: String!, $n: String!, $s: JSON!) { createConnection(connector: $c, name: $n, settings: $s) { id } }",
            json!({ "c": connector, "n": format!("{template}-{connector}"), "s": { "url": url, "secret": SECRET } }),
        )
        .await;
    let conn = conn["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("createConnection: {conn}"));
    let made = app
        .gql(
            &token,
            INSTANTIATE,
            json!({ "t": template, "n": format!("{template} relay"), "c": [{ "slot": slot, "connection": conn }] }),
        )
        .await;
    assert_eq!(
        made["data"]["instantiateTemplate"]["status"], "active",
        "{made}"
    );
    made["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_default()
}

/// Hashed emails to an ad audience (a slot that may not narrow).
async fn ads_relay(app: &TestApp, url: &str) -> i64 {
    publish(
        app,
        "ads-relay",
        ("ads", "ads", false),
        json!([
            {"id": "hash", "type": "map", "reads": ["email", "form_id"],
             "config": {"fields": {"form_id": "form_id"},
                        "computed": {"email_sha256": "sha256(lower(event.email))"}}},
            {"id": "upload", "type": "deliver", "reads": ["form_id"],
             "config": {"slot": "ads", "object": "segment", "action": "upsert"}}]),
    )
    .await;
    instance(app, "ads-relay", "ads", "ads-audience", url).await
}

/// Form id and company to a webhook.
async fn hook_relay(app: &TestApp, url: &str) -> i64 {
    publish(
        app,
        "hook-relay",
        ("hook", "generic", false),
        json!([{"id": "forward", "type": "deliver", "reads": ["form_id", "company"],
                "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]),
    )
    .await;
    instance(app, "hook-relay", "hook", "webhook", url).await
}

async fn send(app: &TestApp, id: &str) {
    let key = write_key(app, &["event.form_submitted"]).await;
    let events = json!([{ "id": id, "type": "event.form_submitted", "occurred_at": "2026-11-27T09:30:00Z",
        "payload": { "email": format!("{id}@example.com"), "form_id": "ebook-2026", "source_category": "web",
                     "company": "Analytical Engines", "submitted_at": "2026-11-27T09:30:00Z" } }]);
    let (status, body) = post_events(app, &key, &events).await;
    assert!(status == 202 || status == 207, "{status} {body}");
}

async fn status_of(app: &TestApp, id: i64) -> String {
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

/// Every delivery of `instance`, oldest run first.
pub(crate) async fn deliveries_of(app: &TestApp, instance: i64) -> Vec<Value> {
    let carol = app.token("carol", &["compliance"]);
    let runs = app
        .gql(
            &carol,
            "query($i: Int!) { runs(instance: $i) { id eventId status } }",
            json!({ "i": instance }),
        )
        .await;
    let mut out = Vec::new();
    for r in runs["data"]["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .rev()
    {
        let body = app
            .gql(
                &carol,
                "query($r: Int!) { deliveries(run: $r) { id status error attempts record } }",
                json!({ "r": r["id"] }),
            )
            .await;
        for mut d in body["data"]["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            d["eventId"] = r["eventId"].clone();
            out.push(d);
        }
    }
    out
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    assert!(
        eventually(WAIT, &mut check).await,
        "timed out waiting until {what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidding_personal_data_to_ads_pauses_exactly_that_workflow_after_diff_warned() {
    let policies = copy_policies();
    let app = spawn_with(Setup {
        workers: true,
        policy_dir: Some(policies.path().to_path_buf()),
        execution: Some(api::config::ExecutionConfig {
            retry_schedule: "0s,3s,3s,3s,3s".into(),
            ..test_execution()
        }),
        ..Default::default()
    })
    .await;
    // The ad platform takes the first upload, then is briefly unavailable.
    let ads = Receiver::start(vec![Reply::Status(200), Reply::Status(503)]).await;
    let hook = Receiver::start(vec![]).await;
    let ads_id = ads_relay(&app, &ads.url("/audience")).await;
    let hook_id = hook_relay(&app, &hook.url("/hook")).await;

    send(&app, "one").await;
    until("both workflows delivered `one`", || async {
        ads.count() == 1 && hook.count() == 1
    })
    .await;
    let first = ads.seen()[0].body.to_string();
    assert!(
        first.contains("email_sha256"),
        "hashed email reaches ads today: {first}"
    );

    // Before the edit: `policy diff` names exactly the ads workflow, with the rule, and fails.
    let proposal = copy_policies();
    let edited = format!("{}{FORBID}\n", read(policies.path(), "policy.csv"));
    replace(proposal.path(), "policy.csv", &edited);
    let out = app.cli(&[
        "policy",
        "diff",
        "--against",
        &proposal.path().display().to_string(),
    ]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a blocked workflow fails the diff: {text}"
    );
    assert!(
        text.contains(&format!("instance {ads_id} 'ads-relay relay'")),
        "{text}"
    );
    assert!(text.contains("BLOCKED"), "{text}");
    assert!(
        text.contains("withheld: `email` (hashed) from slot ads") && text.contains(FORBID),
        "{text}"
    );
    assert!(
        !text.contains(&format!("instance {hook_id} ")),
        "only the affected workflow: {text}"
    );
    assert!(text.contains("1 blocked, 0 narrowed"), "{text}");

    // A delivery made under today's decision, waiting for its retry when the policy changes.
    send(&app, "two").await;
    until("the ads platform refused `two` once", || async {
        ads.count() == 2
    })
    .await;
    until("`two` reached the hook", || async { hook.count() == 2 }).await;

    replace(policies.path(), "policy.csv", &edited);
    until("the ads workflow is paused", || async {
        status_of(&app, ads_id).await == "paused"
    })
    .await;
    assert_eq!(
        status_of(&app, hook_id).await,
        "active",
        "the others keep running"
    );

    // Audited with the decision before and after and the rule; the owner is told.
    let log = app
        .gql(
            &app.token("carol", &["compliance"]),
            "{ auditLog(first: 100, filter: {action: \"instance.policy_pause\"}) { edges { node { target before after policyVersion } } } }",
            json!({}),
        )
        .await;
    let entries: Vec<Value> = log["data"]["auditLog"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e["target"], format!("instance:{ads_id}"));
    assert_eq!(e["before"]["status"], "active");
    assert_eq!(
        e["before"]["flows"]["ads"]["fields"]["email"], "hashed",
        "{e}"
    );
    assert_eq!(e["after"]["status"], "paused");
    assert_eq!(
        e["policyVersion"], e["after"]["policy_version"],
        "decided under the new version"
    );
    assert_ne!(e["before"]["policy_version"], e["after"]["policy_version"]);
    assert!(
        e["after"]["flows"]["ads"]["withheld"]["email"]["rule"]
            .as_str()
            .is_some_and(|r| r.contains(FORBID)),
        "{e}"
    );
    assert!(
        e["after"]["withheld"][0]["rule"]
            .as_str()
            .is_some_and(|r| r.contains(FORBID)),
        "{e}"
    );
    let notes = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            "{ myNotifications { topic target message } }",
            json!({}),
        )
        .await;
    let notes = notes["data"]["myNotifications"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        notes.iter().any(|n| n["topic"] == "policy"
            && n["target"] == format!("instance:{ads_id}")
            && n["message"]
                .as_str()
                .is_some_and(|m| m.contains("paused") && m.contains(FORBID))),
        "{notes:?}"
    );

    // The delivery made under the old decision is not sent: refused, naming the rule.
    until("`two` is refused for ads", || async {
        deliveries_of(&app, ads_id)
            .await
            .iter()
            .any(|d| d["eventId"] == "two" && d["status"] == "refused")
    })
    .await;
    let two = deliveries_of(&app, ads_id)
        .await
        .into_iter()
        .find(|d| d["eventId"] == "two")
        .unwrap_or_default();
    assert!(
        two["error"]
            .as_str()
            .is_some_and(|m| m.contains("email_sha256") && m.contains(FORBID)),
        "{two}"
    );

    // New submissions still reach the other workflow, and nothing more reaches ads.
    send(&app, "three").await;
    until("`three` reached the hook", || async { hook.count() == 3 }).await;
    app.drain(WAIT).await;
    assert_eq!(ads.count(), 2, "nothing left for ads after the edit");

    // The owner cannot resume it while the policy withholds the email.
    let resumed = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            "mutation($id: Int!) { resumeInstance(id: $id) { status } }",
            json!({ "id": ads_id }),
        )
        .await;
    assert_eq!(error_code(&resumed), Some("CONFLICT"), "{resumed}");
    assert!(error_message(&resumed).contains(FORBID), "{resumed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_the_template_lets_narrow_keeps_running_without_the_withheld_field() {
    let policies = copy_policies();
    let app = spawn_with(Setup {
        workers: true,
        policy_dir: Some(policies.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let hook = Receiver::start(vec![]).await;
    publish(
        &app,
        "narrow-relay",
        ("hook", "generic", true),
        json!([{"id": "forward", "type": "deliver", "reads": ["email", "form_id"],
                "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]),
    )
    .await;
    let id = instance(&app, "narrow-relay", "hook", "webhook", &hook.url("/hook")).await;
    send(&app, "n1").await;
    until("n1 arrived", || async { hook.count() == 1 }).await;
    assert!(hook.seen()[0].body.to_string().contains("n1@example.com"));

    let csv = read(policies.path(), "policy.csv").replace(
        "p, flows, flow:personal:generic, send, any, allow",
        "p, flows, flow:personal:generic, send, any, deny",
    );
    replace(policies.path(), "policy.csv", &csv);
    until("the workflow is narrowed", || async {
        !audit_entries(&app, "instance.policy_narrow")
            .await
            .is_empty()
    })
    .await;
    assert_eq!(status_of(&app, id).await, "active", "narrowed, not paused");
    send(&app, "n2").await;
    until("n2 arrived", || async { hook.count() == 2 }).await;
    let body = hook.seen()[1].body.to_string();
    assert!(
        body.contains("ebook-2026") && !body.contains("n2@example.com"),
        "sent without the email: {body}"
    );
}
