//! Every `String`/`ID` argument of the schema — found by introspection, so a new one is covered
//! without touching this test — refuses an over-long value with `BAD_USER_INPUT` naming the
//! argument (input-object fields and list items by path), and nothing runs or is written. The
//! catalog search no longer reaches SQLite's "LIKE or GLOB pattern too complex".

use crate::helpers::*;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

/// Longer than every limit (the longest is 20,000 characters, for `description`).
fn too_long() -> String {
    "x".repeat(20_001)
}

/// The named type of a `type { kind name ofType … }` reference, and whether a list wraps it.
fn named(ty: &Value) -> (String, bool) {
    let mut t = ty;
    let mut list = false;
    while t["name"].is_null() {
        list |= t["kind"] == "LIST";
        t = &t["ofType"];
    }
    (t["name"].as_str().unwrap_or("").to_string(), list)
}

const SCHEMA: &str = "{ __schema { types { name kind
    fields { name args { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } }
    inputFields { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";

/// (operation, literal argument, expected `extensions.field`) for every string argument of the
/// root fields: plain, in a list, or one level down in an input object.
fn cases(schema: &Value) -> Vec<(String, String, String)> {
    let types = schema["data"]["__schema"]["types"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by_name = |n: &str| types.iter().find(|t| t["name"] == n).cloned();
    let long = too_long();
    let mut out = Vec::new();
    for (root, keyword) in [("Query", "query"), ("Mutation", "mutation")] {
        let fields = by_name(root)
            .and_then(|t| t["fields"].as_array().cloned())
            .unwrap_or_default();
        for field in fields {
            let fname = field["name"].as_str().unwrap_or("");
            for arg in field["args"].as_array().cloned().unwrap_or_default() {
                let aname = arg["name"].as_str().unwrap_or("").to_string();
                let (ty, list) = named(&arg["type"]);
                let op = |value: String| format!("{keyword} {{ {fname}({aname}: {value}) }}");
                if ty == "String" || ty == "ID" {
                    let (value, path) = if list {
                        (format!("[\"ok\", \"{long}\"]"), format!("{aname}[1]"))
                    } else {
                        (format!("\"{long}\""), aname.clone())
                    };
                    out.push((format!("{root}.{fname}"), op(value), path));
                } else if let Some(input) = by_name(&ty).filter(|t| t["kind"] == "INPUT_OBJECT") {
                    for f in input["inputFields"].as_array().cloned().unwrap_or_default() {
                        let (fty, _) = named(&f["type"]);
                        if fty == "String" || fty == "ID" {
                            let iname = f["name"].as_str().unwrap_or("");
                            let value = format!("{{ {iname}: \"{long}\" }}");
                            let value = if list { format!("[{value}]") } else { value };
                            let path = if list {
                                format!("{aname}[0].{iname}")
                            } else {
                                format!("{aname}.{iname}")
                            };
                            out.push((format!("{root}.{fname}"), op(value), path));
                        }
                    }
                }
            }
        }
    }
    out
}

async fn audit_entries(app: &TestApp) -> u64 {
    entity::audit_entry::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count audit entries")
}

#[tokio::test]
async fn every_string_argument_refuses_an_over_long_value_naming_it() {
    let app = spawn_app().await;
    let admin = app.token("ada", &["platform_admin"]);
    let schema = app.gql(&admin, SCHEMA, json!({})).await;
    let cases = cases(&schema);
    assert!(
        cases.len() >= 30,
        "the schema has many string arguments: {}",
        cases.len()
    );
    for must in [
        "Query.templates",
        "Mutation.publishTemplateVersion",
        "Mutation.createWriteKey",
    ] {
        assert!(cases.iter().any(|(f, _, _)| f == must), "{must} is covered");
    }
    let before = audit_entries(&app).await;
    for (field, query, path) in &cases {
        let body = app.gql(&admin, query, json!({})).await;
        assert_eq!(
            error_code(&body),
            Some("BAD_USER_INPUT"),
            "{field} {path}: {body}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            path.as_str(),
            "{field}: {body}"
        );
        assert!(
            error_message(&body).contains("at most"),
            "{field}: states the rule: {body}"
        );
        assert!(body["data"].is_null(), "{field}: nothing ran: {body}");
    }
    assert_eq!(
        audit_entries(&app).await,
        before,
        "no mutation ran, not even a denied one"
    );
}

#[tokio::test]
async fn long_values_in_variables_and_nested_fields_are_refused_too() {
    let app = spawn_app().await;
    let token = app.token("vera", &["viewer"]);
    let body = app
        .gql(
            &token,
            "query($s: String) { connectors(search: $s) { edges { node { key } } } }",
            json!({ "s": "y".repeat(201) }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "search", "{body}");
    assert!(
        error_message(&body).contains("at most 200 characters"),
        "{body}"
    );
    let body = app
        .gql(
            &token,
            "query($v: String!) { contract(name: \"lead\") { version(version: $v) { version } } }",
            json!({ "v": "1".repeat(1_001) }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "version",
        "{body}"
    );
    let body = app
        .gql(
            &token,
            "query($s: String = \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\") { templates(search: $s) { edges { node { key } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "search",
        "a default value counts: {body}"
    );
}

/// The server keeps documents it has parsed; the string check still reads each request's own
/// variables.
#[tokio::test]
async fn a_document_seen_before_still_has_its_variables_checked() {
    let app = spawn_app().await;
    let token = app.token("vera", &["viewer"]);
    let query = "query($s: String) { connectors(search: $s) { edges { node { key } } } }";
    let body = app.gql(&token, query, json!({ "s": "web" })).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(
        body["data"]["connectors"]["edges"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["node"]["key"] == "webhook")),
        "{body}"
    );
    let body = app
        .gql(&token, query, json!({ "s": "y".repeat(201) }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "search", "{body}");
    assert!(body["data"].is_null(), "nothing ran: {body}");
    let body = app.gql(&token, query, json!({ "s": "web" })).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn a_huge_catalog_search_is_bad_input_not_an_internal_error() {
    let app = spawn_app().await;
    let token = app.token("vera", &["viewer"]);
    for (case, search) in [
        ("50,001 bytes", "a".repeat(50_001)),
        ("25,000 percent signs", "%".repeat(25_000)),
    ] {
        let body = app
            .gql(
                &token,
                "query($s: String) { templates(search: $s) { edges { node { key } } } }",
                json!({ "s": search }),
            )
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{case}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "search", "{case}");
    }
    // Wildcards are matched literally, and an ordinary search still finds things.
    let body = app
        .gql(
            &token,
            "{ templates(search: \"%_%\") { edges { node { key } } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["templates"]["edges"], json!([]), "{body}");
    let body = app
        .gql(
            &token,
            "{ templates(search: \"lead\") { edges { node { key } } } }",
            json!({}),
        )
        .await;
    let found = body["data"]["templates"]["edges"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(found >= 2, "lead capture and lead routing: {body}");
}
