//! Suppression lists: managed through GraphQL (list, add, remove; audited without the email
//! itself), fed by ingestion (an `event.unsubscribed`, a Segment identify that unsubscribes or
//! withdraws consent), and honoured by every template that contacts people.

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::lifecycle_messaging::{
    alice, email_connection, identify, messaging, runs_by_event, send_views, view,
};
use crate::smtp::SmtpServer;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const ADD: &str = "mutation($l: String, $e: String!, $r: String) {
    addSuppression(list: $l, email: $e, reason: $r) { id list email reason source addedBy } }";
const REMOVE: &str =
    "mutation($l: String, $e: String!) { removeSuppression(list: $l, email: $e) { email source } }";
const LIST: &str = "query($l: String, $e: String) { suppressions(list: $l, email: $e) {
    list email reason source addedBy createdAt } }";

async fn listed(app: &TestApp, list: Option<&str>) -> Vec<Value> {
    let body = app
        .gql(
            &app.token("carol", &["compliance"]),
            LIST,
            json!({ "l": list }),
        )
        .await;
    body["data"]["suppressions"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("suppressions: {body}"))
}

#[tokio::test]
async fn lists_are_managed_through_graphql_and_every_change_is_audited() {
    let app = spawn_app().await;
    let added = app
        .gql(
            &alice(&app),
            ADD,
            json!({ "e": " Ana@Example.com ", "r": "asked by phone" }),
        )
        .await;
    let row = &added["data"]["addSuppression"];
    assert_eq!(row["list"], "global-unsubscribes", "{added}");
    assert_eq!(
        row["email"], "ana@example.com",
        "stored lower-case and trimmed"
    );
    assert_eq!(row["source"], "graphql");
    assert_eq!(row["addedBy"], "alice");
    // Adding again changes nothing.
    let again = app
        .gql(&alice(&app), ADD, json!({ "e": "ana@example.com" }))
        .await;
    assert_eq!(again["data"]["addSuppression"]["id"], row["id"], "{again}");
    assert_eq!(listed(&app, None).await.len(), 1);

    // Bad input changes nothing.
    let bad = app
        .gql(&alice(&app), ADD, json!({ "e": "not an email" }))
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"), "{bad}");
    let bad_list = app
        .gql(
            &alice(&app),
            ADD,
            json!({ "l": "Global Unsubscribes!", "e": "x@example.com" }),
        )
        .await;
    assert_eq!(error_code(&bad_list), Some("BAD_USER_INPUT"), "{bad_list}");

    // Reading shows emails: a viewer may not; a marketer may not take someone off.
    let viewer = app
        .gql(&app.token("vic", &["viewer"]), LIST, json!({}))
        .await;
    assert_eq!(error_code(&viewer), Some("FORBIDDEN"), "{viewer}");
    let off = app
        .gql(&alice(&app), REMOVE, json!({ "e": "ana@example.com" }))
        .await;
    assert_eq!(error_code(&off), Some("FORBIDDEN"), "{off}");
    let missing = app
        .gql(
            &app.token("carol", &["compliance"]),
            REMOVE,
            json!({ "e": "nobody@example.com" }),
        )
        .await;
    assert_eq!(error_code(&missing), Some("NOT_FOUND"), "{missing}");
    let removed = app
        .gql(
            &app.token("carol", &["compliance"]),
            REMOVE,
            json!({ "e": "ANA@example.com" }),
        )
        .await;
    assert_eq!(
        removed["data"]["removeSuppression"]["email"], "ana@example.com",
        "{removed}"
    );
    assert!(listed(&app, None).await.is_empty());

    let adds = audit_entries(&app, "suppression.add").await;
    let allowed: Vec<&Value> = adds.iter().filter(|e| e["outcome"] == "allowed").collect();
    assert_eq!(allowed.len(), 2, "{adds:?}");
    assert_eq!(allowed[0]["target"], "suppression:global-unsubscribes");
    let removes = audit_entries(&app, "suppression.remove").await;
    assert!(
        removes
            .iter()
            .any(|e| e["actor"] == "alice" && e["outcome"] == "denied"),
        "{removes:?}"
    );
    assert!(
        removes
            .iter()
            .any(|e| e["actor"] == "carol" && e["outcome"] == "allowed"),
        "{removes:?}"
    );
    let all = format!("{adds:?}{removes:?}");
    assert!(
        !all.to_lowercase().contains("ana@example.com"),
        "the audit log keeps no email: {all}"
    );
    let subject = entity::chain::sha256_hex(b"ana@example.com");
    assert!(all.contains(&subject), "it keeps the subject hash: {all}");
}

#[tokio::test]
async fn ingestion_feeds_the_lists() {
    let app = spawn_app().await;
    // An unsubscribe event, onto the list it names.
    let key = write_key(&app, &["event.unsubscribed"]).await;
    let (code, body) = post_events(
        &app,
        &key,
        &json!([
            {"id": "unsub-1", "type": "event.unsubscribed", "occurred_at": "2026-11-27T09:30:00Z",
             "payload": {"unsubscribe_id": "unsub-0001", "email": "Ben@Example.com",
                         "reason": "too_many_emails", "source": "email_footer",
                         "unsubscribed_at": "2026-11-27T09:30:00Z"}},
            {"id": "unsub-2", "type": "event.unsubscribed", "occurred_at": "2026-11-27T09:31:00Z",
             "payload": {"unsubscribe_id": "unsub-0002", "email": "cara@example.com",
                         "list": "sms-optouts", "channel": "sms",
                         "unsubscribed_at": "2026-11-27T09:31:00Z"}}]),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    // Identify: one withdraws consent, one is fine, one unsubscribes (contact 1.1).
    identify(
        &app,
        &[
            ("dora@example.com", "Dora", "lead", false),
            ("eve@example.com", "Eve", "lead", true),
        ],
    )
    .await;
    let wk = write_key(&app, &["contact"]).await;
    let resp = app
        .client
        .post(app.url("/v1/identify"))
        .basic_auth(&wk, Some(""))
        .json(&json!({"userId": "u-fay", "messageId": "fay-1", "timestamp": "2026-11-27T09:00:00Z",
                      "traits": {"email": "fay@example.com", "lifecycle_stage": "lead", "email_opt_in": true,
                                 "unsubscribed": true, "updated_at": "2026-11-27T09:00:00Z"}}))
        .send()
        .await
        .expect("identify");
    assert_eq!(resp.status().as_u16(), 200);
    let global = listed(&app, None).await;
    let emails: Vec<&str> = global.iter().filter_map(|r| r["email"].as_str()).collect();
    assert!(emails.contains(&"ben@example.com"), "{global:?}");
    assert!(emails.contains(&"dora@example.com"), "{global:?}");
    assert!(
        emails.contains(&"fay@example.com"),
        "contact 1.1 `unsubscribed`: {global:?}"
    );
    assert!(!emails.contains(&"eve@example.com"), "{global:?}");
    let ben = global
        .iter()
        .find(|r| r["email"] == "ben@example.com")
        .expect("ben");
    assert_eq!(ben["source"], "ingest:event");
    assert_eq!(ben["reason"], "too_many_emails");
    let dora = global
        .iter()
        .find(|r| r["email"] == "dora@example.com")
        .expect("dora");
    assert_eq!(dora["source"], "ingest:identify");
    let sms = listed(&app, Some("sms-optouts")).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0]["email"], "cara@example.com");

    // Consent given again lifts what an identify added, never an unsubscribe event.
    identify(
        &app,
        &[
            ("dora@example.com", "Dora", "lead", true),
            ("ben@example.com", "Ben", "lead", true),
        ],
    )
    .await;
    let global = listed(&app, None).await;
    let emails: Vec<&str> = global.iter().filter_map(|r| r["email"].as_str()).collect();
    assert!(!emails.contains(&"dora@example.com"), "{global:?}");
    assert!(emails.contains(&"ben@example.com"), "{global:?}");
}

#[tokio::test]
async fn a_person_put_on_the_list_is_not_contacted() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    identify(
        &app,
        &[
            ("ana@example.com", "Ana", "lead", true),
            ("ben@example.com", "Ben", "lead", true),
            ("gus@example.com", "Gus", "lead", true),
        ],
    )
    .await;
    let conn = email_connection(&app, smtp.port).await;
    let instance = messaging(&app, conn).await;
    // ben through GraphQL, gus through an unsubscribe event.
    let added = app
        .gql(&alice(&app), ADD, json!({ "e": "ben@example.com" }))
        .await;
    assert!(added["errors"].is_null(), "{added}");
    let key = write_key(&app, &["event.unsubscribed"]).await;
    let (code, body) = post_events(
        &app,
        &key,
        &json!([{"id": "unsub-gus", "type": "event.unsubscribed", "occurred_at": "2026-11-27T09:30:00Z",
                 "payload": {"unsubscribe_id": "unsub-gus1", "email": "gus@example.com",
                             "unsubscribed_at": "2026-11-27T09:30:00Z"}}]),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    send_views(
        &app,
        vec![
            view("v-ana", "ana@example.com"),
            view("v-ben", "ben@example.com"),
            view("v-gus", "gus@example.com"),
        ],
    )
    .await;
    assert!(eventually(WAIT, || async { !smtp.messages().is_empty() }).await);
    app.drain(WAIT).await;
    let got = smtp.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["rcpt_tos"], json!(["ana@example.com"]));
    let runs = runs_by_event(&app, instance).await;
    for e in ["v-ben", "v-gus"] {
        let r = runs
            .iter()
            .find(|r| r["eventId"] == e)
            .unwrap_or_else(|| panic!("{e}: {runs:?}"));
        assert_eq!(r["status"], "skipped", "{r}");
        assert!(
            r["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("global-unsubscribes"),
            "{r}"
        );
    }
}

/// Every built-in template that sends records to people's inboxes or ad audiences checks the
/// company-wide unsubscribe list before it does.
#[tokio::test]
async fn every_contacting_template_checks_the_unsubscribe_list() {
    let docs = api::catalog::seed::builtin().expect("built-in catalog");
    let mut checked = 0;
    for doc in docs
        .iter()
        .filter(|d| d.kind == api::catalog::definitions::Kind::Template)
    {
        let def = api::catalog::definitions::template(&doc.definition).expect("template");
        let contacting: Vec<usize> = def
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(s.kind, entity::documents::template::StepKind::Deliver(_))
                    && s.kind
                        .slot()
                        .and_then(|slot| def.slots.get(slot))
                        .is_some_and(|sl| matches!(sl.category.as_str(), "messaging" | "ads"))
            })
            .map(|(i, _)| i)
            .collect();
        let Some(first) = contacting.first() else {
            continue;
        };
        let suppressed = def.steps[..*first].iter().any(|s| {
            matches!(&s.kind, entity::documents::template::StepKind::Suppress(c)
                if c.list.as_deref() == Some("global-unsubscribes"))
        });
        assert!(
            suppressed,
            "{} {} contacts people without checking global-unsubscribes",
            doc.key, doc.version
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "lifecycle messaging and audience sync at least"
    );
}
