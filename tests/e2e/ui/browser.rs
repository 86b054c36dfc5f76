//! The web UI in headless Chromium (Debian's `chromium` and `chromium-driver`, driven over
//! WebDriver with fantoccini; harness in `webdriver.rs`): a marketer signs in, finds lead capture
//! by search, instantiates it with an invalid and then a valid parameter, sees the workflow with
//! its runs, deliveries and a dead letter, and replays it; compliance sees the audit entry; a
//! platform engineer publishes a deprecation notice for lead capture 1.0.0 through the platform
//! form (a server error next to the sunset field first) and sees the marketer's workflow and
//! owner affected; the marketer then sees the notification on My workflows, the banner with the
//! sunset date and replacement on the template page, a template past its sunset that can no
//! longer be used, and runs a scheduled workflow now. Every main page is checked for labelled
//! controls, no script errors, a title and no sideways scrolling (at 1440 px and at 360 px), and
//! saved as a screenshot under `target/ui-screenshots/` for reviewers.
//!
//! Without chromedriver the test says why and passes, unless `CI` is set: then it fails.

use super::webdriver::{Ui, WAIT, browser, driver_or_skip};
use crate::execution::event_to;
use crate::helpers::*;
use crate::receiver::{Receiver, Reply};
use serde_json::{Value, json};

/// A connection of the demo marketer (alice, team marketing), so her wizard may use it.
async fn connection(app: &TestApp, connector: &str, name: &str, settings: Value) -> i64 {
    let alice = app.token_in("alice", &["marketer"], "marketing");
    let body = app
        .gql(&alice, "mutation($c: String!, $n: String!, $s: JSON!) { createConnection(connector: $c, name: $n, settings: $s) { id } }",
            json!({ "c": connector, "n": name, "s": settings }))
        .await;
    body["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("createConnection: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketer_finds_and_instantiates_lead_capture_and_compliance_sees_it() {
    let Some((driver, chromium)) = driver_or_skip("web UI").await else {
        return;
    };
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    // HubSpot fails the first lead four times (every attempt of the test retry schedule), so it
    // becomes a dead letter; later requests succeed.
    let hubspot = Receiver::start(vec![Reply::Status(500); 4]).await;
    let slack = Receiver::start(vec![]).await;
    let crm = connection(
        &app,
        "hubspot",
        "EMEA HubSpot",
        json!({ "base_url": hubspot.url(""), "access_token": "pat-eu1-0123456789" }),
    )
    .await;
    let chat = connection(
        &app,
        "slack",
        "#leads",
        json!({ "webhook_url": slack.url("/services/T0/B0/x") }),
    )
    .await;
    // A template whose sunset passes right away, to see that it can no longer be used.
    publish_notice(
        &app,
        "lifecycle-messaging",
        "1.0.0",
        chrono::Utc::now() + chrono::Duration::seconds(2),
        "Superseded by campaign approval; move your messages there.",
    )
    .await;
    let ads = Receiver::start(vec![]).await;
    let scheduled = scheduled_workflow(&app, &ads.url("/audiences")).await;
    let shots = repo_root().join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    for old in std::fs::read_dir(&shots).into_iter().flatten().flatten() {
        if old.path().extension().is_some_and(|x| x == "png") {
            std::fs::remove_file(old.path()).ok();
        }
    }
    let ui = Ui {
        c: browser(&driver, &chromium).await,
        app: &app,
        shots,
    };

    ui.goto("/catalog").await;
    ui.wait("button[data-role='marketer']").await;
    ui.page("01-sign-in").await;
    ui.sign_in_as("marketer").await;
    ui.wait("#catalog-search").await;
    ui.until(
        "the catalog shows cards",
        "document.querySelector('#results .card')",
    )
    .await;
    ui.page("02-catalog").await;

    ui.wait("#catalog-search")
        .await
        .send_keys("lead capt")
        .await
        .expect("type a search");
    ui.until("the search narrows to lead capture",
        "document.querySelector(\"#results a[href='/templates/lead-capture']\") && !document.querySelector(\"#results a[href='/connectors/hubspot']\")").await;
    assert!(
        ui.c.current_url()
            .await
            .expect("url")
            .as_str()
            .contains("q=lead+capt"),
        "the search is in the URL"
    );
    ui.wait("#results a[href='/templates/lead-capture']")
        .await
        .click()
        .await
        .expect("open lead capture");
    ui.wait(".access-list").await;
    ui.until(
        "the data flows are worked out",
        "document.querySelector('.flows .field-chips')",
    )
    .await;
    ui.page("03-template-detail").await;

    ui.wait("a.button.primary[href$='/instantiate']")
        .await
        .click()
        .await
        .expect("use this template");
    ui.wait("#wf-name")
        .await
        .send_keys("EMEA forms")
        .await
        .expect("name");
    let score = ui.wait("input[name='params.min_score']").await;
    score.clear().await.expect("clear score");
    score.send_keys("150").await.expect("an invalid score");
    ui.wait("form.wizard button[type=submit]")
        .await
        .click()
        .await
        .expect("next");
    ui.wait("#slot-crm")
        .await
        .select_by_value(&crm.to_string())
        .await
        .expect("choose the CRM");
    ui.wait("#slot-chat")
        .await
        .select_by_value(&chat.to_string())
        .await
        .expect("choose the chat");
    ui.wait("form.wizard button[type=submit]")
        .await
        .click()
        .await
        .expect("next");
    ui.until(
        "the review lists the flows",
        "document.querySelector('form.wizard .flows .field-chips')",
    )
    .await;
    ui.page("04-wizard-review").await;
    ui.wait("form.wizard button[type=submit]")
        .await
        .click()
        .await
        .expect("create");

    // The server refuses the score; the error is shown next to the field, on the first step.
    ui.wait("input[name='params.min_score'][aria-invalid='true']")
        .await;
    let err = ui
        .js(
            "const i = document.querySelector(\"input[name='params.min_score']\");
             const e = document.getElementById(i.getAttribute('aria-describedby').split(' ').pop());
             return e && !e.hidden ? e.textContent : '';",
        )
        .await;
    assert!(
        err.as_str().is_some_and(|t| t.contains("100")),
        "the server's message names the limit: {err}"
    );
    assert_eq!(
        ui.js("return document.activeElement && document.activeElement.name;")
            .await,
        json!("params.min_score"),
        "focus moves to the field in error"
    );
    ui.page("05-wizard-server-error").await;
    let score = ui.wait("input[name='params.min_score']").await;
    score.clear().await.expect("clear score");
    score.send_keys("50").await.expect("a valid score");
    for _ in 0..3 {
        ui.wait("form.wizard button[type=submit]")
            .await
            .click()
            .await
            .expect("next / create");
    }
    let open = ui.wait("a.button.primary[href^='/workflows/']").await;
    ui.page("06-workflow-created").await;
    let instance: i64 = open
        .attr("href")
        .await
        .ok()
        .flatten()
        .and_then(|h| h.trim_start_matches("/workflows/").parse().ok())
        .expect("the link names the workflow");
    run_two_leads(&app, instance).await;
    ui.wait("a.button.primary[href^='/workflows/']")
        .await
        .click()
        .await
        .expect("open the workflow");
    ui.until("the workflow page shows", "document.querySelector('main h1') && document.querySelector('main h1').textContent.includes('EMEA forms')").await;
    ui.until(
        "its runs and the dead letter are drawn",
        "document.querySelectorAll('.timeline .run').length >= 2 && document.querySelector('svg.spark rect') && !document.querySelector('.loading')",
    )
    .await;
    ui.wait(".timeline .run button")
        .await
        .click()
        .await
        .expect("show deliveries");
    ui.until(
        "the deliveries of a run show",
        "document.querySelector('.timeline .run table')",
    )
    .await;
    let dead = ui
        .js("return document.querySelector('#dead-h').parentElement.textContent;")
        .await;
    assert!(
        dead.as_str().is_some_and(|t| t.contains("500")),
        "the dead letter shows its error: {dead}"
    );
    ui.page("07-workflow").await;
    let replay = ui.wait("#dead-h ~ div button.primary").await;
    replay.click().await.expect("replay");
    ui.until("the replay is confirmed", "document.querySelector('#dead-h ~ div .notice') || document.querySelector('#dead-h ~ div .empty')").await;
    let replayed = eventually(WAIT, || async { hubspot.count() >= 6 }).await;
    assert!(
        replayed,
        "the replayed lead reached HubSpot ({} requests)",
        hubspot.count()
    );
    ui.goto("/workflows").await;
    ui.until(
        "the list shows the workflow",
        "[...document.querySelectorAll('main td a')].some((a) => a.textContent === 'EMEA forms')",
    )
    .await;
    ui.page("08-my-workflows").await;

    ui.goto("/contracts").await;
    ui.wait("main table").await;
    ui.page("09-contracts").await;
    ui.goto("/contracts/event.form_submitted").await;
    ui.wait(".diff, #diff-h").await;
    ui.page("10-contract-detail").await;
    ui.goto("/contracts/event.form_submitted/check").await;
    ui.wait("#cc-schema").await;
    // The README's example: a new `source_category` value breaks a FULL contract's readers.
    ui.js("const t = document.querySelector('#cc-schema');
           const s = JSON.parse(t.value);
           s.properties.source_category.enum.push('webinar');
           t.value = JSON.stringify(s, null, 2);
           return true;")
        .await;
    ui.wait("form.panel button[type=submit]")
        .await
        .click()
        .await
        .expect("check");
    ui.until("the check reports the break", "document.querySelector('#report-h') && document.querySelector('#report-h').textContent.includes('Breaking')").await;
    ui.until("the live workflow is listed as a consumer",
        "[...document.querySelectorAll('.report tbody tr')].some((r) => r.textContent.includes('EMEA forms'))").await;
    ui.page("11-contract-check").await;

    ui.sign_out().await;
    ui.sign_in_as("compliance").await;
    ui.goto("/compliance?action=instance.create").await;
    ui.wait(".chain-ok").await;
    ui.until("the audit entry of the new workflow shows",
        "[...document.querySelectorAll('main tbody tr')].some((r) => r.textContent.includes('alice') && r.textContent.includes('instance.create'))").await;
    ui.page("12-audit-log").await;
    ui.goto("/compliance/policy").await;
    ui.wait(".rules").await;
    ui.page("13-policy").await;
    viewer_sees_personal_values_masked(&ui, instance).await;

    // lead capture 2.0.0 is published; 1.0.0 (the marketer's workflow) gets a deprecation notice.
    publish_next_version(&app, "lead-capture", "2.0.0").await;
    ui.sign_out().await;
    ui.sign_in_as("platform_engineer").await;
    let sunset = deprecate_through_the_platform_form(&ui).await;

    ui.sign_out().await;
    ui.sign_in_as("marketer").await;
    marketer_sees_the_deprecation(&ui, instance, &sunset).await;
    move_offer_previews_the_new_version(&ui, instance).await;
    run_the_scheduled_workflow_now(&ui, &app, scheduled).await;
    start_a_manual_workflow(&ui, &app, chat).await;

    ui.c.set_window_size(360, 800).await.expect("phone width");
    ui.goto("/catalog").await;
    ui.until(
        "the catalog shows cards",
        "document.querySelector('#results .card')",
    )
    .await;
    ui.page("21-catalog-360px").await;
    ui.goto("/templates/lead-capture/instantiate").await;
    ui.wait("#wf-name").await;
    ui.page("22-wizard-360px").await;
    ui.goto("/workflows").await;
    ui.wait(".notifications").await;
    ui.until("health is drawn", HEALTH_DRAWN).await;
    ui.page("23-my-workflows-360px").await;
    ui.sign_out().await;
    ui.sign_in_as("platform_engineer").await;
    ui.goto("/platform").await;
    ui.wait("#notices-h ~ div table").await;
    ui.page("24-platform-360px").await;
    ui.c.clone().close().await.ok();
}

/// No workflow row still says "loading…" in its health column.
const HEALTH_DRAWN: &str = "document.querySelector('main tbody') && ![...document.querySelectorAll('main td')].some((td) => td.textContent === 'loading…')";

/// Sets the sunset control to noon local time `days` from today; returns its day, month name and
/// year (`30 November 2026`).
async fn set_sunset(ui: &Ui<'_>, days: i64) -> String {
    let shown = ui
        .js(&format!(
            "const d = new Date(); d.setDate(d.getDate() + ({days})); d.setHours(12, 0, 0, 0);
             const p = (n) => String(n).padStart(2, '0');
             const i = document.querySelector('#dp-sunset');
             i.value = `${{d.getFullYear()}}-${{p(d.getMonth() + 1)}}-${{p(d.getDate())}}T12:00`;
             i.dispatchEvent(new Event('input', {{ bubbles: true }}));
             const months = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
                             'September', 'October', 'November', 'December'];
             return `${{d.getDate()}} ${{months[d.getMonth()]}} ${{d.getFullYear()}}`;"
        ))
        .await;
    shown.as_str().expect("the date in words").to_string()
}

/// The platform engineer deprecates lead capture 1.0.0: the preview lists the marketer's
/// workflow, a sunset in the past is refused next to its field, then the notice is published and
/// names the workflow and its owner. Returns the sunset date in words.
async fn deprecate_through_the_platform_form(ui: &Ui<'_>) -> String {
    ui.goto("/platform").await;
    ui.wait("#dp-item option[value='lead-capture']").await;
    ui.wait("#dp-item")
        .await
        .select_by_value("lead-capture")
        .await
        .expect("choose lead capture");
    ui.wait("#dp-version option[value='1.0.0']").await;
    ui.wait("#dp-version")
        .await
        .select_by_value("1.0.0")
        .await
        .expect("choose version 1.0.0");
    ui.until(
        "the preview lists the marketer's workflow",
        "[...document.querySelectorAll('#aff-h ~ div td a')].some((a) => a.textContent === 'EMEA forms')",
    )
    .await;
    ui.until(
        "the existing notices are listed",
        "document.querySelector('#notices-h ~ div table')",
    )
    .await;
    ui.wait("#dp-replacement")
        .await
        .send_keys("lead-capture 2.0.0")
        .await
        .expect("type the replacement");
    ui.wait("#dp-notes")
        .await
        .send_keys("Version 2.0.0 adds company enrichment. Set up a new workflow from it with the same connections, then retire the old one.")
        .await
        .expect("type the migration notes");
    ui.page("14-platform").await;

    // Yesterday: the server refuses it, and the message sits next to the sunset field.
    set_sunset(ui, -1).await;
    ui.wait("#dp-form button[type=submit]")
        .await
        .click()
        .await
        .expect("publish");
    ui.wait("#dp-sunset[aria-invalid='true']").await;
    let err = ui
        .js("const e = document.querySelector('#dp-sunset-err'); return e.hidden ? '' : e.textContent;")
        .await;
    assert!(
        err.as_str().is_some_and(|t| t.contains("future")),
        "the server's message is shown next to the sunset: {err}"
    );
    assert_eq!(
        ui.js("return document.activeElement && document.activeElement.id;")
            .await,
        json!("dp-sunset"),
        "focus moves to the field in error"
    );
    ui.page("15-platform-server-error").await;

    let sunset = set_sunset(ui, 3).await;
    ui.wait("#dp-form button[type=submit]")
        .await
        .click()
        .await
        .expect("publish");
    ui.wait("#pub-h").await;
    ui.until(
        "the result lists the affected workflow",
        "[...document.querySelectorAll('#dp-result td a')].some((a) => a.textContent === 'EMEA forms')",
    )
    .await;
    let notified = ui
        .js("return document.querySelector('#dp-result .notified').textContent;")
        .await;
    assert_eq!(notified, json!("alice"), "the owner was notified");
    ui.until(
        "the notice is listed",
        "[...document.querySelectorAll('#notices-h ~ div td a')].some((a) => a.textContent === 'lead-capture 1.0.0')",
    )
    .await;
    assert_eq!(
        ui.js("return document.querySelector('#dp-sunset').getAttribute('aria-invalid');")
            .await,
        Value::Null,
        "the error is gone"
    );
    ui.page("16-platform-published").await;
    sunset
}

/// The marketer sees the notification, the banner on the template and on the workflow, and that
/// a template past its sunset can no longer be used.
async fn marketer_sees_the_deprecation(ui: &Ui<'_>, instance: i64, sunset: &str) {
    ui.goto("/workflows").await;
    ui.wait(".notifications").await;
    let note = ui
        .js("return document.querySelector('.notifications').textContent;")
        .await;
    let note = note.as_str().unwrap_or("");
    assert!(
        note.contains("EMEA forms")
            && note.contains("lead-capture 1.0.0")
            && note.contains("lead-capture 2.0.0"),
        "the notification names the workflow and the replacement: {note}"
    );
    ui.wait(&format!(".notifications a[href='/workflows/{instance}']"))
        .await;
    ui.until("health is drawn", HEALTH_DRAWN).await;
    ui.page("17-my-workflows-notification").await;

    ui.goto("/templates/lead-capture").await;
    ui.wait(".banner.deprecated").await;
    ui.until(
        "the replacement links to setting up version 2.0.0",
        "document.querySelector(\".banner.deprecated a[href='/templates/lead-capture/instantiate?version=2.0.0']\")",
    )
    .await;
    let banner = ui
        .js("return document.querySelector('.banner.deprecated').textContent;")
        .await;
    let banner = banner.as_str().unwrap_or("");
    // The sunset in words, in whatever order the browser's locale puts day, month and year.
    for want in [
        "Version 1.0.0 is deprecated",
        "Lead capture 2.0.0",
        "adds company enrichment",
    ]
    .into_iter()
    .chain(sunset.split(' '))
    {
        assert!(banner.contains(want), "the banner says `{want}`: {banner}");
    }
    assert!(
        ui.js("return Boolean(document.querySelector(\"a.button.primary[href='/templates/lead-capture/instantiate']\"));")
            .await
            == json!(true),
        "the current version (2.0.0) can still be used"
    );
    ui.page("18-deprecated-template").await;

    ui.goto(&format!("/workflows/{instance}")).await;
    ui.wait(".banner.deprecated").await;

    // Past its sunset: said plainly, and no way to start a new workflow from it.
    ui.goto("/templates/lifecycle-messaging").await;
    ui.wait(".banner.deprecated.sunset").await;
    let banner = ui
        .js("return document.querySelector('.banner.deprecated').textContent;")
        .await;
    assert!(
        banner.as_str().is_some_and(
            |t| t.contains("new workflows can no longer be created from version 1.0.0")
        ),
        "{banner}"
    );
    ui.wait("#use-blocked").await;
    assert_eq!(
        ui.js("return document.querySelectorAll(\"main a[href^='/templates/lifecycle-messaging/instantiate']\").length;")
            .await,
        json!(0),
        "no instantiate action for a version past its sunset"
    );
    ui.page("19-sunset-passed-template").await;
    ui.goto("/templates/lifecycle-messaging/instantiate").await;
    ui.wait(".notice.blocked").await;
    assert_eq!(
        ui.js("return document.querySelectorAll('form.wizard').length;")
            .await,
        json!(0),
        "the wizard is not offered"
    );
}

/// A viewer (vic, alice's teammate) may see alice's workflow, but not the personal values in its
/// deliveries: each shows as a badge naming its class.
async fn viewer_sees_personal_values_masked(ui: &Ui<'_>, instance: i64) {
    ui.sign_out().await;
    ui.sign_in_as("viewer").await;
    ui.goto(&format!("/workflows/{instance}")).await;
    ui.until(
        "the runs are drawn",
        "document.querySelector('.timeline .run button') && !document.querySelector('.loading')",
    )
    .await;
    ui.wait(".timeline .run button")
        .await
        .click()
        .await
        .expect("show deliveries");
    ui.until(
        "a personal value shows as a badge",
        "document.querySelector('.timeline .run table .masked .pii-personal')",
    )
    .await;
    let text = ui
        .js("return document.querySelector('.timeline .run table').textContent;")
        .await;
    assert!(
        text.as_str().is_some_and(|t| !t.contains("@example.com")),
        "no email reaches the viewer's page: {text}"
    );
    ui.js("document.querySelector('.timeline .run table details').open = true; return true;")
        .await;
    ui.page("14-viewer-masked").await;
    ui.sign_out().await;
    ui.sign_in_as("compliance").await;
}

/// "Run now" on a scheduled workflow queues a run that shows up in the timeline.
async fn run_the_scheduled_workflow_now(ui: &Ui<'_>, app: &TestApp, id: i64) {
    let count = || async {
        app.gql(
            &app.token("carol", &["compliance"]),
            "query($i: Int!) { runs(instance: $i) { id } }",
            json!({ "i": id }),
        )
        .await["data"]["runs"]
            .as_array()
            .map_or(0, Vec::len)
    };
    ui.goto(&format!("/workflows/{id}")).await;
    ui.wait("#run-now").await;
    ui.until(
        "the page is drawn",
        "!document.querySelector('main .loading')",
    )
    .await;
    let before = count().await;
    ui.wait("#run-now").await.click().await.expect("run now");
    ui.wait(".notice.ok").await;
    ui.until(
        "the new run shows in the timeline",
        &format!("document.querySelectorAll('.timeline .run').length > {before}"),
    )
    .await;
    assert!(count().await > before, "a run was recorded");
    ui.page("20-run-now").await;
}

/// Publishes a notice through the API (the platform form is tested above).
async fn publish_notice(
    app: &TestApp,
    key: &str,
    version: &str,
    sunset: chrono::DateTime<chrono::Utc>,
    notes: &str,
) {
    let body = app
        .gql(
            &app.token("pat", &["platform_engineer"]),
            "mutation($i: DeprecationInput!) { publishDeprecationNotice(input: $i) { version } }",
            json!({ "i": { "kind": "TEMPLATE", "key": key, "version": version,
                           "sunsetAt": sunset.to_rfc3339(), "replacement": "campaign-approval 1.0.0", "notes": notes } }),
        )
        .await;
    assert!(
        body["errors"].is_null(),
        "publish a notice on {key}: {body}"
    );
}

/// Publishes template `key` again as `version`, with the definition of its newest version.
async fn publish_next_version(app: &TestApp, key: &str, version: &str) {
    let pat = app.token("pat", &["platform_engineer"]);
    let t = app
        .gql(&pat, "query($k: String!) { template(key: $k) { name summary description category owner versions { definition } } }",
            json!({ "k": key }))
        .await;
    let t = &t["data"]["template"];
    let input = json!({ "key": key, "name": t["name"], "summary": t["summary"], "description": t["description"],
        "category": t["category"], "owner": t["owner"], "version": version, "definition": t["versions"][0]["definition"] });
    let body = app
        .gql(
            &pat,
            "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
            json!({ "i": input }),
        )
        .await;
    assert!(body["errors"].is_null(), "publish {key} {version}: {body}");
}

/// An active audience sync of the marketer (alice), approved by an approver; returns its id.
async fn scheduled_workflow(app: &TestApp, ads_url: &str) -> i64 {
    let alice = app.token("alice", &["marketer"]);
    let conn = app
        .gql(&alice, "mutation($s: JSON!) { createConnection(connector: \"ads-audience\", name: \"Ads EMEA\", settings: $s) { id } }",
            json!({ "s": { "url": ads_url, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } }))
        .await;
    let conn = conn["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("ads connection: {conn}"));
    let made = app
        .gql(&alice, "mutation($c: Int!) { instantiateTemplate(template: \"audience-sync\", name: \"EMEA trial audience\",
                params: {segment_ids: [\"emea-trial\"], match_keys: [\"email\"], min_segment_size: 100},
                connections: [{slot: \"ads\", connection: $c}]) { id } }",
            json!({ "c": conn }))
        .await;
    let id = made["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("audience sync: {made}"));
    let approved = app
        .gql(
            &app.token("avery", &["approver"]),
            "mutation($i: Int!) { approveInstance(id: $i) { status } }",
            json!({ "i": id }),
        )
        .await;
    assert_eq!(
        approved["data"]["approveInstance"]["status"], "active",
        "{approved}"
    );
    id
}

/// Two leads arrive: the first dies at HubSpot (a dead letter), the second is delivered.
async fn run_two_leads(app: &TestApp, instance: i64) {
    // Watched as compliance, who may read anyone's workflow.
    let pat = app.token("carol", &["compliance"]);
    event_to(app, "ui-1", "ada@example.com").await;
    let dead = eventually(WAIT, || async {
        let d = app
            .gql(
                &pat,
                "query($i: Int!) { deadLetters(instance: $i) { id } }",
                json!({ "i": instance }),
            )
            .await;
        d["data"]["deadLetters"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    assert!(dead, "the first lead became a dead letter");
    event_to(app, "ui-2", "grace@example.com").await;
    let done = eventually(WAIT, || async {
        let d = app
            .gql(
                &pat,
                "query($i: Int!) { runs(instance: $i) { status } }",
                json!({ "i": instance }),
            )
            .await;
        d["data"]["runs"]
            .as_array()
            .is_some_and(|r| r.len() >= 2 && r.iter().all(|x| x["status"] != "running"))
    })
    .await;
    assert!(done, "both runs finished");
}

/// "Start" on a manual workflow (campaign approval of alice's, approved by avery) starts a run
/// that shows in the timeline, waiting for an approver.
async fn start_a_manual_workflow(ui: &Ui<'_>, app: &TestApp, chat: i64) {
    let key = crate::ingest::write_key(app, &["segment"]).await;
    let (code, body) = crate::ingest::post_events(
        app,
        &key,
        &json!([{
        "id": "ui-seg-1", "type": "segment", "occurred_at": "2026-11-27T09:30:00Z",
        "payload": {"segment_id": "emea-trial", "name": "EMEA trial users", "member_count": 1200,
                    "status": "active", "refreshed_at": "2026-11-27T09:00:00Z"}}]),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let alice = app.token_in("alice", &["marketer"], "marketing");
    let made = app
        .gql(&alice, "mutation($c: Int!) { instantiateTemplate(template: \"campaign-approval\", name: \"Spring launch\",
                params: {campaign_name: \"Spring launch\", segment_id: \"emea-trial\", channel: \"email\", send_at: \"2027-03-01T09:00:00Z\"},
                connections: [{slot: \"chat\", connection: $c}]) { id } }",
            json!({ "c": chat }))
        .await;
    let id = made["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("campaign approval: {made}"));
    let approved = app
        .gql(
            &app.token("avery", &["approver"]),
            "mutation($i: Int!) { approveInstance(id: $i) { status } }",
            json!({ "i": id }),
        )
        .await;
    assert_eq!(
        approved["data"]["approveInstance"]["status"], "active",
        "{approved}"
    );
    ui.goto(&format!("/workflows/{id}")).await;
    ui.wait("#start-run").await;
    ui.until(
        "the page is drawn",
        "!document.querySelector('main .loading')",
    )
    .await;
    ui.wait("#start-run").await.click().await.expect("start");
    ui.wait("#start-result").await;
    ui.until(
        "the run waits for an approver in the timeline",
        "document.querySelector('.timeline .run .run-approval')",
    )
    .await;
    ui.page("20b-started-campaign").await;
}

/// The deprecation banner on a workflow offers "Move to v2.0.0" with a preview of what changes.
async fn move_offer_previews_the_new_version(ui: &Ui<'_>, instance: i64) {
    ui.goto(&format!("/workflows/{instance}")).await;
    ui.wait("#move-version").await;
    let label = ui
        .js("return document.querySelector('#move-version').textContent;")
        .await;
    assert_eq!(label, "Move to v2.0.0");
    ui.wait("#move-version").await.click().await.expect("move");
    ui.wait("#move-preview").await;
    ui.wait("#move-confirm").await;
    let text = ui
        .js("return document.querySelector('#move-preview').textContent;")
        .await;
    assert!(
        text.as_str()
            .is_some_and(|t| t.contains("Moving from 1.0.0 to 2.0.0")),
        "{text}"
    );
    ui.page("17b-move-to-new-version").await;
}
