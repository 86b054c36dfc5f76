//! Ownership scopes as callers meet them: every mutation of the schema, called with a token of
//! every role on objects another user in another team owns, answers FORBIDDEN exactly when
//! `policies/tests.csv` says the policy denies it. A mutation missing from the walk's table fails
//! the test, so no new mutation slips through unchecked.

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::receiver::Receiver;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

pub const ROLES: &[&str] = &[
    "viewer",
    "marketer",
    "sales_ops",
    "data_engineer",
    "platform_engineer",
    "platform_admin",
    "compliance",
    "approver",
    "operator",
];
/// The owner of everything the walk touches: another user, in another team.
pub const OWNER: (&str, &str, &str) = ("owen", "platform_engineer", "elsewhere");
const WALKERS_TEAM: &str = "walkers";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Publishes `gated-walk` as `token`: every form submission waits for an approver, then goes to
/// a webhook.
pub async fn publish_gated(app: &TestApp, token: &str) {
    let input = json!({
        "key": "gated-walk", "name": "Gated walk", "category": "approvals",
        "owner": "platform-integrations", "version": "1.0.0",
        "summary": "Forward a submission once a person approved it.",
        "description": "Each submission waits for an approver before it is sent on.",
        "definition": {
            "parameters": {"type": "object", "properties": {}},
            "trigger": {"type": "event", "contract": "event.form_submitted", "versions": "^1"},
            "slots": {"hook": {"category": "generic"}},
            "reads": [{"contract": "event.form_submitted", "versions": "^1",
                       "fields": ["email", "form_id", "company"]}],
            "steps": [
                {"id": "sign_off", "type": "approve", "config": {"reason": "needs sign-off"}},
                {"id": "forward", "type": "deliver", "reads": ["email", "form_id", "company"],
                 "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]
        }
    });
    let body = app
        .gql(
            token,
            "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
            json!({ "i": input }),
        )
        .await;
    assert!(body["errors"].is_null(), "publish gated-walk: {body}");
}

/// Creates a connection as `token`; returns its id.
pub async fn connection(app: &TestApp, token: &str, connector: &str, settings: Value) -> i64 {
    let body = app
        .gql(
            token,
            "mutation($c: String!, $n: String!, $s: JSON!) { createConnection(connector: $c, name: $n, settings: $s) { id } }",
            json!({ "c": connector, "n": format!("{connector}-{}", uuid::Uuid::new_v4().simple()), "s": settings }),
        )
        .await;
    body["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("createConnection {connector}: {body}"))
}

/// Instantiates `template` named `name` with `bindings` as `token`; returns the id.
pub async fn instantiate(
    app: &TestApp,
    token: &str,
    (template, name, params): (&str, &str, Value),
    bindings: Value,
) -> i64 {
    let body = app
        .gql(
            token,
            "mutation($t: String!, $n: String!, $p: JSON!, $c: [SlotBinding!]!) {
                instantiateTemplate(template: $t, name: $n, params: $p, connections: $c) { id } }",
            json!({ "t": template, "n": name, "p": params, "c": bindings }),
        )
        .await;
    body["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("instantiate {template}: {body}"))
}

/// The objects of the walk, all owned by [`OWNER`].
struct Owned {
    webhook: i64,
    hubspot: i64,
    slack: i64,
    instance: i64,
    run: i64,
    alert: i64,
}

async fn owned_objects(app: &TestApp, rx: &Receiver) -> Owned {
    let owner = app.token_in(OWNER.0, &[OWNER.1], OWNER.2);
    publish_gated(app, &owner).await;
    let hook = json!({ "url": rx.url("/walk"), "secret": SECRET });
    let webhook = connection(app, &owner, "webhook", hook).await;
    let hubspot = connection(
        app,
        &owner,
        "hubspot",
        json!({ "access_token": "pat-eu1-0" }),
    )
    .await;
    let slack = connection(
        app,
        &owner,
        "slack",
        json!({ "webhook_url": "https://hooks.slack.com/services/T0/B0/x" }),
    )
    .await;
    let binding = json!([{ "slot": "hook", "connection": webhook }]);
    let instance = instantiate(
        app,
        &owner,
        ("gated-walk", "walk", json!({})),
        binding.clone(),
    )
    .await;
    // A second workflow on the same connection keeps it live whatever the walk does.
    instantiate(app, &owner, ("gated-walk", "keeper", json!({})), binding).await;
    let key = write_key(app, &["event.form_submitted"]).await;
    let event = crate::ingest::form_submitted("walk-1", "web");
    let (status, body) = post_events(app, &key, &json!([event])).await;
    assert_eq!(status, 202, "{body}");
    let runs = "query($i: Int!) { runs(instance: $i) { id status } }";
    let parked = eventually(Duration::from_secs(20), || async {
        let body = app.gql(&owner, runs, json!({ "i": instance })).await;
        body["data"]["runs"][0]["status"] == "waiting_approval"
    })
    .await;
    assert!(parked, "the walk needs a run waiting for approval");
    let body = app.gql(&owner, runs, json!({ "i": instance })).await;
    let run = body["data"]["runs"][0]["id"].as_i64();
    // Three hours without a submission (an injected clock): the walk's workflow is late.
    let engine = app.state.engine.as_ref().expect("workers");
    let later = chrono::Utc::now() + chrono::Duration::hours(3);
    worker::alerts::evaluate(engine, later)
        .await
        .expect("evaluate alerts");
    let alert = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::alert::Entity::find()
            .filter(entity::alert::Column::InstanceId.eq(instance))
            .one(&app.state.db)
            .await
            .expect("alerts")
            .map(|a| a.id)
            .expect("the walk needs an alert on its workflow")
    };
    Owned {
        webhook,
        hubspot,
        slack,
        instance,
        run: run.unwrap_or_default(),
        alert,
    }
}

/// One mutation of the walk: the policy questions it asks, and how to call it.
struct Entry {
    /// (object, action, relation) rows of tests.csv; allowed only if all are.
    checks: Vec<(&'static str, &'static str, &'static str)>,
    query: &'static str,
    variables: Value,
}

fn entry(
    checks: &[(&'static str, &'static str, &'static str)],
    query: &'static str,
    variables: Value,
) -> Entry {
    Entry {
        checks: checks.to_vec(),
        query,
        variables,
    }
}

const WALK_PUBLISH: &str = "ownership-walk";

fn publish_input() -> Value {
    json!({ "key": WALK_PUBLISH, "name": "Walk", "summary": "s", "description": "d",
            "category": "generic", "owner": "walkers", "version": "1.0.0", "definition": {} })
}

/// Mutation name → entry, for `role`'s call (names that must be unique carry the role).
fn table(o: &Owned, role: &str) -> HashMap<&'static str, Entry> {
    let other = "other";
    let workflow = |act: &'static str| vec![("workflow:gated-walk", act, other)];
    let id = json!({ "id": o.instance });
    let run = json!({ "id": o.run });
    HashMap::from([
        ("publishConnectorVersion", entry(&[("catalog:connector:ownership-walk", "publish", "none")],
            "mutation($i: PublishInput!) { publishConnectorVersion(input: $i) { version } }", json!({ "i": publish_input() }))),
        ("publishTemplateVersion", entry(&[("catalog:template:ownership-walk", "publish", "none")],
            "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }", json!({ "i": publish_input() }))),
        ("publishContractVersion", entry(&[("catalog:contract:ownership-walk", "publish", "none")],
            "mutation($i: PublishInput!) { publishContractVersion(input: $i) { version } }", json!({ "i": publish_input() }))),
        ("setLifecycle", entry(&[("catalog:template:ownership-walk", "lifecycle", "none")],
            "mutation { setLifecycle(kind: TEMPLATE, key: \"ownership-walk\", version: \"1.0.0\", lifecycle: DEPRECATED) { version } }", json!({}))),
        ("publishDeprecationNotice", entry(&[("catalog:template:ownership-walk", "lifecycle", "none")],
            "mutation($i: DeprecationInput!) { publishDeprecationNotice(input: $i) { key } }",
            json!({ "i": { "kind": "TEMPLATE", "key": WALK_PUBLISH, "version": "1.0.0",
                           "sunsetAt": "2099-01-01T00:00:00Z", "notes": "walk" } }))),
        ("createConnection", entry(&[("catalog:connector:webhook", "connect", "none")],
            "mutation($n: String!) { createConnection(connector: \"webhook\", name: $n, settings: {}) { id } }",
            json!({ "n": format!("walk-{role}") }))),
        ("addSuppression", entry(&[("suppression:global-unsubscribes", "add", "none")],
            "mutation($e: String!) { addSuppression(email: $e) { id } }",
            json!({ "e": format!("walk-{role}@example.com") }))),
        ("removeSuppression", entry(&[("suppression:global-unsubscribes", "remove", "none")],
            "mutation { removeSuppression(email: \"walk-nobody@example.com\") { id } }", json!({}))),
        ("createWriteKey", entry(&[("ingest:write-keys", "create", "none")],
            "mutation($n: String!) { createWriteKey(name: $n, eventTypes: [\"event.form_submitted\"]) { key } }",
            json!({ "n": format!("walk-{role}") }))),
        ("rotateConnectionSecrets", entry(&[("connection:webhook", "rotate", other)],
            "mutation($id: Int!) { rotateConnectionSecrets(id: $id, secrets: {secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}) { id } }",
            json!({ "id": o.webhook }))),
        ("deleteConnection", entry(&[("connection:webhook", "delete", other)],
            "mutation($id: Int!) { deleteConnection(id: $id) { id } }", json!({ "id": o.webhook }))),
        ("instantiateTemplate", entry(
            &[("catalog:template:lead-capture", "instantiate", "none"),
              ("connection:hubspot", "use", other), ("connection:slack", "use", other)],
            "mutation($n: String!, $c: [SlotBinding!]!) { instantiateTemplate(template: \"lead-capture\", name: $n,
                params: {default_lead_status: \"new\"}, connections: $c) { id } }",
            json!({ "n": format!("walk-{role}"), "c": [{ "slot": "crm", "connection": o.hubspot },
                                                       { "slot": "chat", "connection": o.slack }] }))),
        ("approveInstance", entry(&[("catalog:template:gated-walk", "approve", other)],
            "mutation($id: Int!) { approveInstance(id: $id) { id } }", id.clone())),
        ("pauseInstance", Entry { checks: workflow("pause"),
            query: "mutation($id: Int!) { pauseInstance(id: $id) { id } }", variables: id.clone() }),
        ("resumeInstance", Entry { checks: workflow("resume"),
            query: "mutation($id: Int!) { resumeInstance(id: $id) { id } }", variables: id.clone() }),
        ("retireInstance", Entry { checks: workflow("retire"),
            query: "mutation($id: Int!) { retireInstance(id: $id) { id } }", variables: id.clone() }),
        ("migrateInstance", entry(
            &[("workflow:gated-walk", "retire", other), ("catalog:template:gated-walk", "instantiate", "none")],
            "mutation($id: Int!) { migrateInstance(instance: $id, toVersion: \"9.9.9\") { applied } }", id.clone())),
        ("startRun", Entry { checks: workflow("run"),
            query: "mutation($id: Int!) { startRun(instance: $id) { id } }", variables: id.clone() }),
        ("runInstanceNow", Entry { checks: workflow("run"),
            query: "mutation($id: Int!) { runInstanceNow(id: $id) }", variables: id }),
        ("replayDeadLetters", Entry { checks: workflow("replay"),
            query: "mutation($i: Int!) { replayDeadLetters(instance: $i) { delivery } }",
            variables: json!({ "i": o.instance }) }),
        ("approveRun", Entry { checks: workflow("approve_run"),
            query: "mutation($id: Int!) { approveRun(id: $id) { id } }", variables: run.clone() }),
        ("rejectRun", Entry { checks: workflow("approve_run"),
            query: "mutation($id: Int!) { rejectRun(id: $id) { id } }", variables: run }),
        ("acknowledgeAlert", Entry { checks: workflow("alert"),
            query: "mutation($id: Int!) { acknowledgeAlert(id: $id) { id } }", variables: json!({ "id": o.alert }) }),
        ("snoozeAlert", Entry { checks: workflow("alert"),
            query: "mutation($id: Int!) { snoozeAlert(id: $id, minutes: 30) { id } }", variables: json!({ "id": o.alert }) }),
        ("rebindInstance", Entry { checks: workflow("rebind"),
            query: "mutation($id: Int!, $c: [SlotBinding!]!) { rebindInstance(id: $id, connections: $c) { id } }",
            variables: json!({ "id": o.instance, "c": [{ "slot": "hook", "connection": o.webhook }] }) }),
        ("setRetention", entry(&[("retention:settings", "set", "none")],
            "mutation { setRetention(dataClass: EVENTS, days: 400) { days } }", json!({}))),
        ("eraseContact", entry(&[("contact:data", "erase", "none")],
            "mutation { eraseContact(email: \"nobody-walks@example.com\") { subject } }", json!({}))),
    ])
}

/// `tests.csv` as (subject, object, action, relation) → allowed.
pub fn expectations() -> HashMap<(String, String, String, String), bool> {
    let text = std::fs::read_to_string(policy_dir().join("tests.csv")).expect("tests.csv");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("subject,"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            assert_eq!(f.len(), 5, "tests.csv row: {l}");
            let key = (f[0].into(), f[1].into(), f[2].into(), f[3].into());
            (key, f[4] == "allow")
        })
        .collect()
}

async fn mutation_names(app: &TestApp) -> Vec<String> {
    let token = app.token("vic", &["viewer"]);
    let body = app
        .gql(
            &token,
            "{ __schema { mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    body["data"]["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("introspection: {body}"))
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn every_mutation_answers_every_role_as_tests_csv_says_on_someone_elses_objects() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![]).await;
    let owned = owned_objects(&app, &rx).await;
    let names = mutation_names(&app).await;
    let expected = expectations();
    let known = table(&owned, "viewer");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !known.contains_key(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "mutations the walk does not cover (add them to its table and tests.csv): {missing:?}"
    );
    let mut wrong = Vec::new();
    let mut calls = 0;
    for name in &names {
        for role in ROLES {
            let table = table(&owned, role);
            let e = &table[name.as_str()];
            let allowed = e.checks.iter().all(|(obj, act, rel)| {
                let key = (
                    format!("role:{role}"),
                    obj.to_string(),
                    act.to_string(),
                    rel.to_string(),
                );
                *expected.get(&key).unwrap_or_else(|| {
                    panic!("tests.csv has no row `role:{role}, {obj}, {act}, {rel}` for {name}")
                })
            });
            let token = app.token_in(&format!("walker-{role}"), &[role], WALKERS_TEAM);
            let body = app.gql(&token, e.query, e.variables.clone()).await;
            calls += 1;
            let forbidden = error_code(&body) == Some("FORBIDDEN");
            if forbidden == allowed {
                wrong.push(format!(
                    "{name} as {role}: expected {}, got {body}",
                    if allowed { "allowed" } else { "FORBIDDEN" }
                ));
            }
        }
    }
    assert_eq!(calls, names.len() * ROLES.len());
    assert!(
        wrong.is_empty(),
        "{} answers differ from tests.csv:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
