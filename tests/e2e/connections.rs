//! Connections: settings checked against the connector's schema, secrets encrypted at rest,
//! never returned or audited in clear, rotatable; who may connect follows the policy.

use crate::helpers::*;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

const CREATE: &str = "mutation($c: String!, $n: String!, $s: JSON!) { createConnection(connector: $c, name: $n, settings: $s) { id connector name owner settings secretFields } }";
const SECRET: &str = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng==";

async fn create(app: &TestApp, who: (&str, &str), connector: &str, settings: Value) -> Value {
    let token = app.token(who.0, &[who.1]);
    app.gql(
        &token,
        CREATE,
        json!({ "c": connector, "n": "partner hook", "s": settings }),
    )
    .await
}

async fn stored(app: &TestApp) -> Vec<entity::connection::Model> {
    entity::connection::Entity::find()
        .all(&app.state.db)
        .await
        .expect("query connections")
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_never_returned() {
    let app = spawn_app().await;
    let settings =
        json!({ "url": "https://hooks.example.com/in", "secret": SECRET, "timeout_seconds": 10 });
    let body = create(&app, ("mia", "marketer"), "webhook", settings).await;
    let c = &body["data"]["createConnection"];
    assert_eq!(c["settings"]["secret"], "********", "{body}");
    assert_eq!(c["settings"]["url"], "https://hooks.example.com/in");
    assert_eq!(c["secretFields"], json!(["secret"]));
    assert!(!body.to_string().contains(SECRET));

    let rows = stored(&app).await;
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].settings.contains(SECRET) && !rows[0].secret.contains(SECRET),
        "stored sealed"
    );
    let key_hex = std::fs::read_to_string(app.dir.path().join("secret.key")).expect("dev key");
    let key: [u8; 32] = hex::decode(key_hex.trim())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let opened = worker::secrets::SecretBox::from_key(&key)
        .open(&rows[0].secret)
        .expect("open");
    let opened: Value = serde_json::from_slice(&opened).expect("json");
    assert_eq!(
        opened["secret"], SECRET,
        "the sealed value decrypts with the data-dir key"
    );

    let compliance = app.token("carol", &["compliance"]);
    let log = app
        .gql(
            &compliance,
            "{ auditLog(filter: {action: \"connection.create\"}) { edges { node { after } } } }",
            json!({}),
        )
        .await;
    assert!(
        log.to_string().contains("********") && !log.to_string().contains(SECRET),
        "{log}"
    );
    let listed = app
        .gql(
            &app.token("mia", &["marketer"]),
            "{ connections { name settings } }",
            json!({}),
        )
        .await;
    assert!(!listed.to_string().contains(SECRET), "{listed}");
    assert_eq!(listed["data"]["connections"][0]["name"], "partner hook");
}

#[tokio::test]
async fn invalid_settings_name_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let body = create(
        &app,
        ("mia", "marketer"),
        "webhook",
        json!({ "url": "http://plain.example.com", "secret": SECRET }),
    )
    .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "settings.url");
    let body = create(
        &app,
        ("mia", "marketer"),
        "webhook",
        json!({ "url": "https://x.example.com", "secret": "not-a-whsec" }),
    )
    .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "settings.secret");
    assert!(
        !error_message(&body).contains("not-a-whsec"),
        "a bad secret is never echoed: {body}"
    );
    let body = create(
        &app,
        ("mia", "marketer"),
        "webhook",
        json!({ "secret": SECRET }),
    )
    .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let count = entity::connection::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn who_may_connect_follows_the_policy_and_refusals_are_audited() {
    let app = spawn_app().await;
    let body = create(&app, ("mia", "marketer"), "postgres", json!({})).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let compliance = app.token("carol", &["compliance"]);
    let log = app.gql(&compliance, "{ auditLog(filter: {action: \"connection.create\", outcome: \"denied\"}) { edges { node { actor } } } }", json!({})).await;
    assert_eq!(
        log["data"]["auditLog"]["edges"][0]["node"]["actor"], "mia",
        "{log}"
    );
}

#[tokio::test]
async fn secrets_can_be_rotated() {
    let app = spawn_app().await;
    let settings = json!({ "url": "https://hooks.example.com/in", "secret": SECRET });
    let body = create(&app, ("mia", "marketer"), "webhook", settings).await;
    let id = body["data"]["createConnection"]["id"].as_i64().expect("id");
    let before = stored(&app).await[0].secret.clone();
    let token = app.token("mia", &["marketer"]);
    let rotated = app
        .gql(&token, "mutation($id: Int!, $s: JSON!) { rotateConnectionSecrets(id: $id, secrets: $s) { settings } }",
            json!({ "id": id, "s": { "secret": "whsec_bmV3LXNpZ25pbmcta2V5LTY1NDMyMQ==" } }))
        .await;
    assert_eq!(
        rotated["data"]["rotateConnectionSecrets"]["settings"]["secret"], "********",
        "{rotated}"
    );
    assert_ne!(stored(&app).await[0].secret, before);
    let bad = app
        .gql(&token, "mutation($id: Int!, $s: JSON!) { rotateConnectionSecrets(id: $id, secrets: $s) { id } }",
            json!({ "id": id, "s": { "url": "https://elsewhere.example.com" } }))
        .await;
    assert_eq!(
        bad["errors"][0]["extensions"]["field"], "secrets.url",
        "{bad}"
    );
}

const DELETE: &str = "mutation($id: Int!) { deleteConnection(id: $id) { id name } }";
const LIST: &str = "{ connections { id owner ownerTeam } }";

/// Connection ids `token` is shown.
async fn listed(app: &TestApp, token: &str) -> Vec<i64> {
    let body = app.gql(token, LIST, json!({})).await;
    body["data"]["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("connections: {body}"))
        .iter()
        .filter_map(|c| c["id"].as_i64())
        .collect()
}

#[tokio::test]
async fn listing_shows_only_the_connections_the_caller_may_use() {
    let app = spawn_app().await;
    let mia = app.token_in("mia", &["marketer"], "marketing");
    let settings = json!({ "url": "https://hooks.example.com/in", "secret": SECRET });
    let body = app
        .gql(
            &mia,
            CREATE,
            json!({ "c": "webhook", "n": "mia's hook", "s": settings }),
        )
        .await;
    let id = body["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"));

    assert_eq!(listed(&app, &mia).await, vec![id], "the owner");
    let alice = app.token_in("alice", &["marketer"], "marketing");
    assert_eq!(listed(&app, &alice).await, vec![id], "a teammate");
    let body = app.gql(&alice, LIST, json!({})).await;
    assert_eq!(body["data"]["connections"][0]["ownerTeam"], "marketing");
    let max = app.token_in("max", &["marketer"], "emea-sales");
    assert!(
        listed(&app, &max).await.is_empty(),
        "another team's marketer"
    );
    let ada = app.token_in("ada", &["platform_admin"], "platform");
    assert_eq!(listed(&app, &ada).await, vec![id], "a platform admin");
    let vic = app.token_in("vic", &["viewer"], "marketing");
    assert!(listed(&app, &vic).await.is_empty(), "a viewer uses none");
}

#[tokio::test]
async fn a_connection_bound_to_a_live_workflow_is_not_deleted_until_it_is_retired() {
    let app = spawn_app().await;
    let mia = app.token_in("mia", &["marketer"], "marketing");
    let crm =
        crate::ownership::connection(&app, &mia, "hubspot", json!({ "access_token": "pat-x" }))
            .await;
    let chat = json!({ "webhook_url": "https://hooks.slack.com/services/T0/B0/z" });
    let chat = crate::ownership::connection(&app, &mia, "slack", chat).await;
    let bindings =
        json!([{ "slot": "crm", "connection": crm }, { "slot": "chat", "connection": chat }]);
    let params = json!({ "default_lead_status": "new" });
    let instance = crate::ownership::instantiate(
        &app,
        &mia,
        ("lead-capture", "Spring forms", params),
        bindings,
    )
    .await;

    let max = app.token_in("max", &["marketer"], "emea-sales");
    let body = app.gql(&max, DELETE, json!({ "id": crm })).await;
    assert_eq!(
        error_code(&body),
        Some("FORBIDDEN"),
        "not the owner: {body}"
    );

    let body = app.gql(&mia, DELETE, json!({ "id": crm })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    assert!(
        error_message(&body).contains("Spring forms"),
        "names the workflow: {body}"
    );
    assert!(listed(&app, &mia).await.contains(&crm), "still there");

    let retire = "mutation($id: Int!) { retireInstance(id: $id) { status } }";
    let body = app.gql(&mia, retire, json!({ "id": instance })).await;
    assert_eq!(
        body["data"]["retireInstance"]["status"], "retired",
        "{body}"
    );
    let body = app.gql(&mia, DELETE, json!({ "id": crm })).await;
    assert_eq!(body["data"]["deleteConnection"]["id"], crm, "{body}");
    assert!(!listed(&app, &mia).await.contains(&crm), "gone");
    assert!(
        stored(&app).await.iter().all(|c| c.id != crm),
        "deleted from the database"
    );

    let entries = audit_entries(&app, "connection.delete").await;
    let outcomes: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![("max", "denied"), ("mia", "allowed")],
        "{entries:?}"
    );
    assert!(
        !entries[1].to_string().contains("pat-x"),
        "no secret in the audit log"
    );
}
