//! Standard GraphQL clients load the schema with their default settings: Python `gql`
//! (`fetch_schema_from_transport=True`, over its requests and aiohttp transports, installed by
//! `.ci/run`) and graphql-core 3.3's nine-level `ofType` introspection query (what graphql-js
//! 17 and GraphiQL ask) — while introspection bombs are refused like any other.

use crate::helpers::*;
use serde_json::{Value, json};

const GRAPHQL_CORE_3_3_QUERY: &str =
    include_str!("fixtures/introspection-graphql-core-3.3.graphql");

/// gql with default settings: it introspects the schema, then validates and runs a query
/// against it; printed as one JSON line.
const GQL_SCRIPT: &str = r#"
import asyncio, json, sys
from gql import Client, gql
url, token, transport_name = sys.argv[1], sys.argv[2], sys.argv[3]
headers = {"Authorization": "Bearer " + token}
query = gql("{ me { sub } templates(first: 2) { edges { node { key } } } }")

def summary(client, result):
    schema = client.schema
    return {"sub": result["me"]["sub"], "templates": len(result["templates"]["edges"]),
            "query_type": schema.query_type.name, "types": len(schema.type_map),
            "has_publish_input": "PublishInput" in schema.type_map}

if transport_name == "requests":
    from gql.transport.requests import RequestsHTTPTransport
    client = Client(transport=RequestsHTTPTransport(url=url, headers=headers),
                    fetch_schema_from_transport=True)
    with client as session:
        print(json.dumps(summary(client, session.execute(query))))
else:
    from gql.transport.aiohttp import AIOHTTPTransport
    async def main():
        client = Client(transport=AIOHTTPTransport(url=url, headers=headers),
                        fetch_schema_from_transport=True)
        async with client as session:
            print(json.dumps(summary(client, await session.execute(query))))
    asyncio.run(main())
"#;

fn gql_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import gql.transport.requests, gql.transport.aiohttp"])
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn run_gql(app: &TestApp, transport: &str) -> Option<Value> {
    if !gql_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install gql (pip install 'gql[requests,aiohttp]')"
        );
        eprintln!("skipped: pip install 'gql[requests,aiohttp]' to run this test");
        return None;
    }
    let url = app.url("/graphql");
    let token = app.token("gina", &["viewer"]);
    let transport = transport.to_string();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", GQL_SCRIPT, &url, &token, &transport])
            .output()
            .expect("run python3")
    })
    .await
    .expect("join");
    assert!(
        run.status.success(),
        "gql failed: {}{}",
        stdout(&run),
        String::from_utf8_lossy(&run.stderr)
    );
    Some(serde_json::from_str(stdout(&run).trim()).expect("one JSON line"))
}

fn assert_loaded(summary: &Value) {
    assert_eq!(summary["sub"], "gina", "{summary}");
    assert_eq!(summary["templates"], 2, "{summary}");
    assert_eq!(summary["query_type"], "Query", "{summary}");
    assert_eq!(summary["has_publish_input"], true, "{summary}");
    assert!(summary["types"].as_u64().unwrap_or(0) > 30, "{summary}");
}

#[tokio::test]
async fn python_gql_with_default_settings_loads_the_schema_over_requests() {
    let app = spawn_app().await;
    if let Some(summary) = run_gql(&app, "requests").await {
        assert_loaded(&summary);
    }
}

#[tokio::test]
async fn python_gql_with_default_settings_loads_the_schema_over_aiohttp() {
    let app = spawn_app().await;
    if let Some(summary) = run_gql(&app, "aiohttp").await {
        assert_loaded(&summary);
    }
}

#[tokio::test]
async fn the_nine_level_of_type_introspection_query_is_answered_in_full() {
    let app = spawn_app().await;
    let body = app
        .gql(
            &app.token("gina", &["viewer"]),
            GRAPHQL_CORE_3_3_QUERY,
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().expect("types");
    let template = types
        .iter()
        .find(|t| t["name"] == "Template")
        .expect("the Template type is described");
    assert!(template["fields"].as_array().is_some_and(|f| !f.is_empty()));
    // `[String!]!` is NON_NULL → LIST → NON_NULL → SCALAR: the wrappers come back in full.
    let write_key = types
        .iter()
        .find(|t| t["name"] == "Mutation")
        .and_then(|m| m["fields"].as_array())
        .and_then(|f| f.iter().find(|f| f["name"] == "createWriteKey"))
        .expect("createWriteKey");
    let event_types = write_key["args"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "eventTypes"))
        .expect("eventTypes");
    assert_eq!(
        event_types["type"]["ofType"]["ofType"]["ofType"]["name"], "String",
        "{event_types}"
    );
}

#[tokio::test]
async fn introspection_bombs_are_still_refused() {
    let app = spawn_app().await;
    let token = app.token("gina", &["viewer"]);
    let lists =
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    let mut of_type = "name".to_string();
    for _ in 0..40 {
        of_type = format!("ofType {{ {of_type} }}");
    }
    let deep = format!("{{ __type(name: \"Query\") {{ {of_type} }} }}");
    let aliases: String = (0..50)
        .map(|i| format!("s{i}: __schema {{ types {{ fields {{ args {{ name }} }} }} }} "))
        .collect();
    for (case, query) in [
        ("lists nested four deep", lists.to_string()),
        ("forty ofType levels", deep),
        ("fifty aliased __schema", format!("{{ {aliases} }}")),
    ] {
        let body = app.gql(&token, &query, json!({})).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{case}: {body}");
        assert!(body["data"].is_null(), "{case}: nothing ran: {body}");
    }
}
