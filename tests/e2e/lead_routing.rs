//! The built-in lead-routing and demo fast-lane templates end to end, against a local stand-in
//! for Salesforce (sObject upsert by external id) and Slack: every routing rule lands its lead in
//! its queue (`Owner_Queue__c`); a lead the CRM has not accepted within the SLA moves to the
//! fallback queue and the sales chat hears which team missed it.

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::receiver::{Receiver, Reply};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn sam(app: &TestApp) -> String {
    app.token_in("sam", &["sales_ops"], "sales")
}

async fn connection(app: &TestApp, connector: &str, settings: Value) -> i64 {
    let body = app
        .gql(
            &sam(app),
            "mutation($c: String!, $n: String!, $s: JSON!) { createConnection(connector: $c, name: $n, settings: $s) { id } }",
            json!({ "c": connector, "n": format!("{connector} for sales"), "s": settings }),
        )
        .await;
    body["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{connector}: {body}"))
}

/// A workflow of `template` for sam, to a Salesforce stand-in at `crm` and Slack at `chat`.
async fn routing(
    app: &TestApp,
    template: &str,
    params: Value,
    crm: &Receiver,
    chat: &Receiver,
) -> i64 {
    let sf = connection(
        app,
        "salesforce",
        json!({ "instance_url": crm.url(""), "access_token": "00Dxx!token",
                "sobject": "Lead", "external_id_field": "Switchyard_Key__c" }),
    )
    .await;
    let slack = connection(app, "slack", json!({ "webhook_url": chat.url("/chat") })).await;
    let made = app
        .gql(
            &sam(app),
            "mutation($t: String!, $p: JSON!, $c: [SlotBinding!]!) { instantiateTemplate(template: $t, name: \"Routing\", params: $p, connections: $c) { id status templateVersion } }",
            json!({ "t": template, "p": params,
                    "c": [{ "slot": "crm", "connection": sf }, { "slot": "chat", "connection": slack }] }),
        )
        .await;
    assert_eq!(
        made["data"]["instantiateTemplate"]["status"], "active",
        "{made}"
    );
    made["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .expect("instance")
}

/// An enterprise account in the contact store (accounts are contacts `account:<domain>`).
async fn enterprise_account(app: &TestApp, domain: &str) {
    use sea_orm::{ActiveModelTrait, Set};
    entity::contact::ActiveModel {
        external_id: Set(format!("account:{domain}")),
        email: Set(None),
        traits: Set(
            json!({"tier": "enterprise", "owner": "ent-team", "is_customer": true}).to_string(),
        ),
        updated_at: Set(entity::clock::now_string()),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .expect("account");
}

fn form(id: &str, email: &str, category: &str, country: &str, domain: &str) -> Value {
    json!({
        "id": id, "type": "event.form_submitted", "occurred_at": "2026-11-27T09:30:00Z",
        "payload": {"email": email, "form_id": "contact-sales", "source_category": category,
                    "country": country, "company": format!("Co {id}"), "company_domain": domain,
                    "first_name": "Lee", "submitted_at": "2026-11-27T09:30:00Z"}
    })
}

async fn runs(app: &TestApp, instance: i64) -> Vec<Value> {
    let body = app
        .gql(
            &app.token("carol", &["compliance"]),
            "query($i: Int!) { runs(instance: $i) { id eventId status step detail } }",
            json!({ "i": instance }),
        )
        .await;
    body["data"]["runs"].as_array().cloned().unwrap_or_default()
}

async fn deliveries(app: &TestApp, run: i64) -> Vec<Value> {
    let body = app
        .gql(
            &app.token("carol", &["compliance"]),
            "query($r: Int!) { deliveries(run: $r) { step status record } }",
            json!({ "r": run }),
        )
        .await;
    body["data"]["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until every run of `instance` is in `status`; `n` runs expected.
async fn all_runs(app: &TestApp, instance: i64, n: usize, status: &str) -> Vec<Value> {
    let ok = eventually(WAIT, || async {
        let rs = runs(app, instance).await;
        rs.len() == n && rs.iter().all(|r| r["status"] == status)
    })
    .await;
    let rs = runs(app, instance).await;
    assert!(ok, "expected {n} runs {status}: {rs:?}");
    rs
}

/// The SLA's time passes: the resume jobs of `instance`'s runs become due now.
async fn sla_passes(app: &TestApp, instance: i64) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let ids: Vec<i64> = runs(app, instance)
        .await
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    for id in ids {
        entity::work_queue::Entity::update_many()
            .col_expr(
                entity::work_queue::Column::RunAt,
                Expr::value(entity::clock::now_ms()),
            )
            .filter(entity::work_queue::Column::DedupeKey.starts_with(format!("continue:{id}:")))
            .exec(&app.state.db)
            .await
            .expect("move the resume job");
    }
    if let Some(engine) = &app.state.engine {
        engine.wake.all();
    }
}

/// Queue each lead reached at Salesforce, by the external id in the path.
fn queues(crm: &Receiver) -> Vec<(String, String)> {
    crm.seen()
        .iter()
        .map(|s| {
            (
                s.path.rsplit('/').next().unwrap_or_default().to_string(),
                s.body["Owner_Queue__c"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_routing_rule_reaches_its_queue_and_the_crm_accepts_within_the_sla() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let crm = Receiver::start(vec![]).await;
    let chat = Receiver::start(vec![]).await;
    enterprise_account(&app, "bigco.com").await;
    let instance = routing(
        &app,
        "lead-routing",
        json!({ "emea_countries": ["DE", "FR"], "apac_countries": ["JP"], "sla_minutes": 15 }),
        &crm,
        &chat,
    )
    .await;
    let cases = [
        (
            "r-ent",
            "ent@bigco.com",
            "web",
            "US",
            "bigco.com",
            "enterprise-account-team",
        ),
        (
            "r-partner",
            "p@partner.io",
            "partner",
            "US",
            "partner.io",
            "partner-desk",
        ),
        (
            "r-event",
            "e@fair.io",
            "event",
            "US",
            "fair.io",
            "field-events",
        ),
        (
            "r-emea",
            "de@shop.de",
            "web",
            "DE",
            "shop.de",
            "web-inbound-emea",
        ),
        (
            "r-apac",
            "jp@shop.jp",
            "web",
            "JP",
            "shop.jp",
            "web-inbound-apac",
        ),
        (
            "r-amer",
            "us@shop.com",
            "web",
            "US",
            "shop.com",
            "web-inbound-amer",
        ),
    ];
    let key = write_key(&app, &["event.form_submitted"]).await;
    let events: Vec<Value> = cases
        .iter()
        .map(|(id, email, cat, country, domain, _)| form(id, email, cat, country, domain))
        .collect();
    let (code, body) = post_events(&app, &key, &Value::Array(events)).await;
    assert_eq!(code, 202, "{body}");
    // Each run waits out its SLA after the CRM upsert.
    let parked = all_runs(&app, instance, cases.len(), "waiting").await;
    assert!(
        parked.iter().all(|r| r["step"] == "accept_within_sla"),
        "{parked:?}"
    );
    assert!(eventually(WAIT, || async { crm.count() >= cases.len() }).await);
    let reached = queues(&crm);
    for (id, email, _, _, _, queue) in &cases {
        let sent = crm
            .seen()
            .into_iter()
            .find(|s| s.body["Email"] == *email)
            .unwrap_or_else(|| panic!("{id} never reached the CRM: {reached:?}"));
        assert_eq!(sent.body["Owner_Queue__c"], *queue, "{id}: {}", sent.body);
        assert!(
            sent.path
                .starts_with("/services/data/v60.0/sobjects/Lead/Switchyard_Key__c/"),
            "{}",
            sent.path
        );
        assert_eq!(
            sent.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer 00Dxx!token")
        );
    }
    // Only the partner lead tells the partner desk.
    assert!(eventually(WAIT, || async { chat.count() >= 1 }).await);
    app.drain(WAIT).await;
    let notices: Vec<String> = chat
        .seen()
        .iter()
        .map(|s| s.body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        notices,
        ["New partner lead: Co r-partner (US), assigned to partner-desk in the CRM."]
    );

    // The SLA passes with every lead accepted: nothing moves.
    sla_passes(&app, instance).await;
    let done = all_runs(&app, instance, cases.len(), "succeeded").await;
    app.drain(WAIT).await;
    assert_eq!(
        crm.count(),
        cases.len(),
        "no re-routing: {:?}",
        queues(&crm)
    );
    assert_eq!(chat.count(), 1);
    let one = done[0]["id"].as_i64().unwrap_or(0);
    let ds = deliveries(&app, one).await;
    assert!(ds.iter().all(|d| d["step"] != "reassign_lead"), "{ds:?}");
}

#[tokio::test]
async fn a_lead_the_crm_does_not_accept_in_time_moves_to_the_fallback_queue() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    // The CRM fails every attempt of the first upsert (four, on the test retry schedule).
    let crm = Receiver::start(vec![Reply::Status(503); 4]).await;
    let chat = Receiver::start(vec![]).await;
    let instance = routing(
        &app,
        "lead-routing",
        json!({ "emea_countries": ["DE"], "apac_countries": ["JP"], "sla_minutes": 15,
                "fallback_queue": "sales-overflow", "notify_partner_desk": false }),
        &crm,
        &chat,
    )
    .await;
    let key = write_key(&app, &["event.form_submitted"]).await;
    let (code, body) = post_events(
        &app,
        &key,
        &json!([form("late-1", "de@shop.de", "web", "DE", "shop.de")]),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    all_runs(&app, instance, 1, "waiting").await;
    // Wait until the first upsert is dead, so the CRM answers the next request.
    assert!(eventually(WAIT, || async { crm.count() >= 4 }).await);
    app.drain(WAIT).await;
    sla_passes(&app, instance).await;
    let done = all_runs(&app, instance, 1, "succeeded").await;
    let detail = done[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("deliveries made"), "{detail}");
    assert!(eventually(WAIT, || async { crm.count() >= 5 && chat.count() >= 1 }).await);
    app.drain(WAIT).await;
    let last = crm.seen().pop().expect("the reassignment");
    assert_eq!(last.body["Email"], "de@shop.de");
    assert_eq!(
        last.body["Owner_Queue__c"], "sales-overflow",
        "{}",
        last.body
    );
    let notices: Vec<String> = chat
        .seen()
        .iter()
        .map(|s| s.body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        notices,
        [
            "SLA missed: the lead from Co late-1 (DE) was not taken by web-inbound-emea within 15 minutes and moved to sales-overflow."
        ]
    );
    let ds = deliveries(&app, done[0]["id"].as_i64().unwrap_or(0)).await;
    let first = ds
        .iter()
        .find(|d| d["step"] == "upsert_lead")
        .expect("first");
    assert_eq!(first["status"], "dead", "{ds:?}");
    let moved = ds
        .iter()
        .find(|d| d["step"] == "reassign_lead")
        .expect("moved");
    assert_eq!(moved["status"], "delivered", "{ds:?}");
}

#[tokio::test]
async fn a_demo_request_takes_the_fast_lane_to_sales() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let crm = Receiver::start(vec![]).await;
    let chat = Receiver::start(vec![]).await;
    enterprise_account(&app, "bigco.com").await;
    let instance = routing(&app, "demo-fast-lane", json!({}), &crm, &chat).await;
    let key = write_key(&app, &["event.demo_requested"]).await;
    let demo = |id: &str, email: &str, country: &str, domain: &str| {
        json!({"id": id, "type": "event.demo_requested", "occurred_at": "2026-11-27T09:30:00Z",
               "payload": {"request_id": format!("demo-{id}"), "email": email, "product": "analytics",
                           "company": format!("Co {id}"), "company_domain": domain, "country": country,
                           "message": "Call me after 3pm, my mobile is +4915112345678",
                           "requested_at": "2026-11-27T09:30:00Z"}})
    };
    let (code, body) = post_events(
        &app,
        &key,
        &json!([
            demo("d-ent", "cto@bigco.com", "US", "bigco.com"),
            demo("d-de", "anna@shop.de", "DE", "shop.de"),
            demo("d-us", "bob@shop.com", "US", "shop.com")
        ]),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    all_runs(&app, instance, 3, "waiting").await;
    assert!(eventually(WAIT, || async { crm.count() >= 3 && chat.count() >= 3 }).await);
    for (email, queue) in [
        ("cto@bigco.com", "enterprise-account-team"),
        ("anna@shop.de", "demo-desk-emea"),
        ("bob@shop.com", "demo-desk-amer"),
    ] {
        let sent = crm
            .seen()
            .into_iter()
            .find(|s| s.body["Email"] == email)
            .unwrap_or_else(|| panic!("{email} never reached the CRM"));
        assert_eq!(sent.body["Owner_Queue__c"], queue, "{}", sent.body);
        assert_eq!(sent.body["Rating"], "Hot", "{}", sent.body);
        assert_eq!(sent.body["LeadSource"], "demo-request", "{}", sent.body);
        let text = sent.body.to_string();
        assert!(
            !text.contains("3pm"),
            "the free-text message stays in Switchyard: {text}"
        );
    }
    let notices: Vec<String> = chat
        .seen()
        .iter()
        .map(|s| s.body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        notices.contains(
            &"Demo requested: Co d-de (DE) wants to see analytics. Routed to demo-desk-emea."
                .to_string()
        ),
        "{notices:?}"
    );
    sla_passes(&app, instance).await;
    all_runs(&app, instance, 3, "succeeded").await;
}
