//! The conformance suite every HTTP connector passes (after Vector's component compliance
//! tests): the same server behaviours must give the same outcomes, whatever the vendor.

use crate::support::{self, Server};
use serde_json::json;
use std::time::{Duration, Instant};
use worker::connectors::{Action, Connector, Delivery, Outcome};
use worker::connectors::{
    hubspot::Hubspot, salesforce::Salesforce, slack::Slack, webhook::Webhook,
};
use worker::net::NetPolicy;

const TIMEOUT: Duration = Duration::from_millis(500);

/// Every HTTP connector aimed at `base`, with a delivery it accepts.
fn subjects(base: &str, net: &NetPolicy) -> Vec<(&'static str, Box<dyn Connector>, Delivery)> {
    let webhook = Webhook::new(
        &json!({"url": format!("{base}/hook"), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
        net,
    )
    .expect("webhook settings")
    .with_timeout(TIMEOUT);
    let slack = Slack::new(
        &json!({"webhook_url": format!("{base}/services/T/B/X")}),
        net,
    )
    .expect("slack settings")
    .with_timeout(TIMEOUT);
    let hubspot = Hubspot::new(&json!({"base_url": base, "access_token": "pat-test"}), net)
        .expect("hubspot settings")
        .with_timeout(TIMEOUT);
    let salesforce = Salesforce::new(
        &json!({"instance_url": base, "access_token": "t", "external_id_field": "Key__c"}),
        net,
    )
    .expect("salesforce settings")
    .with_timeout(TIMEOUT);
    let lead = support::delivery(
        "lead",
        Action::Upsert,
        json!({"email": "ada@example.com", "last_name": "L"}),
    );
    let message = support::delivery("message", Action::Message, json!({"text": "hello"}));
    vec![
        ("webhook", Box::new(webhook), lead.clone()),
        ("slack", Box::new(slack), message),
        ("hubspot", Box::new(hubspot), lead.clone()),
        ("salesforce", Box::new(salesforce), lead),
    ]
}

#[tokio::test]
async fn a_server_error_is_retried_then_delivered() {
    let server = Server::open().await;
    for (name, connector, d) in subjects(&server.url, &support::local()) {
        server.push(500, &[], "internal error");
        let first = connector.deliver(&d).await;
        assert!(
            matches!(
                first,
                Outcome::Retry {
                    status: Some(500),
                    ..
                }
            ),
            "{name}: {first:?}"
        );
        let second = connector.deliver(&d).await;
        assert_eq!(second, Outcome::Delivered { status: Some(200) }, "{name}");
    }
}

#[tokio::test]
async fn gone_is_permanent() {
    let server = Server::open().await;
    for (name, connector, d) in subjects(&server.url, &support::local()) {
        server.push(410, &[], "gone");
        let outcome = connector.deliver(&d).await;
        assert!(
            matches!(
                outcome,
                Outcome::Permanent {
                    status: Some(410),
                    ..
                }
            ),
            "{name}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_retried_within_the_timeout() {
    let base = support::silent().await;
    for (name, connector, d) in subjects(&base, &support::local()) {
        let started = Instant::now();
        let outcome = connector.deliver(&d).await;
        let took = started.elapsed();
        assert!(took < TIMEOUT * 4, "{name} took {took:?}");
        let Outcome::Retry {
            status: None,
            error,
            ..
        } = outcome
        else {
            panic!("{name}: a silent server is retried, got {outcome:?}");
        };
        assert!(error.contains("no answer in time"), "{name}: {error}");
        assert!(
            !error.contains("127.0.0.1"),
            "{name}: the URL leaked into {error}"
        );
    }
}

#[tokio::test]
async fn retry_after_is_honoured_on_429_and_503() {
    let server = Server::open().await;
    for (name, connector, d) in subjects(&server.url, &support::local()) {
        for status in [429, 503] {
            server.push(status, &[("retry-after", "7")], "slow down");
            let outcome = connector.deliver(&d).await;
            let Outcome::Retry {
                status: Some(s),
                retry_after,
                ..
            } = outcome
            else {
                panic!("{name}: {status} is retried, got {outcome:?}");
            };
            assert_eq!(s, status, "{name}");
            assert_eq!(
                retry_after,
                Some(Duration::from_secs(7)),
                "{name} on {status}"
            );
        }
    }
}

#[tokio::test]
async fn a_refused_address_is_permanent_and_sends_nothing() {
    let (port, count) = support::counting().await;
    for base in [
        "http://169.254.169.254",
        "http://10.0.0.1",
        &format!("http://localhost:{port}"),
    ] {
        for (name, connector, d) in subjects(base, &NetPolicy::default()) {
            let started = Instant::now();
            let outcome = connector.deliver(&d).await;
            assert!(
                started.elapsed() < Duration::from_millis(200),
                "{name} at {base}"
            );
            assert!(
                matches!(outcome, Outcome::Permanent { status: None, .. }),
                "{name}: {outcome:?}"
            );
        }
    }
    assert_eq!(support::connections_after_a_moment(&count).await, 0);
}
