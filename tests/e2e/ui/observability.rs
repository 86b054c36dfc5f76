//! Observability in the web UI, in headless Chromium: a platform engineer's workflow page updates
//! live over the graphql-transport-ws subscription (signed in by the browser's cookie session) as
//! events arrive, and its "where did this come from / where did it go" panel traces an event to
//! its destination with the fields sent; the alerts page lists the late-data alert with its
//! sentence, follows a change made elsewhere live, and acknowledges and snoozes it; compliance
//! finds where a person's data went and exports it as JSON. Pages are checked like the others
//! (labels, no script errors, title, no sideways scroll) and saved as screenshots.

use super::webdriver::{Ui, WAIT, browser, driver_or_skip};
use crate::alerts::{evaluate_at, watched_workflow_of};
use crate::execution::event_to;
use crate::helpers::*;
use crate::receiver::Receiver;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_workflow_lineage_alerts_and_contact_search_in_the_browser() {
    let Some((driver, chromium)) = driver_or_skip("observability").await else {
        return;
    };
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let hook = Receiver::start(vec![]).await;
    let workflow = watched_workflow_of(&app, &hook.url("/hook"), "pat", "platform").await;
    event_to(&app, "obs-1", "ana.obs@example.com").await;
    app.drain(WAIT).await;
    let shots = repo_root().join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let ui = Ui {
        c: browser(&driver, &chromium).await,
        app: &app,
        shots,
    };

    // The workflow page goes live, and a new event shows up without a reload.
    ui.goto("/signin").await;
    ui.sign_in_as("platform_engineer").await;
    ui.goto(&format!("/workflows/{workflow}")).await;
    ui.wait("#live-updates").await;
    ui.until(
        "the subscription is live",
        "document.querySelector('#live-updates .live-state').dataset.live === 'live'",
    )
    .await;
    ui.until(
        "the first run is shown",
        "document.querySelectorAll('.timeline .run').length === 1",
    )
    .await;
    ui.js("window.__sameDocument = true; return true;").await;
    event_to(&app, "obs-2", "ben.obs@example.com").await;
    ui.until(
        "the second run appears live",
        "document.querySelectorAll('.timeline .run').length === 2 && window.__sameDocument",
    )
    .await;
    ui.until(
        "the live line tells what changed",
        "/delivery to hook \\(webhook\\) delivered/.test(document.querySelector('#live-updates').textContent)",
    )
    .await;

    // Where did this come from / where did it go.
    ui.until(
        "the trace form is prefilled with a run's event",
        "/^obs-/.test(document.querySelector('#lineage-ref').value)",
    )
    .await;
    ui.js("const i = document.querySelector('#lineage-ref'); i.value = 'obs-1'; return true;")
        .await;
    ui.wait(".lineage-form button[type=submit]")
        .await
        .click()
        .await
        .expect("trace");
    ui.wait(".lineage-source").await;
    let traced = ui
        .js("return document.querySelector('.lineage-result').textContent;")
        .await;
    let traced = traced.as_str().unwrap_or_default();
    for want in [
        "obs-1",
        "event.form_submitted",
        "Website leads",
        "hook (webhook)",
        "delivered",
        "email",
        "flow:personal:generic",
        "HTTP 200",
    ] {
        assert!(traced.contains(want), "the trace names {want}: {traced}");
    }
    ui.page("obs-01-workflow-live-and-lineage").await;

    // Alerts: three hours without a submission is late data.
    let report = evaluate_at(&app, 3).await;
    assert_eq!(report.opened, 1, "{report:?}");
    let pat = app.token_in("pat", &["platform_engineer"], "platform");
    ui.goto("/alerts").await;
    ui.wait(".alert-item").await;
    let message = ui
        .js("return document.querySelector('.alert-item .alert-message').textContent;")
        .await;
    assert!(
        message.as_str().unwrap_or("").contains("Website leads")
            && message.as_str().unwrap_or("").contains("late"),
        "the alert is a sentence about the consequence: {message}"
    );
    ui.until(
        "the alerts page is subscribed",
        "document.querySelector('#alert-list').dataset.loaded === '1'",
    )
    .await;
    ui.page("obs-02-alerts").await;
    ui.wait(".alert-item [data-ack]")
        .await
        .click()
        .await
        .expect("acknowledge");
    ui.until(
        "the alert shows acknowledged",
        "document.querySelector('.alert-item') && /acknowledged by pat/.test(document.querySelector('.alert-item').textContent)",
    )
    .await;
    // A change made elsewhere (the API, another person) arrives live.
    let id = alert_id(&app, &pat).await;
    let snoozed = app
        .gql(
            &pat,
            "mutation($id: Int!) { snoozeAlert(id: $id, minutes: 15) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        snoozed["data"]["snoozeAlert"]["status"], "snoozed",
        "{snoozed}"
    );
    ui.until(
        "the page heard about it",
        "/is now snoozed/.test(document.querySelector('#alerts-live').textContent) && document.querySelector('.alert-item.alert-snoozed')",
    )
    .await;
    // Snooze for a week from the page.
    ui.js(&format!(
        "document.querySelector('#snooze-{id}').value = '10080'; return true;"
    ))
    .await;
    ui.wait(&format!("[data-snooze='{id}']"))
        .await
        .click()
        .await
        .expect("snooze");
    let week = eventually(WAIT, || async {
        let a = app
            .gql(
                &pat,
                "{ alerts(filter: {status: \"snoozed\"}) { id snoozedUntil } }",
                json!({}),
            )
            .await;
        a["data"]["alerts"][0]["snoozedUntil"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| {
                t.with_timezone(&chrono::Utc) > chrono::Utc::now() + chrono::Duration::days(6)
            })
    })
    .await;
    assert!(week, "snoozed for a week from the page");
    let carol = app.token("carol", &["compliance"]);
    let audit = app
        .gql(
            &carol,
            "{ auditLog(filter: {target: \"alert:*\"}) { edges { node { actor action } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = audit["data"]["auditLog"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["action"].as_str())
        .collect();
    assert!(
        actions.len() >= 3,
        "acknowledge and snoozes are audited: {audit}"
    );

    // Compliance: where did Ana's data go? Exportable as JSON.
    ui.sign_out().await;
    ui.sign_in_as("compliance").await;
    ui.goto("/compliance").await;
    ui.until("the contact search is offered", "document.querySelector('.contact-search') && !document.querySelector('.contact-search').hidden")
        .await;
    ui.wait("#contact-q")
        .await
        .send_keys("Ana.Obs@example.com")
        .await
        .expect("type an email");
    ui.wait(".contact-search button[type=submit]")
        .await
        .click()
        .await
        .expect("search");
    ui.wait(".contact-result table").await;
    let found = ui
        .js("return document.querySelector('.contact-result').textContent;")
        .await;
    let found = found.as_str().unwrap_or_default();
    assert!(
        found.contains("webhook") && found.contains("Website leads") && found.contains("email"),
        "{found}"
    );
    assert!(!found.contains("ben.obs"), "only this person's data");
    ui.wait("#contact-export")
        .await
        .click()
        .await
        .expect("export");
    let exported: Value = ui.js("return window.__syLastExport;").await;
    assert_eq!(
        exported["destinations"].as_array().map(Vec::len),
        Some(1),
        "{exported}"
    );
    assert_eq!(
        exported["destinations"][0]["connector"], "webhook",
        "{exported}"
    );
    ui.page("obs-03-compliance-contact-search").await;
    ui.c.close().await.ok();
}

async fn alert_id(app: &TestApp, token: &str) -> i64 {
    let a = app.gql(token, "{ alerts { id } }", json!({})).await;
    a["data"]["alerts"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("an alert: {a}"))
}

/// Opens `/graphql/ws` (graphql-transport-ws) with `cookie` and `origin`, sends
/// `connection_init` with `payload`, and prints what came back: `connection_ack`, or
/// `closed <code> <reason>`.
const WS_CLIENT: &str = r#"
import asyncio, json, sys, aiohttp
url, cookie, origin, payload = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
async def main():
    headers = {"Cookie": cookie}
    if origin:
        headers["Origin"] = origin
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, protocols=["graphql-transport-ws"], headers=headers) as ws:
            await ws.send_json({"type": "connection_init", "payload": payload})
            msg = await ws.receive(timeout=10)
            if msg.type == aiohttp.WSMsgType.TEXT:
                print(json.loads(msg.data)["type"])
            else:
                print("closed", ws.close_code, msg.extra)
asyncio.run(main())
"#;

#[tokio::test]
async fn the_websocket_takes_the_cookie_session_only_from_the_servers_own_pages_with_the_csrf_value()
 {
    let has_aiohttp = std::process::Command::new("python3")
        .args(["-c", "import aiohttp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_aiohttp {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs gql[aiohttp], which brings aiohttp"
        );
        eprintln!("skipped: pip install aiohttp to run this test");
        return;
    }
    let app = spawn_app().await;
    let s = crate::ui::sign_in(&app, "platform_engineer").await;
    let url = format!("ws://{}/graphql/ws", app.addr);
    let own = format!("http://{}", app.addr);
    let open = |origin: String, payload: Value| {
        let (url, cookie) = (url.clone(), s.cookie_header());
        async move {
            tokio::task::spawn_blocking(move || {
                let out = std::process::Command::new("python3")
                    .args([
                        "-c",
                        WS_CLIENT,
                        &url,
                        &cookie,
                        &origin,
                        &payload.to_string(),
                    ])
                    .output()
                    .expect("run python3");
                format!(
                    "{}{}",
                    stdout(&out).trim(),
                    String::from_utf8_lossy(&out.stderr)
                )
            })
            .await
            .expect("join")
        }
    };
    let ok = open(own.clone(), json!({ "csrf": s.csrf })).await;
    assert_eq!(
        ok, "connection_ack",
        "the UI's own page with the CSRF value"
    );
    let cross = open("https://evil.example".into(), json!({ "csrf": s.csrf })).await;
    assert!(
        cross.starts_with("closed ") && cross.contains("Origin"),
        "another site's page: {cross}"
    );
    let no_csrf = open(own.clone(), json!({})).await;
    assert!(
        no_csrf.starts_with("closed ") && no_csrf.contains("csrf"),
        "without the CSRF value: {no_csrf}"
    );
    let wrong = open(own, json!({ "csrf": "0".repeat(s.csrf.len()) })).await;
    assert!(wrong.starts_with("closed "), "a wrong CSRF value: {wrong}");
    // A bearer token in connection_init works from anywhere (stock clients), as before.
    let token = app.token("pat", &["platform_engineer"]);
    let bearer = open(
        "https://tools.example".into(),
        json!({ "Authorization": format!("Bearer {token}") }),
    )
    .await;
    assert_eq!(bearer, "connection_ack");
}
