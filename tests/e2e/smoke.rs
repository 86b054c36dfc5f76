use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_fresh_database_is_seeded_and_queryable() {
    let app = spawn_app().await;
    let token = app.token("alice", &["marketer"]);
    let body = app
        .gql(
            &token,
            "{ me { sub roles } templates(first: 50) { edges { node { key } } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["me"]["sub"], "alice");
    let keys: Vec<&str> = body["data"]["templates"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|e| e["node"]["key"].as_str())
        .collect();
    for k in [
        "lead-capture",
        "lead-routing",
        "audience-sync",
        "lifecycle-messaging",
        "campaign-approval",
        "reporting-export",
        "alerting",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
}
