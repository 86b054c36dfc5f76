//! The network guard end to end: refused addresses never see a packet, names are checked
//! after resolution, and every redirect hop is checked.

use crate::support::{self, Server};
use serde_json::json;
use std::time::{Duration, Instant};
use worker::connectors::{self, Action, Outcome};
use worker::net::{self, NetPolicy};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn hook(url: &str, net: &NetPolicy) -> Box<dyn connectors::Connector> {
    connectors::build("webhook", &json!({"url": url, "secret": SECRET}), net).expect("builds")
}

#[tokio::test]
async fn metadata_and_private_literals_are_refused_before_any_packet() {
    let net = support::local();
    for (url, why) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is link-local (cloud metadata)",
        ),
        ("https://10.0.0.1/hook", "10.0.0.1 is private"),
        (
            "http://[::ffff:10.0.0.1]/hook",
            "::ffff:10.0.0.1 is an IPv6 form of 10.0.0.1, which is private",
        ),
    ] {
        let started = Instant::now();
        let outcome = hook(url, &net)
            .deliver(&support::delivery("lead", Action::Upsert, json!({})))
            .await;
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{url} took a network trip"
        );
        let Outcome::Permanent {
            status: None,
            error,
        } = outcome
        else {
            panic!("{url}: expected a permanent refusal, got {outcome:?}");
        };
        assert!(error.contains(why), "{error}");
        assert!(error.contains("outbound_allow"), "{error}");
        let checked = connectors::check("webhook", &json!({"url": url, "secret": SECRET}), &net)
            .await
            .expect_err("refused at connection creation too");
        assert_eq!(checked.field, "url");
    }
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
    let (port, count) = support::counting().await;
    let url = format!("http://localhost:{port}/hook");
    let outcome = hook(&url, &NetPolicy::default())
        .deliver(&support::delivery("lead", Action::Upsert, json!({})))
        .await;
    let Outcome::Permanent { error, .. } = outcome else {
        panic!("localhost must be refused, got {outcome:?}");
    };
    assert!(
        error.contains("localhost resolves only to refused addresses")
            && error.contains("is loopback"),
        "{error}"
    );
    assert_eq!(support::connections_after_a_moment(&count).await, 0);

    let server = Server::open().await;
    let allowed = hook(
        &format!("http://localhost:{}/hook", server.port),
        &support::local(),
    );
    let outcome = allowed
        .deliver(&support::delivery("lead", Action::Upsert, json!({})))
        .await;
    assert_eq!(outcome, Outcome::Delivered { status: Some(200) });
    assert_eq!(server.requests().len(), 1);
}

async fn redirect_error(to: &str) -> String {
    let server = Server::open().await;
    server.push(302, &[("location", to)], "");
    let client = support::local().http_client(Duration::from_secs(2), true);
    let started = Instant::now();
    let err = client
        .get(format!("{}/start", server.url))
        .send()
        .await
        .expect_err("redirect must be refused");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refusal took a network trip"
    );
    let refused = net::refusal(&err).unwrap_or_else(|| panic!("not a refusal: {err:?}"));
    refused.to_string()
}

#[tokio::test]
async fn every_redirect_hop_is_checked() {
    // A loopback address outside the allow-list first: the same check, no traffic leaves.
    let (port, count) = support::counting().await;
    let msg = redirect_error(&format!("http://127.0.0.2:{port}/")).await;
    assert!(msg.contains("127.0.0.2 is loopback"), "{msg}");
    assert_eq!(support::connections_after_a_moment(&count).await, 0);
    let msg = redirect_error("http://10.0.0.1/").await;
    assert!(msg.contains("10.0.0.1 is private"), "{msg}");
    let msg = redirect_error("http://169.254.169.254/latest/meta-data/").await;
    assert!(msg.contains("cloud metadata"), "{msg}");
}

#[tokio::test]
async fn a_redirect_to_a_name_is_checked_after_resolution() {
    // The first server sits on 127.0.0.2, the only address allowed; `localhost` resolves to
    // 127.0.0.1 / ::1, which are not.
    let net = NetPolicy::new(&["127.0.0.2".to_string()]).expect("valid");
    let (port, count) = support::counting().await;
    let server = Server::start_on(
        "127.0.0.2",
        std::sync::Arc::new(|_: &support::Recorded| Ok(())),
        "ok",
    )
    .await;
    server.push(
        302,
        &[("location", &format!("http://localhost:{port}/"))],
        "",
    );
    let err = net
        .http_client(Duration::from_secs(2), true)
        .get(format!("{}/start", server.url))
        .send()
        .await
        .expect_err("refused");
    let refused = net::refusal(&err).unwrap_or_else(|| panic!("not a refusal: {err:?}"));
    assert!(refused.to_string().contains("loopback"), "{refused}");
    assert_eq!(support::connections_after_a_moment(&count).await, 0);
}

#[tokio::test]
async fn redirects_stop_after_three_hops() {
    let server = Server::open().await;
    let client = support::local().http_client(Duration::from_secs(2), true);
    for _ in 0..3 {
        server.push(302, &[("location", "/next")], "");
    }
    let reply = client
        .get(format!("{}/a", server.url))
        .send()
        .await
        .expect("3 hops");
    assert_eq!(reply.status().as_u16(), 200);
    for _ in 0..4 {
        server.push(302, &[("location", "/next")], "");
    }
    let err = client
        .get(format!("{}/b", server.url))
        .send()
        .await
        .expect_err("4 hops");
    assert!(
        format!("{err:?}").contains("more than 3 redirects"),
        "{err:?}"
    );
}
