//! The governed catalog over GraphQL: the seeded items, browsing (pagination, search, filters,
//! detail views) and publishing (versions, lifecycle, validation, policy, audit).

use crate::helpers::*;
use serde_json::{Value, json};

const TEMPLATE: &str = "query($k: String!) { template(key: $k) { key name summary description \
    category owner latestVersion lifecycle versions { version definition } } }";
const CONTRACT: &str = "query($k: String!) { contract(name: $k) { key name summary description \
    category owner latestVersion lifecycle versions { version definition } } }";
const PUBLISH_TEMPLATE: &str = "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) \
    { version lifecycle createdBy steps } }";
const PUBLISH_CONTRACT: &str = "mutation($i: PublishInput!) { publishContractVersion(input: $i) \
    { version lifecycle createdBy } }";
const SET_LIFECYCLE: &str = "mutation($kind: Kind!, $k: String!, $v: String!, $l: Lifecycle!) \
    { setLifecycle(kind: $kind, key: $k, version: $v, lifecycle: $l) { version lifecycle } }";

/// Keys of the nodes of the connection `data.<field>`.
fn keys(body: &Value, field: &str) -> Vec<String> {
    body["data"][field]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("data.{field}.edges in {body}"))
        .iter()
        .map(|e| e["node"]["key"].as_str().expect("node key").to_string())
        .collect()
}

/// Runs a query as a viewer.
async fn view(app: &TestApp, query: &str, variables: Value) -> Value {
    let token = app.token("vera", &["viewer"]);
    app.gql(&token, query, variables).await
}

/// Keys listed by `field(args)`, one page of up to 100.
async fn list(app: &TestApp, field: &str, args: &str) -> Vec<String> {
    let q = format!("{{ {field}(first: 100, {args}) {{ edges {{ node {{ key }} }} }} }}");
    let body = view(app, &q, json!({})).await;
    assert!(body["errors"].is_null(), "{q}: {body}");
    keys(&body, field)
}

/// The item `data.template`/`data.contract` as read by a viewer.
async fn item(app: &TestApp, query: &str, key: &str) -> Value {
    let body = view(app, query, json!({ "k": key })).await;
    assert!(body["errors"].is_null(), "{body}");
    let data = body["data"].as_object().expect("data");
    data.values()
        .next()
        .cloned()
        .expect("the one field asked for")
}

/// A publish input for `version` of an existing item, copying its newest definition.
async fn input_from(app: &TestApp, query: &str, key: &str, version: &str) -> Value {
    let it = item(app, query, key).await;
    let mut input = json!({ "version": version, "definition": it["versions"][0]["definition"] });
    for f in ["key", "name", "summary", "description", "category", "owner"] {
        input[f] = it[f].clone();
    }
    input
}

/// Audit entries matching `filter`, read as compliance.
async fn audit(app: &TestApp, filter: Value) -> Vec<Value> {
    let q = "query($f: AuditFilter) { auditLog(filter: $f, first: 100) { edges { node { \
             actor action target outcome before after } } } }";
    let token = app.token("carol", &["compliance"]);
    let body = app.gql(&token, q, json!({ "f": filter })).await;
    assert!(body["errors"].is_null(), "{body}");
    let edges = body["data"]["auditLog"]["edges"].as_array().expect("edges");
    edges.iter().map(|e| e["node"].clone()).collect()
}

const PAT: (&str, &str) = ("pat", "platform_engineer");
const MIA: (&str, &str) = ("mia", "marketer");
const DANA: (&str, &str) = ("dana", "data_engineer");

/// Runs a publish `mutation` with `input` as `who` (sub, role).
async fn publish(app: &TestApp, who: (&str, &str), mutation: &str, input: &Value) -> Value {
    let token = app.token(who.0, &[who.1]);
    app.gql(&token, mutation, json!({ "i": input })).await
}

/// The `latestVersion` of an item.
async fn latest(app: &TestApp, query: &str, key: &str) -> Value {
    item(app, query, key).await["latestVersion"].clone()
}

fn field(body: &Value) -> &str {
    let field = &body["errors"][0]["extensions"]["field"];
    field.as_str().unwrap_or("")
}

#[tokio::test]
async fn the_built_in_catalog_is_seeded() {
    let app = spawn_app().await;
    let connectors = list(&app, "connectors", "").await;
    let builtin = [
        "webhook",
        "postgres",
        "file",
        "slack",
        "hubspot",
        "salesforce",
    ];
    for k in builtin {
        assert!(connectors.contains(&k.to_string()), "{k} in {connectors:?}");
    }
    assert_eq!(list(&app, "contracts", "").await.len(), 16);
    assert_eq!(list(&app, "templates", "").await.len(), 13);
}

#[tokio::test]
async fn paging_with_first_and_after_walks_every_template_once() {
    let app = spawn_app().await;
    let q = "query($a: String) { templates(first: 2, after: $a) { edges { cursor node { key } } \
             pageInfo { hasNextPage endCursor } } }";
    let (mut seen, mut after, mut pages) = (Vec::new(), Value::Null, 0);
    loop {
        let body = view(&app, q, json!({ "a": after })).await;
        let page = keys(&body, "templates");
        assert!(!page.is_empty() && page.len() <= 2, "{body}");
        seen.extend(page);
        pages += 1;
        let info = &body["data"]["templates"]["pageInfo"];
        if info["hasNextPage"] == json!(false) {
            break;
        }
        assert!(pages < 10, "pagination does not end: {seen:?}");
        after = info["endCursor"].clone();
    }
    assert_eq!(pages, 7, "13 templates in pages of 2");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 13, "no duplicates, none missing: {seen:?}");
    let one_page = list(&app, "templates", "").await;
    assert_eq!(seen, one_page, "same order as one page");
}

#[tokio::test]
async fn search_is_case_insensitive_text_search() {
    let app = spawn_app().await;
    let templates = |args: &'static str| list(&app, "templates", args);
    assert_eq!(templates(r#"search: "ROUTING""#).await, ["lead-routing"]);
    assert!(templates(r#"search: "zzz-nothing""#).await.is_empty());
    let contracts = list(&app, "contracts", r#"search: "form_submitted""#).await;
    assert_eq!(contracts, ["event.form_submitted"]);
    // `_` and `%` are literals, not LIKE wildcards.
    assert!(templates(r#"search: "lead_c""#).await.is_empty());
    assert!(templates(r#"search: "lead%""#).await.is_empty());
}

#[tokio::test]
async fn filters_by_category_lifecycle_and_owner() {
    let app = spawn_app().await;
    let crm = list(&app, "connectors", r#"category: "crm""#).await;
    assert_eq!(crm, ["hubspot", "salesforce"]);
    let events = list(&app, "contracts", r#"category: "event""#).await;
    assert_eq!(events.len(), 9, "{events:?}");
    assert!(events.iter().all(|k| k.starts_with("event.")), "{events:?}");
    let templates = |args: &'static str| list(&app, "templates", args);
    assert_eq!(
        templates(r#"owner: "sales-ops""#).await,
        [
            "account-alerts",
            "demo-fast-lane",
            "launch-sales-alert",
            "lead-routing",
            "segment-validation"
        ]
    );
    assert_eq!(templates("lifecycle: PUBLISHED").await.len(), 13);
    assert!(templates("lifecycle: DEPRECATED").await.is_empty());
}

#[tokio::test]
async fn a_connector_shows_its_versions_and_settings_schema() {
    let app = spawn_app().await;
    let q = r#"{ connector(key: "webhook") { key category latestVersion
                versions { version lifecycle direction settingsSchema actions } } }"#;
    let body = view(&app, q, json!({})).await;
    let c = &body["data"]["connector"];
    assert_eq!(c["category"], "generic", "{body}");
    assert_eq!(c["latestVersion"], "1.0.0");
    let v = &c["versions"][0];
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["lifecycle"], "PUBLISHED");
    assert_eq!(v["direction"], "destination");
    assert_eq!(v["settingsSchema"]["type"], "object");
    assert_eq!(v["settingsSchema"]["properties"]["url"]["type"], "string");
    let secret = &v["settingsSchema"]["properties"]["secret"];
    assert_eq!(secret["x-secret"], true, "secrets are marked");
}

#[tokio::test]
async fn a_contract_lists_its_fields_with_pii_classes() {
    let app = spawn_app().await;
    let q = r#"{ contract(name: "event.form_submitted") { versions { compatibility
                fields { name type required pii description } } } }"#;
    let body = view(&app, q, json!({})).await;
    let v = &body["data"]["contract"]["versions"][0];
    assert_eq!(v["compatibility"], "FULL", "{body}");
    let fields = v["fields"].as_array().expect("fields");
    let by_name = |n: &str| fields.iter().find(|f| f["name"] == n).cloned();
    let source = by_name("source_category").expect("source_category field");
    assert_eq!(source["type"], "string");
    assert_eq!(source["required"], true);
    assert_eq!(source["pii"], "none");
    assert!(!source["description"].as_str().unwrap_or("").is_empty());
    assert_eq!(by_name("email").expect("email field")["pii"], "personal");
}

#[tokio::test]
async fn a_template_shows_its_trigger_and_steps() {
    let app = spawn_app().await;
    let q = r#"{ template(key: "lead-capture") { versions { trigger steps } } }"#;
    let body = view(&app, q, json!({})).await;
    let v = &body["data"]["template"]["versions"][0];
    assert_eq!(v["trigger"]["contract"], "event.form_submitted", "{body}");
    let types: Vec<&str> = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["type"].as_str())
        .collect();
    let expected = ["validate", "dedupe", "suppress", "map", "deliver", "notify"];
    assert_eq!(types, expected);
}

#[tokio::test]
async fn publishing_a_template_version_updates_the_item_and_is_audited() {
    let app = spawn_app().await;
    let input = input_from(&app, TEMPLATE, "lead-capture", "1.1.0").await;
    let body = publish(&app, PAT, PUBLISH_TEMPLATE, &input).await;
    assert!(body["errors"].is_null(), "{body}");
    let v = &body["data"]["publishTemplateVersion"];
    assert_eq!(v["version"], "1.1.0");
    assert_eq!(v["lifecycle"], "PUBLISHED");
    assert_eq!(v["createdBy"], "pat");
    assert_eq!(v["steps"], input["definition"]["steps"]);
    let it = item(&app, TEMPLATE, "lead-capture").await;
    assert_eq!(it["latestVersion"], "1.1.0");
    assert_eq!(it["versions"][0]["version"], "1.1.0", "newest first");
    assert_eq!(it["versions"][1]["version"], "1.0.0");
    let entries = audit(&app, json!({ "target": "template:lead-capture@1.1.0" })).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "template.publish");
    assert_eq!(entries[0]["actor"], "pat");
    assert_eq!(entries[0]["outcome"], "allowed");
    assert_eq!(entries[0]["after"]["version"], "1.1.0");
}

#[tokio::test]
async fn republishing_or_publishing_a_lower_version_conflicts() {
    let app = spawn_app().await;
    let mut input = input_from(&app, TEMPLATE, "lead-capture", "1.1.0").await;
    let first = publish(&app, PAT, PUBLISH_TEMPLATE, &input).await;
    assert!(first["errors"].is_null(), "{first}");
    let again = publish(&app, PAT, PUBLISH_TEMPLATE, &input).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
    input["version"] = json!("1.0.5");
    let lower = publish(&app, PAT, PUBLISH_TEMPLATE, &input).await;
    assert_eq!(error_code(&lower), Some("CONFLICT"), "{lower}");
    assert!(
        error_message(&lower).contains("1.1.0"),
        "names the newest: {lower}"
    );
    let versions = item(&app, TEMPLATE, "lead-capture").await["versions"].clone();
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions}");
    let entries = audit(&app, json!({ "target": "template:lead-capture@1.0.5" })).await;
    assert!(
        entries.is_empty(),
        "a refused publish writes nothing: {entries:?}"
    );
}

#[tokio::test]
async fn a_marketer_may_not_publish_and_the_attempt_is_audited() {
    let app = spawn_app().await;
    let input = input_from(&app, TEMPLATE, "lead-capture", "1.2.0").await;
    let body = publish(&app, MIA, PUBLISH_TEMPLATE, &input).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(latest(&app, TEMPLATE, "lead-capture").await, "1.0.0");
    let entries = audit(&app, json!({ "target": "template:lead-capture@1.2.0" })).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"], "mia");
    assert_eq!(entries[0]["action"], "template.publish");
    assert_eq!(entries[0]["outcome"], "denied");
}

#[tokio::test]
async fn an_invalid_json_schema_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let mut input = input_from(&app, CONTRACT, "event.form_submitted", "1.1.0").await;
    input["definition"]["schema"] = json!({ "type": "strnig" });
    let audit_before = audit(&app, json!({})).await.len();
    let body = publish(&app, DANA, PUBLISH_CONTRACT, &input).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        field(&body).starts_with("input.definition.schema"),
        "{body}"
    );
    let it = item(&app, CONTRACT, "event.form_submitted").await;
    assert_eq!(
        it["versions"].as_array().map(Vec::len),
        Some(1),
        "no version added"
    );
    assert_eq!(it["latestVersion"], "1.0.0");
    assert_eq!(
        audit(&app, json!({})).await.len(),
        audit_before,
        "no audit entry"
    );
}

/// Publishes `input` as a platform engineer, expecting BAD_USER_INPUT; returns the body.
async fn publish_as_platform(app: &TestApp, mutation: &str, input: Value) -> Value {
    let body = publish(app, PAT, mutation, &input).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    body
}

#[tokio::test]
async fn an_unknown_definition_field_is_named() {
    let app = spawn_app().await;
    let mut input = input_from(&app, CONTRACT, "lead", "1.1.0").await;
    input["definition"]["colour"] = json!("blue");
    let body = publish_as_platform(&app, PUBLISH_CONTRACT, input).await;
    assert!(field(&body).starts_with("input.definition"), "{body}");
    assert!(error_message(&body).contains("colour"), "{body}");
}

#[tokio::test]
async fn an_unknown_category_is_named() {
    let app = spawn_app().await;
    let mut input = input_from(&app, TEMPLATE, "alerting", "1.1.0").await;
    input["category"] = json!("astrology");
    let body = publish_as_platform(&app, PUBLISH_TEMPLATE, input).await;
    assert_eq!(field(&body), "input.category", "{body}");
    assert!(error_message(&body).contains("astrology"), "{body}");
}

#[tokio::test]
async fn an_unknown_step_type_is_named_with_its_index() {
    let app = spawn_app().await;
    let mut input = input_from(&app, TEMPLATE, "lead-capture", "1.1.0").await;
    input["definition"]["steps"][2]["type"] = json!("teleport");
    let body = publish_as_platform(&app, PUBLISH_TEMPLATE, input).await;
    assert_eq!(field(&body), "input.definition.steps[2].type", "{body}");
    assert!(error_message(&body).contains("teleport"), "{body}");
}

#[tokio::test]
async fn a_template_reading_a_field_the_contract_lacks_is_refused() {
    let app = spawn_app().await;
    let mut input = input_from(&app, TEMPLATE, "lead-capture", "1.1.0").await;
    let fields = input["definition"]["reads"][0]["fields"]
        .as_array_mut()
        .expect("lead-capture reads fields");
    fields.push(json!("shoe_size"));
    let body = publish_as_platform(&app, PUBLISH_TEMPLATE, input).await;
    assert!(
        field(&body).starts_with("input.definition.reads[0].fields"),
        "{body}"
    );
    assert!(error_message(&body).contains("shoe_size"), "{body}");
    assert_eq!(latest(&app, TEMPLATE, "lead-capture").await, "1.0.0");
}

#[tokio::test]
async fn deprecating_a_version_is_audited_and_cannot_be_undone() {
    let app = spawn_app().await;
    let token = app.token("pat", &["platform_engineer"]);
    // alerting's current version: the item's lifecycle is its current version's.
    let vars = |l: &str| json!({ "kind": "TEMPLATE", "k": "alerting", "v": "2.0.0", "l": l });
    let body = app.gql(&token, SET_LIFECYCLE, vars("DEPRECATED")).await;
    assert_eq!(
        body["data"]["setLifecycle"]["lifecycle"], "DEPRECATED",
        "{body}"
    );
    assert_eq!(
        item(&app, TEMPLATE, "alerting").await["lifecycle"],
        "DEPRECATED"
    );
    assert_eq!(
        list(&app, "templates", "lifecycle: DEPRECATED").await,
        ["alerting"]
    );
    let entries = audit(&app, json!({ "action": "template.lifecycle" })).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["target"], "template:alerting@2.0.0");
    assert_eq!(entries[0]["actor"], "pat");
    assert_eq!(entries[0]["before"], json!({ "lifecycle": "published" }));
    assert_eq!(entries[0]["after"], json!({ "lifecycle": "deprecated" }));

    let back = app.gql(&token, SET_LIFECYCLE, vars("PUBLISHED")).await;
    assert_eq!(error_code(&back), Some("CONFLICT"), "{back}");
    assert_eq!(
        item(&app, TEMPLATE, "alerting").await["lifecycle"],
        "DEPRECATED"
    );
    let marketer = app.token("mia", &["marketer"]);
    let denied = app.gql(&marketer, SET_LIFECYCLE, vars("RETIRED")).await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");
}

#[tokio::test]
async fn a_data_engineer_publishes_contracts_but_not_templates() {
    let app = spawn_app().await;
    let contract = input_from(&app, CONTRACT, "lead", "1.0.1").await;
    let ok = publish(&app, DANA, PUBLISH_CONTRACT, &contract).await;
    assert!(ok["errors"].is_null(), "{ok}");
    assert_eq!(ok["data"]["publishContractVersion"]["createdBy"], "dana");
    assert_eq!(latest(&app, CONTRACT, "lead").await, "1.0.1");
    let template = input_from(&app, TEMPLATE, "lead-capture", "1.1.0").await;
    let denied = publish(&app, DANA, PUBLISH_TEMPLATE, &template).await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");
    assert_eq!(latest(&app, TEMPLATE, "lead-capture").await, "1.0.0");
}

#[tokio::test]
async fn template_expressions_are_compiled_at_publish_time() {
    let app = spawn_app().await;
    let mut input = input_from(&app, TEMPLATE, "lead-routing", "1.1.0").await;
    let steps = input["definition"]["steps"]
        .as_array()
        .expect("steps")
        .clone();
    let route = steps
        .iter()
        .position(|s| s["id"] == "route")
        .expect("route step");
    input["definition"]["steps"][route]["config"]["rules"][0]["when"] =
        json!("event.source_category == ");
    let body = publish(&app, PAT, PUBLISH_TEMPLATE, &input).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(
        field(&body),
        format!("input.definition.steps[{route}].config.rules[0].when")
    );
    input["definition"]["steps"][route]["config"]["rules"][0]["when"] =
        json!("secrets.api_key == 'x'");
    let body = publish(&app, PAT, PUBLISH_TEMPLATE, &input).await;
    assert!(
        error_message(&body).contains("`secrets` is not defined"),
        "{body}"
    );
}

/// Every template as `key → {lifecycle, latestVersion, versions}`, listed by a viewer.
async fn listing(app: &TestApp) -> serde_json::Map<String, Value> {
    let q = "{ templates(first: 100) { edges { node { key lifecycle latestVersion \
             versions { version lifecycle } } } } }";
    let body = view(app, q, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let edges = body["data"]["templates"]["edges"]
        .as_array()
        .expect("edges");
    let node = |e: &Value| {
        let n = &e["node"];
        let key = n["key"].as_str().expect("key").to_string();
        (
            key,
            json!([n["lifecycle"], n["latestVersion"], n["versions"]]),
        )
    };
    edges.iter().map(node).collect()
}

#[tokio::test]
async fn the_listing_shows_each_write_at_once_and_only_on_its_own_database() {
    // Two servers in one process, each on its own database, both listings read (and kept)
    // before anything changes.
    let (a, b) = (spawn_app().await, spawn_app().await);
    let seeded = listing(&a).await;
    assert_eq!(
        listing(&b).await,
        seeded,
        "two fresh databases list the same"
    );

    // On a: a new version of lead-capture and a new template.
    let version = input_from(&a, TEMPLATE, "lead-capture", "1.1.0").await;
    let body = publish(&a, PAT, PUBLISH_TEMPLATE, &version).await;
    assert!(body["errors"].is_null(), "{body}");
    let mut new = input_from(&a, TEMPLATE, "lead-capture", "1.0.0").await;
    new["key"] = json!("lead-capture-emea");
    new["name"] = json!("Lead capture (EMEA)");
    let body = publish(&a, PAT, PUBLISH_TEMPLATE, &new).await;
    assert!(body["errors"].is_null(), "{body}");
    let on_a = listing(&a).await;
    assert_eq!(on_a["lead-capture"][1], "1.1.0", "{on_a:?}");
    assert_eq!(on_a["lead-capture"][2][0]["version"], "1.1.0", "{on_a:?}");
    assert!(on_a.contains_key("lead-capture-emea"), "{on_a:?}");
    assert_eq!(listing(&b).await, seeded, "b's catalog is not a's");

    // On b: alerting's current version deprecated; a still lists it as published.
    let token = b.token("pat", &["platform_engineer"]);
    let vars = json!({ "kind": "TEMPLATE", "k": "alerting", "v": "2.0.0", "l": "DEPRECATED" });
    let body = b.gql(&token, SET_LIFECYCLE, vars).await;
    assert!(body["errors"].is_null(), "{body}");
    let on_b = listing(&b).await;
    assert_eq!(on_b["alerting"][0], "DEPRECATED", "{on_b:?}");
    assert_eq!(
        on_b["alerting"][2][0]["lifecycle"], "DEPRECATED",
        "{on_b:?}"
    );
    assert!(!on_b.contains_key("lead-capture-emea"), "{on_b:?}");
    assert_eq!(listing(&a).await["alerting"], seeded["alerting"]);
}

/// The raw answer to `body`, sent by the holder of `token`.
async fn answer(app: &TestApp, token: &str, body: &Value) -> String {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.expect("body")
}

#[tokio::test]
async fn a_listing_asked_again_answers_each_caller_with_what_they_may_read_now() {
    let policies = crate::policy::copy_policies();
    let app = crate::policy::watched_app(policies.path()).await;
    let body =
        json!({ "query": "{ templates(first: 100) { edges { node { key latestVersion } } } }" });
    let (viewer, nobody) = (app.token("vic", &["viewer"]), app.token("nora", &[]));

    // Asked again and again, alternating callers: each gets the same bytes every time, and
    // the caller without a role never gets the viewer's rows.
    let first = answer(&app, &viewer, &body).await;
    let keys_seen = keys(&serde_json::from_str(&first).expect("json"), "templates");
    assert!(keys_seen.contains(&"alerting".to_string()), "{first}");
    for _ in 0..3 {
        assert_eq!(answer(&app, &viewer, &body).await, first);
        let none: Value = serde_json::from_str(&answer(&app, &nobody, &body).await).expect("json");
        assert_eq!(keys(&none, "templates"), Vec::<String>::new(), "{none}");
    }

    // A new version is listed by the very next identical request.
    let token = app.token("pat", &["platform_engineer"]);
    let version = input_from(&app, TEMPLATE, "alerting", "2.1.0").await;
    let published = publish(&app, PAT, PUBLISH_TEMPLATE, &version).await;
    assert!(published["errors"].is_null(), "{published}");
    let after: Value = serde_json::from_str(&answer(&app, &viewer, &body).await).expect("json");
    let alerting = after["data"]["templates"]["edges"]
        .as_array()
        .and_then(|edges| edges.iter().find(|e| e["node"]["key"] == "alerting"))
        .cloned()
        .unwrap_or_else(|| panic!("alerting in {after}"));
    assert_eq!(alerting["node"]["latestVersion"], "2.1.0", "{after}");

    // A policy edit that withdraws `alerting` from viewers: the same request stops showing it
    // once the policy is in force, and still shows everything else.
    let mut rules = crate::policy::read(policies.path(), "policy.csv");
    rules.push_str("\np, role:viewer, catalog:template:alerting, read, any, deny\n");
    crate::policy::replace(policies.path(), "policy.csv", &rules);
    let withdrawn = eventually(std::time::Duration::from_secs(10), || async {
        let now: Value = serde_json::from_str(&answer(&app, &viewer, &body).await).expect("json");
        !keys(&now, "templates").contains(&"alerting".to_string())
    })
    .await;
    assert!(withdrawn, "the deny must reach a listing asked for before");
    let now: Value = serde_json::from_str(&answer(&app, &viewer, &body).await).expect("json");
    assert_eq!(keys(&now, "templates").len(), keys_seen.len() - 1, "{now}");
    let platform: Value = serde_json::from_str(&answer(&app, &token, &body).await).expect("json");
    assert!(keys(&platform, "templates").contains(&"alerting".to_string()));
}
