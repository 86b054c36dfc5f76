//! Ownership scopes in the situations the issue names: a marketer may not rotate a platform
//! engineer's connection (refused, audited as denied, the secret unchanged); a marketer in
//! another team may not pause someone's workflow, a teammate may — with the team from a token
//! claim or from the `[teams]` configuration.

use crate::helpers::*;
use crate::ownership::{connection, instantiate};
use serde_json::{Value, json};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn sealed_secret(app: &TestApp, id: i64) -> String {
    use sea_orm::EntityTrait;
    entity::connection::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .expect("read connection")
        .expect("connection exists")
        .secret
}

#[tokio::test]
async fn a_marketer_cannot_rotate_a_platform_engineers_connection() {
    let app = spawn_app().await;
    let pat = app.token_in("pat", &["platform_engineer"], "platform");
    let alice = app.token_in("alice", &["marketer"], "marketing");
    let hook = json!({ "url": "https://hooks.example.com/in", "secret": SECRET });
    let id = connection(&app, &pat, "webhook", hook).await;
    let before = sealed_secret(&app, id).await;
    let rotate = "mutation($id: Int!) { rotateConnectionSecrets(id: $id, secrets: {secret: \"whsec_alicealicealicealicealice0000\"}) { id } }";

    let body = app.gql(&alice, rotate, json!({ "id": id })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert!(
        error_message(&body).contains("someone else's"),
        "the refusal says whose it is: {body}"
    );
    assert_eq!(
        sealed_secret(&app, id).await,
        before,
        "the secret is unchanged"
    );
    let denied: Vec<Value> = audit_entries(&app, "connection.rotate")
        .await
        .into_iter()
        .filter(|e| e["actor"] == "alice")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["outcome"], "denied");

    // The owner may: the same request from pat changes the sealed secret.
    let body = app.gql(&pat, rotate, json!({ "id": id })).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_ne!(
        sealed_secret(&app, id).await,
        before,
        "the owner rotated it"
    );
}

#[tokio::test]
async fn a_marketer_in_another_team_cannot_pause_a_workflow_and_a_teammate_can() {
    let dir = tempfile::tempdir().expect("config dir");
    let config = dir.path().join("switchyard.toml");
    // mia's team comes from configuration; the others' from their tokens' `team` claim.
    std::fs::write(&config, "[teams]\nmia = \"marketing\"\n").expect("write config");
    let app = spawn_with(Setup {
        config_file: Some(config),
        ..Default::default()
    })
    .await;
    let mia = app.token("mia", &["marketer"]);
    let crm = connection(
        &app,
        &mia,
        "hubspot",
        json!({ "access_token": "pat-eu1-1" }),
    )
    .await;
    let chat = json!({ "webhook_url": "https://hooks.slack.com/services/T0/B0/y" });
    let chat = connection(&app, &mia, "slack", chat).await;
    let bindings =
        json!([{ "slot": "crm", "connection": crm }, { "slot": "chat", "connection": chat }]);
    let params = json!({ "default_lead_status": "new" });
    let id = instantiate(&app, &mia, ("lead-capture", "EMEA forms", params), bindings).await;
    let pause = "mutation($id: Int!) { pauseInstance(id: $id) { status } }";
    let listed = "{ instances { id status } }";

    let max = app.token_in("max", &["marketer"], "emea-sales");
    let body = app.gql(&max, pause, json!({ "id": id })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let seen = app.gql(&max, listed, json!({})).await;
    assert_eq!(
        seen["data"]["instances"],
        json!([]),
        "not listed for another team: {seen}"
    );
    let denied = audit_entries(&app, "instance.pause").await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(
        (&denied[0]["actor"], &denied[0]["outcome"]),
        (&json!("max"), &json!("denied"))
    );

    let alice = app.token_in("alice", &["marketer"], "marketing");
    let seen = app.gql(&alice, listed, json!({})).await;
    assert_eq!(
        seen["data"]["instances"],
        json!([{ "id": id, "status": "active" }]),
        "{seen}"
    );
    let body = app.gql(&alice, pause, json!({ "id": id })).await;
    assert_eq!(body["data"]["pauseInstance"]["status"], "paused", "{body}");
    let resume = "mutation($id: Int!) { resumeInstance(id: $id) { status } }";
    let body = app.gql(&alice, resume, json!({ "id": id })).await;
    assert_eq!(body["data"]["resumeInstance"]["status"], "active", "{body}");
}
