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
