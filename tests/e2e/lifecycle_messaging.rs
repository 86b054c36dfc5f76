//! The built-in lifecycle-messaging template end to end with the `email` connector: content
//! views of known contacts become emails rendered from the connection's message template, sent
//! over SMTP to a local server (aiosmtpd) and checked as it received them; people without
//! consent, on the unsubscribe list or at a later stage get nothing; a server that keeps saying
//! "try later" is retried and the message ends a dead letter, one that refuses for good at once.

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::smtp::SmtpServer;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
pub const TEMPLATE_TEXT: &str = "Hi {{first_name}},\n\nthanks for reading {{content_title}}. The next chapter is waiting for you.\n\n-- Acme Marketing ({{campaign}})";

pub fn alice(app: &TestApp) -> String {
    app.token_in("alice", &["marketer"], "marketing")
}

/// Contacts as Segment `identify` calls send them.
pub async fn identify(app: &TestApp, people: &[(&str, &str, &str, bool)]) {
    let key = write_key(app, &["contact"]).await;
    for (i, (email, name, stage, opt_in)) in people.iter().enumerate() {
        let resp = app
            .client
            .post(app.url("/v1/identify"))
            .basic_auth(&key, Some(""))
            .json(&json!({
                "userId": format!("u-{email}"), "messageId": format!("id-{i}-{email}"),
                "timestamp": "2026-11-27T09:00:00Z",
                "traits": {"email": email, "first_name": name, "lifecycle_stage": stage,
                           "email_opt_in": opt_in, "updated_at": "2026-11-27T09:00:00Z"}
            }))
            .send()
            .await
            .expect("identify");
        assert_eq!(resp.status().as_u16(), 200, "identify {email}");
    }
}

/// An email connection of alice's to the local server, with one message template.
pub async fn email_connection(app: &TestApp, port: u16) -> i64 {
    let body = app
        .gql(
            &alice(app),
            "mutation($s: JSON!) { createConnection(connector: \"email\", name: \"Newsletter SMTP\", settings: $s) { id settings } }",
            json!({ "s": {
                "host": "127.0.0.1", "port": port, "security": "none",
                "username": "mailer", "password": "s3cret",
                "from_address": "news@example.com", "from_name": "Acme Marketing",
                "reply_to": "team@example.com", "timeout_seconds": 5,
                "templates": {"nurture-1": {
                    "subject": "{{first_name}}, more on {{content_title}}",
                    "text": TEMPLATE_TEXT}}
            } }),
        )
        .await;
    assert_eq!(
        body["data"]["createConnection"]["settings"]["password"], "********",
        "the password is a secret: {body}"
    );
    body["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("email connection: {body}"))
}

/// An active lifecycle-messaging workflow of alice's sending through `connection`.
pub async fn messaging(app: &TestApp, connection: i64) -> i64 {
    let made = app
        .gql(
            &alice(app),
            "mutation($c: Int!) { instantiateTemplate(template: \"lifecycle-messaging\", name: \"E-book follow-up\",
                params: {content_types: [\"ebook\"], message_template_id: \"nurture-1\", delay_minutes: 0},
                connections: [{slot: \"messaging\", connection: $c}]) { id status } }",
            json!({ "c": connection }),
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

pub fn view(id: &str, email: &str) -> Value {
    json!({
        "id": id, "type": "event.content_viewed", "occurred_at": "2026-11-27T10:00:00Z",
        "payload": {"view_id": format!("view-{id}"), "anonymous_id": "anon-1", "email": email,
                    "content_id": "ebook-martech-2026", "content_type": "ebook",
                    "content_title": "The Martech Stack 2026", "percent_consumed": 80,
                    "utm_campaign": "spring-nurture", "viewed_at": "2026-11-27T10:00:00Z"}
    })
}

pub async fn send_views(app: &TestApp, views: Vec<Value>) {
    let key = write_key(app, &["event.content_viewed"]).await;
    let (code, body) = post_events(app, &key, &Value::Array(views)).await;
    assert_eq!(code, 202, "{body}");
}

/// Runs of `instance` by event id: (status, detail).
pub async fn runs_by_event(app: &TestApp, instance: i64) -> Vec<Value> {
    let body = app
        .gql(
            &app.token("carol", &["compliance"]),
            "query($i: Int!) { runs(instance: $i) { id eventId status step detail } }",
            json!({ "i": instance }),
        )
        .await;
    body["data"]["runs"].as_array().cloned().unwrap_or_default()
}

async fn delivery_of(app: &TestApp, run: i64) -> Value {
    let body = app
        .gql(
            &app.token("carol", &["compliance"]),
            "query($r: Int!) { deliveries(run: $r) { status attempts responseCode error connector idempotencyKey } }",
            json!({ "r": run }),
        )
        .await;
    body["data"]["deliveries"][0].clone()
}

#[tokio::test]
async fn content_views_become_rendered_emails_honouring_consent_and_refusals() {
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
            ("ben@example.com", "Ben", "lead", false),
            ("cara@example.com", "Cara", "mql", true),
            ("dora@example.com", "Dora", "customer", true),
            ("refuse-451@example.com", "Rey", "lead", true),
            ("refuse-550@example.com", "Ray", "lead", true),
        ],
    )
    .await;
    // cara unsubscribed from everything.
    {
        use sea_orm::{ActiveModelTrait, Set};
        entity::suppression::ActiveModel {
            list: Set("global-unsubscribes".into()),
            email: Set("cara@example.com".into()),
            reason: Set(Some("unsubscribed".into())),
            created_at: Set(entity::clock::now_string()),
            ..Default::default()
        }
        .insert(&app.state.db)
        .await
        .expect("suppress cara");
    }
    let conn = email_connection(&app, smtp.port).await;
    let instance = messaging(&app, conn).await;
    send_views(
        &app,
        vec![
            view("v-ana", "ana@example.com"),
            view("v-ben", "ben@example.com"),
            view("v-cara", "cara@example.com"),
            view("v-dora", "dora@example.com"),
            view("v-451", "refuse-451@example.com"),
            view("v-550", "refuse-550@example.com"),
        ],
    )
    .await;
    assert!(
        eventually(WAIT, || async { !smtp.messages().is_empty() }).await,
        "no email arrived: {:?}",
        runs_by_event(&app, instance).await
    );
    app.drain(WAIT).await;

    // What the mail server received: one email, to ana, rendered from the template.
    let got = smtp.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["rcpt_tos"], json!(["ana@example.com"]));
    assert_eq!(m["mail_from"], "news@example.com");
    assert_eq!(
        m["authenticated"], true,
        "logged in as the connection's user"
    );
    assert_eq!(m["from"], "Acme Marketing <news@example.com>");
    assert_eq!(m["to"], "Ana <ana@example.com>", "{m}");
    assert_eq!(m["reply_to"], "team@example.com");
    assert_eq!(m["subject"], "Ana, more on The Martech Stack 2026");
    assert_eq!(m["content_type"], "text/plain");
    assert_eq!(
        m["body"]
            .as_str()
            .unwrap_or_default()
            .replace("\r\n", "\n")
            .trim_end(),
        "Hi Ana,\n\nthanks for reading The Martech Stack 2026. The next chapter is waiting for you.\n\n-- Acme Marketing (spring-nurture)"
    );

    let runs = runs_by_event(&app, instance).await;
    let run = |e: &str| {
        runs.iter()
            .find(|r| r["eventId"] == e)
            .cloned()
            .unwrap_or_else(|| panic!("run of {e}: {runs:?}"))
    };
    let ana = delivery_of(&app, run("v-ana")["id"].as_i64().unwrap_or(0)).await;
    assert_eq!(ana["status"], "delivered", "{ana}");
    assert_eq!(ana["responseCode"], 250, "{ana}");
    assert_eq!(ana["connector"], "email");
    assert_eq!(
        m["message_id"],
        format!(
            "<{}@switchyard>",
            ana["idempotencyKey"].as_str().unwrap_or("")
        ),
        "the Message-ID carries the idempotency key"
    );
    for (e, why) in [
        ("v-ben", "no consent"),
        ("v-cara", "global-unsubscribes"),
        ("v-dora", "lifecycle_stage"),
    ] {
        let r = run(e);
        assert_eq!(r["status"], "skipped", "{r}");
        assert_eq!(r["step"], "consent_and_stage", "{r}");
        assert!(
            r["detail"].as_str().unwrap_or_default().contains(why),
            "{e}: {r}"
        );
    }
    // 451 (try later) is retried on the schedule, then dead-lettered; 550 at once.
    let busy_run = run("v-451")["id"].as_i64().unwrap_or(0);
    assert!(
        eventually(WAIT, || async {
            delivery_of(&app, busy_run).await["status"] == "dead"
        })
        .await,
        "the 451 delivery ends dead"
    );
    let busy = delivery_of(&app, busy_run).await;
    assert_eq!(busy["status"], "dead", "{busy}");
    assert_eq!(busy["attempts"], 4, "{busy}");
    assert_eq!(busy["responseCode"], 451, "{busy}");
    assert!(
        busy["error"]
            .as_str()
            .unwrap_or_default()
            .contains("try again later"),
        "{busy}"
    );
    let gone = delivery_of(&app, run("v-550")["id"].as_i64().unwrap_or(0)).await;
    assert_eq!(gone["status"], "dead", "{gone}");
    assert_eq!(gone["attempts"], 1, "{gone}");
    assert_eq!(gone["responseCode"], 550, "{gone}");
    let dead = app
        .gql(
            &alice(&app),
            "query($i: Int!) { deadLetters(instance: $i) { id } }",
            json!({ "i": instance }),
        )
        .await;
    assert_eq!(
        dead["data"]["deadLetters"].as_array().map(Vec::len),
        Some(2),
        "{dead}"
    );
}

#[tokio::test]
async fn an_email_connection_is_checked_when_it_is_created() {
    let app = spawn_app().await;
    let create = |settings: Value| {
        let app = &app;
        async move {
            app.gql(
                &alice(app),
                "mutation($s: JSON!) { createConnection(connector: \"email\", name: \"SMTP\", settings: $s) { id } }",
                json!({ "s": settings }),
            )
            .await
        }
    };
    // No TLS towards a public server.
    let plain = create(
        json!({"host": "203.0.113.7", "security": "none", "from_address": "news@example.com"}),
    )
    .await;
    assert_eq!(error_code(&plain), Some("BAD_USER_INPUT"), "{plain}");
    assert!(error_message(&plain).contains("security"), "{plain}");
    let no_from = create(json!({"host": "smtp.example.com"})).await;
    assert_eq!(error_code(&no_from), Some("BAD_USER_INPUT"), "{no_from}");
    let ok = create(json!({"host": "smtp.example.com", "from_address": "news@example.com"})).await;
    assert!(ok["data"]["createConnection"]["id"].is_i64(), "{ok}");
}
