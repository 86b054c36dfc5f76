//! Erasing one person (issue 9, part 6): `eraseContact` removes them from the contact store,
//! events, runs, deliveries and dead letters; afterwards no query returns their email, while
//! everyone else's data stays. The answer lists what was removed and which destinations had
//! received the data; the audit entry names the person by a salted hash only.

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::policy_reach::{deliveries_of, instance, publish};
use crate::receiver::{Receiver, Reply};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;
use std::time::Duration;

const ADA: &str = "ada.lovelace@example.com";
const BOB: &str = "bob@example.com";
const WAIT: Duration = Duration::from_secs(20);
const ERASE: &str = "mutation($e: String, $id: Int) { eraseContact(email: $e, id: $id) {
    subject removed { what count } kept
    destinations { instance workflow template slot connector connection connectionName fields deliveries lastDeliveredAt } } }";

async fn mail_relay(app: &TestApp, key: &str, url: &str) -> i64 {
    publish(
        app,
        key,
        ("hook", "generic", false),
        json!([{"id": "forward", "type": "deliver", "reads": ["email", "form_id", "company"],
                "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]),
    )
    .await;
    instance(app, key, "hook", "webhook", url).await
}

async fn submit(app: &TestApp, id: &str, email: &str) {
    let key = write_key(app, &["event.form_submitted"]).await;
    let events = json!([{ "id": id, "type": "event.form_submitted", "occurred_at": "2026-11-27T09:30:00Z",
        "payload": { "email": email, "form_id": "ebook-2026", "source_category": "web",
                     "first_name": "Ada", "company": "Analytical Engines", "submitted_at": "2026-11-27T09:30:00Z" } }]);
    let (status, body) = post_events(app, &key, &events).await;
    assert!(status == 202 || status == 207, "{status} {body}");
}

async fn contact(app: &TestApp, external_id: &str, email: &str) -> i64 {
    entity::contact::ActiveModel {
        external_id: Set(external_id.into()),
        email: Set(Some(email.into())),
        traits: Set(json!({ "email": email, "first_name": "Ada", "plan": "trial" }).to_string()),
        updated_at: Set(entity::clock::now_string()),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .expect("contact")
    .id
}

/// Everything compliance can read about the workflows, their data and the audit log.
async fn everything(app: &TestApp, instances: &[i64]) -> String {
    let carol = app.token("carol", &["compliance"]);
    let mut out = String::new();
    for q in [
        "{ auditLog(first: 100) { edges { node { actor action target before after } } } }",
        "{ instances { id name params flows } }",
        "{ myNotifications { message } }",
    ] {
        out.push_str(&app.gql(&carol, q, json!({})).await.to_string());
    }
    for i in instances {
        out.push_str(&json!(deliveries_of(app, *i).await).to_string());
        let runs = app
            .gql(
                &carol,
                "query($i: Int!) { runs(instance: $i) { id eventId status step detail } }",
                json!({ "i": i }),
            )
            .await;
        out.push_str(&runs.to_string());
        let dead = app
            .gql(
                &carol,
                "query($i: Int!) { deadLetters(instance: $i) { id record error } }",
                json!({ "i": i }),
            )
            .await;
        out.push_str(&dead.to_string());
        for r in runs["data"]["runs"].as_array().cloned().unwrap_or_default() {
            if let Some(e) = r["eventId"].as_str() {
                let l = app
                    .gql(
                        &carol,
                        "query($e: String!) { lineage(event: $e) { hops { steps { detail } } } }",
                        json!({ "e": e }),
                    )
                    .await;
                out.push_str(&l.to_string());
            }
        }
    }
    out.to_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_erase_contact_no_query_returns_the_persons_email() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let hook = Receiver::start(vec![]).await;
    let gone = Receiver::start(vec![Reply::Status(410), Reply::Status(410)]).await;
    let delivered = mail_relay(&app, "mail-relay", &hook.url("/leads")).await;
    let dead = mail_relay(&app, "mail-dead", &gone.url("/leads")).await;
    let ada_contact = contact(&app, "u-ada", "Ada.Lovelace@Example.com").await;
    contact(&app, "u-bob", BOB).await;
    submit(&app, "ada-1", "Ada.Lovelace@example.com").await;
    submit(&app, "bob-1", BOB).await;
    let all_in = eventually(WAIT, || async {
        let d = deliveries_of(&app, dead).await;
        hook.count() == 2 && d.iter().filter(|x| x["status"] == "dead").count() == 2
    })
    .await;
    assert!(all_in, "deliveries: {:?}", deliveries_of(&app, dead).await);
    let before = everything(&app, &[delivered, dead]).await;
    assert!(
        before.contains(ADA),
        "compliance sees Ada's data before the erasure"
    );

    let carol = app.token("carol", &["compliance"]);
    let marketer = app
        .gql(&app.token("mia", &["marketer"]), ERASE, json!({ "e": ADA }))
        .await;
    assert_eq!(error_code(&marketer), Some("FORBIDDEN"), "{marketer}");

    let body = app
        .gql(&carol, ERASE, json!({ "e": "  ADA.Lovelace@example.com " }))
        .await;
    let e = &body["data"]["eraseContact"];
    assert!(body["errors"].is_null(), "{body}");
    let removed: std::collections::HashMap<String, i64> = e["removed"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r["what"].as_str().unwrap_or("").to_string(),
                r["count"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(removed["contacts"], 1, "{body}");
    assert_eq!(removed["events"], 1, "{body}");
    assert_eq!(removed["deliveries"], 1, "{body}");
    assert_eq!(removed["dead_letters"], 1, "{body}");
    let dests = e["destinations"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        dests.len(),
        1,
        "only the delivered one received the data: {body}"
    );
    assert_eq!(dests[0]["instance"], delivered);
    assert_eq!(dests[0]["connector"], "webhook");
    assert!(
        dests[0]["fields"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("email"))),
        "{body}"
    );
    let subject = e["subject"].as_str().unwrap_or_default().to_string();
    assert_eq!(subject.len(), 64, "a salted hash: {body}");
    assert_ne!(
        subject,
        entity::chain::sha256_hex(ADA.as_bytes()),
        "salted, not a bare SHA-256"
    );

    let after = everything(&app, &[delivered, dead]).await;
    assert!(
        !after.contains(ADA),
        "no query returns Ada's email any more: {after}"
    );
    assert!(after.contains(BOB), "everyone else's data stays");
    let lineage = app
        .gql(
            &carol,
            "query($e: String!) { contactLineage(email: $e) { json } }",
            json!({ "e": ADA }),
        )
        .await;
    assert_eq!(error_code(&lineage), Some("NOT_FOUND"), "{lineage}");
    let by_id = app.gql(&carol, ERASE, json!({ "id": ada_contact })).await;
    assert_eq!(
        error_code(&by_id),
        Some("NOT_FOUND"),
        "the contact row is gone: {by_id}"
    );

    let entries = audit_entries(&app, "contact.erase").await;
    let entry = entries
        .iter()
        .find(|x| x["outcome"] == "allowed")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(entry["target"], format!("contact:{subject}"));
    assert_eq!(entry["after"]["subject"], subject);

    // Erasing someone unknown (or already erased) is a clear error and changes nothing.
    let count = |app: &TestApp| {
        use sea_orm::{EntityTrait, PaginatorTrait};
        let db = app.state.db.clone();
        async move {
            entity::audit_entry::Entity::find()
                .count(&db)
                .await
                .unwrap_or(0)
        }
    };
    let n = count(&app).await;
    let again = app.gql(&carol, ERASE, json!({ "e": ADA })).await;
    assert_eq!(error_code(&again), Some("NOT_FOUND"), "{again}");
    assert!(
        error_message(&again).contains("no contact, event or delivery"),
        "{again}"
    );
    assert_eq!(count(&app).await, n, "nothing written");
    let bad = app.gql(&carol, ERASE, json!({ "e": "not an email" })).await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"), "{bad}");
    let verify = app.cli(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{verify:?}");
}
