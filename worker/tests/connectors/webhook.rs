//! The webhook connector against a receiver that verifies Standard Webhooks signatures the
//! way the specification tells receivers to.

use crate::support::{self, Check, Recorded, Server};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::sync::Arc;
use worker::connectors::{self, Action, Outcome};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TOLERANCE_SECONDS: i64 = 5 * 60;

/// A receiver per the spec: all three headers present, timestamp within five minutes, and
/// one of the `v1,` signatures equal (constant-time) to the HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` keyed with the base64-decoded secret.
fn verify(secret: &str) -> Check {
    let key = BASE64
        .decode(secret.trim_start_matches("whsec_"))
        .expect("test secret is base64");
    Arc::new(move |r: &Recorded| {
        let (id, ts, sigs) = (
            r.header("webhook-id"),
            r.header("webhook-timestamp"),
            r.header("webhook-signature"),
        );
        if id.is_empty() || ts.is_empty() || sigs.is_empty() {
            return Err((400, "missing webhook headers".into()));
        }
        let ts_num: i64 = ts.parse().map_err(|_| (400, "bad timestamp".to_string()))?;
        if (chrono::Utc::now().timestamp() - ts_num).abs() > TOLERANCE_SECONDS {
            return Err((400, "timestamp outside the tolerance".into()));
        }
        if !r.header("content-type").starts_with("application/json") {
            return Err((415, "expected JSON".into()));
        }
        let matches = sigs
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|sig| {
                let Ok(expected) = BASE64.decode(sig) else {
                    return false;
                };
                let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
                mac.update(format!("{id}.{ts}.").as_bytes());
                mac.update(&r.body);
                mac.verify_slice(&expected).is_ok()
            });
        if matches {
            Ok(())
        } else {
            Err((401, "invalid signature".into()))
        }
    })
}

fn hook(url: &str) -> Box<dyn connectors::Connector> {
    let settings =
        json!({"url": format!("{url}/switchyard"), "secret": SECRET, "timeout_seconds": 5});
    connectors::build("webhook", &settings, &support::local()).expect("builds")
}

#[tokio::test]
async fn a_verifying_receiver_accepts_the_signed_post() {
    let server = Server::start(verify(SECRET), "").await;
    let record = json!({"email": "ada@example.com", "score": 80});
    let d = support::delivery("lead", Action::Upsert, record.clone());
    assert_eq!(
        hook(&server.url).deliver(&d).await,
        Outcome::Delivered { status: Some(200) }
    );
    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/switchyard");
    assert_eq!(req.header("webhook-id"), d.idempotency_key);
    assert_eq!(
        req.header("webhook-timestamp"),
        d.attempted_at.timestamp().to_string()
    );
    let body = req.json();
    assert_eq!(body["type"], "lead.upsert");
    assert_eq!(body["data"], record);
    let ts = body["timestamp"].as_str().expect("timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
}

#[tokio::test]
async fn a_wrong_secret_or_a_stale_timestamp_is_rejected_by_the_receiver() {
    let other = "whsec_QWxzb0FWYWxpZEJhc2U2NEtleUZvclRlc3Rpbmc=";
    let server = Server::start(verify(other), "").await;
    let d = support::delivery("lead", Action::Upsert, json!({}));
    let outcome = hook(&server.url).deliver(&d).await;
    assert!(
        matches!(
            outcome,
            Outcome::Permanent {
                status: Some(401),
                ..
            }
        ),
        "{outcome:?}"
    );

    let server = Server::start(verify(SECRET), "").await;
    let mut stale = support::delivery("lead", Action::Upsert, json!({}));
    stale.attempted_at -= chrono::Duration::minutes(10);
    let outcome = hook(&server.url).deliver(&stale).await;
    let Outcome::Permanent { error, .. } = outcome else {
        panic!("stale signature must be refused, got {outcome:?}");
    };
    assert!(error.contains("tolerance"), "{error}");
}

#[tokio::test]
async fn retries_carry_the_same_webhook_id_and_a_fresh_signature() {
    let server = Server::start(verify(SECRET), "").await;
    server.push(503, &[], "busy");
    let connector = hook(&server.url);
    let first = support::delivery("contact", Action::Upsert, json!({"email": "a@b.c"}));
    let outcome = connector.deliver(&first).await;
    assert!(
        matches!(
            outcome,
            Outcome::Retry {
                status: Some(503),
                ..
            }
        ),
        "{outcome:?}"
    );
    let mut second = first.clone();
    second.attempted_at += chrono::Duration::seconds(5);
    assert_eq!(
        connector.deliver(&second).await,
        Outcome::Delivered { status: Some(200) }
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("webhook-id"), reqs[1].header("webhook-id"));
    assert_eq!(reqs[0].header("webhook-id"), first.idempotency_key);
    assert_ne!(
        reqs[0].header("webhook-signature"),
        reqs[1].header("webhook-signature")
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = Server::start(verify(SECRET), "").await;
    server.push(301, &[("location", "https://elsewhere.example/")], "");
    let d = support::delivery("lead", Action::Upsert, json!({}));
    let outcome = hook(&server.url).deliver(&d).await;
    let Outcome::Permanent {
        status: Some(301),
        error,
    } = outcome
    else {
        panic!("a redirect is permanent, got {outcome:?}");
    };
    assert!(error.contains("redirects are not followed"), "{error}");
    assert_eq!(server.requests().len(), 1);
}
