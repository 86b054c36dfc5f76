//! The slack connector against a stand-in for Slack's incoming webhooks: POST, JSON content
//! type, a non-empty `text` and a list of typed blocks; `200 ok` on success, Slack's short
//! error bodies otherwise.

use crate::support::{self, Check, Recorded, Server};
use serde_json::{Value, json};
use std::sync::Arc;
use worker::connectors::{self, Action, Outcome};

const PATH: &str = "/services/T0001/B0001/XXXXXXXXXXXXXXXXXXXXXXXX";

fn slack_checks() -> Check {
    Arc::new(|r: &Recorded| {
        if r.method != "POST" || r.path != PATH {
            return Err((404, "no_service".into()));
        }
        if !r.header("content-type").starts_with("application/json") {
            return Err((400, "invalid_payload".into()));
        }
        let body: Value =
            serde_json::from_slice(&r.body).map_err(|_| (400, "invalid_payload".to_string()))?;
        let text_ok = body["text"].as_str().is_some_and(|t| !t.is_empty());
        let blocks_ok = body["blocks"]
            .as_array()
            .is_some_and(|b| b.iter().all(|block| block["type"].is_string()));
        if text_ok && blocks_ok {
            Ok(())
        } else {
            Err((400, "invalid_blocks".into()))
        }
    })
}

fn slack(url: &str) -> Box<dyn connectors::Connector> {
    let settings = json!({"webhook_url": format!("{url}{PATH}"), "channel_label": "#sales"});
    connectors::build("slack", &settings, &support::local()).expect("builds")
}

#[tokio::test]
async fn posts_text_with_a_section_block() {
    let server = Server::start(slack_checks(), "ok").await;
    let d = support::delivery(
        "message",
        Action::Message,
        json!({"text": "New demo request from *Acme*"}),
    );
    assert_eq!(
        slack(&server.url).deliver(&d).await,
        Outcome::Delivered { status: Some(200) }
    );
    let body = server.requests()[0].json();
    assert_eq!(body["text"], "New demo request from *Acme*");
    assert_eq!(
        body["blocks"],
        json!([{"type": "section", "text": {"type": "mrkdwn", "text": "New demo request from *Acme*"}}])
    );
}

#[tokio::test]
async fn slack_errors_are_permanent_and_named() {
    let server = Server::start(slack_checks(), "ok").await;
    server.push(410, &[], "channel_is_archived");
    let d = support::delivery("message", Action::Message, json!({"text": "hi"}));
    let outcome = slack(&server.url).deliver(&d).await;
    let Outcome::Permanent {
        status: Some(410),
        error,
    } = outcome
    else {
        panic!("410 is permanent, got {outcome:?}");
    };
    assert!(error.contains("channel_is_archived"), "{error}");

    let wrong_path = connectors::build(
        "slack",
        &json!({"webhook_url": format!("{}/services/gone", server.url)}),
        &support::local(),
    )
    .expect("builds");
    let outcome = wrong_path.deliver(&d).await;
    assert!(
        matches!(&outcome, Outcome::Permanent { status: Some(404), error } if error.contains("no_service")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_message_without_text_is_not_sent() {
    let server = Server::start(slack_checks(), "ok").await;
    let d = support::delivery("message", Action::Message, json!({"blocks": []}));
    assert!(matches!(
        slack(&server.url).deliver(&d).await,
        Outcome::Permanent { status: None, .. }
    ));
    assert!(server.requests().is_empty());
}
