//! The seed's missing primitives are in the built-in catalog with real definitions (PII classes,
//! key fields, freshness SLAs), each used by a built-in template; account alerts and the campaign
//! launch notice run end to end to a chat receiver on loopback.

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::receiver::Receiver;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const PRIMITIVES: [&str; 4] = [
    "event.account_matched",
    "event.campaign_launched",
    "creative_asset",
    "engagement_metric",
];

#[tokio::test]
async fn each_primitive_is_defined_and_read_by_a_template() {
    let docs = api::catalog::seed::builtin().expect("built-in catalog");
    for name in PRIMITIVES {
        let doc = docs
            .iter()
            .find(|d| d.kind == api::catalog::definitions::Kind::Contract && d.key == name)
            .unwrap_or_else(|| panic!("{name} is in the built-in catalog"));
        let def = entity::documents::contract::ContractDef::parse(&doc.definition)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!def.key_fields.is_empty(), "{name} has key fields");
        assert!(def.freshness_sla_minutes > 0, "{name} has a freshness SLA");
        let props = def.schema["properties"].as_object().expect("properties");
        assert!(
            props.values().all(|p| p.get("x-pii").is_some()),
            "{name}: every field has a PII class"
        );
        assert!(
            props.values().all(|p| p.get("description").is_some()),
            "{name}: every field is documented"
        );
        let users: Vec<&str> = docs
            .iter()
            .filter(|d| d.kind == api::catalog::definitions::Kind::Template)
            .filter(|d| {
                api::catalog::definitions::template(&d.definition)
                    .is_ok_and(|t| t.reads.iter().any(|r| r.contract == name))
            })
            .map(|d| d.key.as_str())
            .collect();
        assert!(!users.is_empty(), "{name} is read by a template");
    }
}

async fn chat_workflow(app: &TestApp, token: &str, template: &str, chat: &Receiver) -> i64 {
    let conn = app
        .gql(
            token,
            "mutation($n: String!, $s: JSON!) { createConnection(connector: \"slack\", name: $n, settings: $s) { id } }",
            json!({ "n": format!("#{template}"), "s": { "webhook_url": chat.url("/chat") } }),
        )
        .await;
    let conn = conn["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("slack: {conn}"));
    let made = app
        .gql(
            token,
            "mutation($t: String!, $c: Int!) { instantiateTemplate(template: $t, name: \"Chat\", params: {}, connections: [{slot: \"chat\", connection: $c}]) { id status } }",
            json!({ "t": template, "c": conn }),
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

fn texts(rx: &Receiver) -> Vec<String> {
    rx.seen()
        .iter()
        .map(|s| s.body["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn an_account_match_alerts_the_owning_sales_team_and_a_launch_tells_sales() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let chat = Receiver::start(vec![]).await;
    let sam = app.token_in("sam", &["sales_ops"], "sales");
    chat_workflow(&app, &sam, "account-alerts", &chat).await;
    let key = write_key(&app, &["event.account_matched"]).await;
    let matched = |id: &str, domain: &str, score: u64, team: Option<&str>, country: &str| {
        let mut p = json!({"match_id": format!("match-{id}"), "account_domain": domain,
                           "account_name": format!("Co {id}"), "segment_id": "emea-enterprise-icp",
                           "score": score, "country": country, "matched_at": "2026-11-27T09:30:00Z"});
        if let Some(t) = team {
            p["owner_team"] = json!(t);
        }
        json!({"id": id, "type": "event.account_matched", "occurred_at": "2026-11-27T09:30:00Z", "payload": p})
    };
    let (code, body) = post_events(
        &app,
        &key,
        &json!([
            matched("am-1", "acme.com", 88, Some("ent-west"), "US"),
            matched("am-2", "shop.de", 72, None, "DE"),
            matched("am-3", "weak.io", 20, None, "US")
        ]),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert!(eventually(WAIT, || async { chat.count() >= 2 }).await);
    app.drain(WAIT).await;
    let mut got = texts(&chat);
    got.sort();
    assert_eq!(
        got,
        [
            "Target account Co am-1 (acme.com) matched emea-enterprise-icp with score 88; for account-owner-team.",
            "Target account Co am-2 (shop.de) matched emea-enterprise-icp with score 72; for sales-emea.",
        ]
    );

    let launches = Receiver::start(vec![]).await;
    let alice = app.token_in("alice", &["marketer"], "marketing");
    chat_workflow(&app, &alice, "campaign-launch-notice", &launches).await;
    let key = write_key(&app, &["event.campaign_launched"]).await;
    let (code, body) = post_events(
        &app,
        &key,
        &json!([{"id": "launch-1", "type": "event.campaign_launched", "occurred_at": "2026-11-27T09:30:00Z",
                 "payload": {"campaign_id": "spring-26", "campaign_name": "Spring launch", "channel": "email",
                             "segment_id": "emea-trial", "audience_size": 1200, "launched_by": "alice",
                             "launched_at": "2026-11-27T09:30:00Z"}}]),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert!(eventually(WAIT, || async { launches.count() >= 1 }).await);
    let got: Vec<Value> = launches.seen().iter().map(|s| s.body.clone()).collect();
    assert_eq!(
        got[0]["text"],
        "Campaign 'Spring launch' launched via email to segment emea-trial (1200 people)."
    );
    assert!(
        !got[0].to_string().contains("alice"),
        "who launched it is not posted"
    );
}
