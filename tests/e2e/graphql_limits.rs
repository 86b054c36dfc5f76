//! Guards on the GraphQL endpoint: depth, complexity, directive and batch limits, body size,
//! content type, malformed bodies and page sizes — each refused with a clear coded error.
//! (Introspection's own bounds: `introspection.rs`; string lengths: `string_limits.rs`.)

use crate::helpers::*;
use serde_json::{Value, json};

const CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "CONTRACT_VIOLATION",
    "INTERNAL",
];

fn viewer(app: &TestApp) -> String {
    app.token("vera", &["viewer"])
}

/// POSTs `body` as raw bytes with `content_type`, authenticated; returns status and JSON.
async fn post_raw(app: &TestApp, token: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// An introspection query nested `levels` `ofType` selections deep.
fn nested_query(levels: usize) -> String {
    let mut inner = "name".to_string();
    for _ in 0..levels {
        inner = format!("ofType {{ {inner} }}");
    }
    format!("{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}")
}

#[tokio::test]
async fn a_query_within_the_depth_limit_runs() {
    let app = spawn_app().await;
    let body = app.gql(&viewer(&app), &nested_query(3), json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["__schema"]["types"].is_array(), "{body}");
}

/// A selection 13 fields deep on the data graph: real fields first, then made-up ones (the
/// schema has no cycle today; the limit guards the day it does). Refused before validation.
fn data_query(levels: usize) -> String {
    let mut inner = "key".to_string();
    for i in 0..levels.saturating_sub(4) {
        inner = format!("f{i} {{ {inner} }}");
    }
    format!("{{ templates {{ edges {{ node {{ {inner} }} }} }} }}")
}

#[tokio::test]
async fn a_query_nested_deeper_than_12_is_refused() {
    let app = spawn_app().await;
    let body = app.gql(&viewer(&app), &data_query(13), json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        error_message(&body)
            .to_lowercase()
            .contains("nested too deep"),
        "the message says the query is nested too deep, not that fields are unknown: {body}"
    );
    assert!(body["data"].is_null(), "{body}");
}

#[tokio::test]
async fn introspection_nested_12_deep_is_not_counted_as_data_depth() {
    let app = spawn_app().await;
    let body = app.gql(&viewer(&app), &nested_query(12), json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["__schema"]["types"].is_array(), "{body}");
}

#[tokio::test]
async fn a_query_over_the_complexity_limit_is_refused() {
    let app = spawn_app().await;
    let aliases: String = (0..10)
        .map(|i| {
            format!(
                "t{i}: templates(first: 100) {{ edges {{ node {{ key name summary versions {{ version definition }} }} }} }} "
            )
        })
        .collect();
    let body = app
        .gql(&viewer(&app), &format!("{{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        error_message(&body).to_lowercase().contains("complex"),
        "the message says the query is too complex: {body}"
    );
    assert!(body["data"].is_null(), "nothing was executed: {body}");
}

#[tokio::test]
async fn a_field_with_more_than_8_directives_is_refused() {
    let app = spawn_app().await;
    let token = viewer(&app);
    let ok = app
        .gql(
            &token,
            "{ me @skip(if: false) @include(if: true) { sub } }",
            json!({}),
        )
        .await;
    assert_eq!(
        ok["data"]["me"]["sub"], "vera",
        "a few directives are fine: {ok}"
    );
    let many = " @skip(if: false)".repeat(9);
    let body = app
        .gql(&token, &format!("{{ me{many} {{ sub }} }}"), json!({}))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        error_message(&body).to_lowercase().contains("directive"),
        "{body}"
    );
    assert!(body["data"].is_null(), "{body}");
}

#[tokio::test]
async fn a_batch_of_11_operations_is_refused() {
    let app = spawn_app().await;
    let batch: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ me { sub } }" }))
        .collect();
    let (status, body) = app.gql_raw(Some(&viewer(&app)), Value::Array(batch)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        error_message(&body).contains("11"),
        "names the count: {body}"
    );
}

#[tokio::test]
async fn an_empty_batch_is_refused() {
    let app = spawn_app().await;
    let (status, body) = app.gql_raw(Some(&viewer(&app)), json!([])).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
}

#[tokio::test]
async fn a_batch_of_two_gets_two_answers_in_order() {
    let app = spawn_app().await;
    let batch = json!([
        { "query": "{ me { sub } }" },
        { "query": "query($k: String!) { template(key: $k) { key } }", "variables": { "k": "alerting" } },
    ]);
    let (status, body) = app.gql_raw(Some(&viewer(&app)), batch).await;
    assert_eq!(status, 200, "{body}");
    let answers = body.as_array().expect("a batch gets an array of answers");
    assert_eq!(answers.len(), 2, "{body}");
    assert_eq!(answers[0]["data"]["me"]["sub"], "vera", "{body}");
    assert_eq!(answers[1]["data"]["template"]["key"], "alerting", "{body}");
}

#[tokio::test]
async fn a_body_over_256_kib_is_refused_with_413() {
    let app = spawn_app().await;
    let padding = " ".repeat(300 * 1024);
    let body = format!(r#"{{"query": "{{ me {{ sub }} }}{padding}"}}"#);
    let (status, _) = post_raw(&app, &viewer(&app), "application/json", body.into_bytes()).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn a_body_just_under_the_limit_is_accepted() {
    let app = spawn_app().await;
    let padding = " ".repeat(200 * 1024);
    let body = format!(r#"{{"query": "{{ me {{ sub }} }}{padding}"}}"#);
    let (status, json) = post_raw(&app, &viewer(&app), "application/json", body.into_bytes()).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["me"]["sub"], "vera");
}

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = spawn_app().await;
    let (status, body) = post_raw(
        &app,
        &viewer(&app),
        "application/json",
        br#"{"query": "{ me { sub } }""#.to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(error_message(&body).starts_with("body:"), "{body}");
}

#[tokio::test]
async fn a_non_json_content_type_is_unsupported() {
    let app = spawn_app().await;
    let (status, body) = post_raw(
        &app,
        &viewer(&app),
        "text/plain",
        br#"{"query": "{ me { sub } }"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(error_message(&body).contains("application/json"), "{body}");
}

#[tokio::test]
async fn a_page_of_1000_is_refused_naming_first() {
    let app = spawn_app().await;
    let body = app
        .gql(
            &viewer(&app),
            "{ templates(first: 1000) { edges { node { key } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "first", "{body}");
    assert!(
        error_message(&body).contains("100"),
        "states the rule: {body}"
    );
}

#[tokio::test]
async fn zero_and_negative_page_sizes_are_refused_naming_first() {
    let app = spawn_app().await;
    let token = viewer(&app);
    for first in [0, -5] {
        let body = app
            .gql(
                &token,
                "query($n: Int) { connectors(first: $n) { edges { node { key } } } }",
                json!({ "n": first }),
            )
            .await;
        assert_eq!(
            error_code(&body),
            Some("BAD_USER_INPUT"),
            "first={first}: {body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], "first", "{body}");
    }
}

#[tokio::test]
async fn an_unknown_field_gets_a_code_from_the_fixed_set() {
    let app = spawn_app().await;
    let body = app
        .gql(&viewer(&app), "{ me { sub favouriteColour } }", json!({}))
        .await;
    let code = error_code(&body).expect("the error carries a code");
    assert!(CODES.contains(&code), "{code} is not in the fixed set");
    assert_eq!(code, "BAD_USER_INPUT", "{body}");
    assert!(error_message(&body).contains("favouriteColour"), "{body}");
}

#[tokio::test]
async fn a_query_that_does_not_parse_gets_bad_user_input() {
    let app = spawn_app().await;
    let body = app.gql(&viewer(&app), "{ me { sub ", json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
}
