//! GraphiQL in headless Chromium with every host name unresolvable (as on an offline or
//! locked-down network): signed in to the web UI, `GET /graphql` renders GraphiQL from the
//! binary's own files, loads the schema, runs a query, and every resource the page loaded came
//! from this server. A screenshot goes to `target/ui-screenshots/graphiql.png`.
//!
//! Without chromedriver the test says why and passes, unless `CI` is set: then it fails.

use super::webdriver::{Ui, browser_with, driver_or_skip};
use crate::helpers::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_offline_from_the_binary() {
    let Some((driver, chromium)) = driver_or_skip("GraphiQL").await else {
        return;
    };
    let app = spawn_app().await;
    let offline = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"];
    let shots = repo_root().join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let ui = Ui {
        c: browser_with(&driver, &chromium, &offline).await,
        app: &app,
        shots,
    };
    ui.sign_in_as("marketer").await;
    ui.goto("/graphql").await;
    ui.wait(".graphiql-container").await;
    ui.wait(".graphiql-execute-button")
        .await
        .click()
        .await
        .expect("run the default query");
    ui.until(
        "the result shows who I am",
        "(document.querySelector('.result-window') || {}).textContent && document.querySelector('.result-window').textContent.includes('\"sub\"')",
    )
    .await;
    let result = ui
        .js("return document.querySelector('.result-window').textContent;")
        .await;
    let result = result.as_str().unwrap_or("");
    assert!(
        result.contains("alice") && !result.contains("\"errors\""),
        "{result}"
    );
    ui.wait("button[aria-label='Show Documentation Explorer']")
        .await
        .click()
        .await
        .expect("open the docs");
    ui.until(
        "the schema is loaded into the docs",
        "document.querySelector('.graphiql-doc-explorer') && document.querySelector('.graphiql-doc-explorer').textContent.includes('Query')",
    )
    .await;
    assert_same_origin(&ui, &app.url("/")).await;
    let png = ui.c.screenshot().await.expect("screenshot");
    std::fs::write(ui.shots.join("graphiql.png"), png).expect("write screenshot");
}

/// Every resource the page loaded (scripts, styles, fonts, GraphQL requests) came from `origin`.
async fn assert_same_origin(ui: &Ui<'_>, origin: &str) {
    let loaded = ui
        .js("return performance.getEntriesByType('resource').map((e) => e.name).concat([location.href]);")
        .await;
    let urls: Vec<&str> = loaded
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        urls.len() >= 6,
        "scripts, styles and GraphQL requests: {urls:?}"
    );
    for url in &urls {
        assert!(
            url.starts_with(origin) || url.starts_with("data:"),
            "loaded from elsewhere: {url}"
        );
    }
}
