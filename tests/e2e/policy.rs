//! The casbin policy as users meet it: `switchyard policy test` and `policy explain`, deny by
//! default, deny beating allow across a caller's roles, and edits to the files taking effect
//! without a restart while a broken edit leaves the last good policy in force.

use crate::helpers::*;
use serde_json::json;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const VIEWER_MAY_PUBLISH: &str =
    "{ me { can(object: \"catalog:template:alerting\", action: \"publish\") } }";
const GRANT: &str = "p, role:viewer, catalog:template:alerting, publish, any, allow\n";

/// Runs `switchyard --policy-dir DIR ARGS…` (no database involved).
pub(crate) fn policy_cli(dir: &Path, args: &[&str]) -> Output {
    let data = tempfile::tempdir().expect("data dir");
    std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--data-dir")
        .arg(data.path())
        .arg("--policy-dir")
        .arg(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run switchyard")
}

fn explain(args: &[&str]) -> (Option<i32>, String) {
    let out = policy_cli(&policy_dir(), &[&["policy", "explain"][..], args].concat());
    (out.status.code(), stdout(&out))
}

/// A private copy of the repository's `policies/`.
pub(crate) fn copy_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("policy dir");
    for name in ["model.conf", "policy.csv", "tests.csv"] {
        std::fs::copy(policy_dir().join(name), dir.path().join(name)).expect("copy policy file");
    }
    dir
}

pub(crate) fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("read policy file")
}

/// Replaces a file in one step, so the watcher never sees it half-written.
pub(crate) fn replace(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write policy file");
    std::fs::rename(&tmp, dir.join(name)).expect("replace policy file");
}

/// 1-based line number of `rule` in the repository's policy.csv.
fn policy_line(rule: &str) -> usize {
    let text = read(&policy_dir(), "policy.csv");
    text.lines()
        .position(|l| l.trim() == rule)
        .expect("rule in policy.csv")
        + 1
}

async fn viewer_may_publish(app: &TestApp) -> bool {
    let body = app
        .gql(
            &app.token("vic", &["viewer"]),
            VIEWER_MAY_PUBLISH,
            json!({}),
        )
        .await;
    body["data"]["me"]["can"]
        .as_bool()
        .unwrap_or_else(|| panic!("me.can: {body}"))
}

/// An app on a private policy copy; the server's governance loop watches the files.
pub(crate) async fn watched_app(policies: &Path) -> TestApp {
    spawn_with(Setup {
        policy_dir: Some(policies.to_path_buf()),
        ..Default::default()
    })
    .await
}

/// Refused policy edits, as the audit log records them (`policy.reload`, denied).
pub(crate) async fn refusals(app: &TestApp) -> Vec<serde_json::Value> {
    audit_entries(app, "policy.reload")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "denied")
        .collect()
}

/// Waits until the reload has refused one more edit than `before`.
pub(crate) async fn refused_once_more(app: &TestApp, before: usize) -> serde_json::Value {
    let until = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut last = refusals(app).await;
        if last.len() > before {
            return last.pop().unwrap_or_default();
        }
        assert!(
            std::time::Instant::now() < until,
            "the broken edit must be refused and audited: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn policy_test_passes_on_the_repository_policies() {
    let cases = read(&policy_dir(), "tests.csv")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("subject,"))
        .count();
    let out = policy_cli(&policy_dir(), &["policy", "test"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout(&out).contains(&format!("{cases} passed, 0 failed")),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_wrong_expectation_fails_policy_test_naming_its_line() {
    let dir = copy_policies();
    let mut tests = read(dir.path(), "tests.csv");
    if !tests.ends_with('\n') {
        tests.push('\n');
    }
    tests.push_str("role:marketer, catalog:template:lead-capture, publish, none, allow\n");
    let line = tests.lines().count();
    replace(dir.path(), "tests.csv", &tests);
    let out = policy_cli(dir.path(), &["policy", "test"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text.contains(&format!("tests.csv:{line}")),
        "must name line {line}: {text}"
    );
    assert!(text.contains(", 1 failed"), "{text}");
}

#[tokio::test]
async fn explain_prints_allow_and_the_deciding_rule() {
    let (code, out) = explain(&[
        "--sub",
        "role:marketer",
        "--obj",
        "catalog:template:lead-capture",
        "--act",
        "instantiate",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().next(), Some("allow"), "{out}");
    let rule = "p, role:marketer, catalog:template:lead-capture, instantiate, any, allow";
    assert!(
        out.contains(&format!("policy.csv:{}: {rule}", policy_line(rule))),
        "{out}"
    );
}

#[tokio::test]
async fn explain_of_a_denied_request_says_which_roles_may() {
    let (code, out) = explain(&[
        "--sub",
        "role:marketer",
        "--obj",
        "catalog:template:lead-capture",
        "--act",
        "publish",
    ]);
    assert_eq!(code, Some(1), "a deny is a failed check: {out}");
    assert_eq!(out.lines().next(), Some("deny"), "{out}");
    let who = out
        .lines()
        .find(|l| l.contains("platform_engineer"))
        .unwrap_or_else(|| panic!("must list the roles that may publish: {out}"));
    assert!(who.contains("platform_admin"), "{out}");
    assert!(
        !who.contains("marketer") && !who.contains("compliance"),
        "{out}"
    );
}

#[tokio::test]
async fn explain_decides_with_the_relation_to_the_owner() {
    let ask = |rel: &str| {
        explain(&[
            "--sub",
            "alice",
            "--role",
            "marketer",
            "--obj",
            "connection:webhook",
            "--act",
            "rotate",
            "--rel",
            rel,
        ])
    };
    let (code, out) = ask("own");
    assert_eq!(
        (code, out.lines().next()),
        (Some(0), Some("allow")),
        "{out}"
    );
    assert!(
        out.contains("connection:*, rotate, own, allow"),
        "names the rule: {out}"
    );
    let (code, out) = ask("team");
    assert_eq!((code, out.lines().next()), (Some(1), Some("deny")), "{out}");
    assert!(out.contains("relation team"), "{out}");
    assert!(out.contains("roles that may: platform_admin"), "{out}");
    let (code, out) = ask("none");
    assert_eq!(
        out.lines().next(),
        Some("deny"),
        "an own rule never covers an unowned object: {out}"
    );
    assert_eq!(code, Some(1));
    let (code, _) = ask("mine");
    assert_eq!(code, Some(2), "a relation that does not exist is bad input");
}

#[tokio::test]
async fn unknown_roles_objects_and_actions_are_denied() {
    for (sub, obj, act) in [
        ("role:intern", "catalog:template:lead-capture", "read"),
        ("role:marketer", "spaceship:apollo", "read"),
        ("role:compliance", "audit:log:archive", "read"),
        ("role:marketer", "catalog:template:lead-capture", "launch"),
    ] {
        let (_, out) = explain(&["--sub", sub, "--obj", obj, "--act", act]);
        assert_eq!(out.lines().next(), Some("deny"), "{sub} {act} {obj}: {out}");
    }
    let app = spawn_app().await;
    let intern = app.token("ian", &["intern"]);
    let body = app
        .gql(
            &intern,
            "{ template(key: \"lead-capture\") { key } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "unknown role: {body}");
    let marketer = app.token("mia", &["marketer"]);
    let body = app
        .gql(
            &marketer,
            "{ me { spaceship: can(object: \"spaceship:apollo\", action: \"read\")
                    launch: can(object: \"catalog:template:lead-capture\", action: \"launch\")
                    known: can(object: \"catalog:template:lead-capture\", action: \"read\") } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["me"],
        json!({ "spaceship": false, "launch": false, "known": true }),
        "{body}"
    );
}

#[tokio::test]
async fn a_deny_rule_beats_an_allow_from_another_role() {
    let app = spawn_app().await;
    let read = "{ template(key: \"alerting\") { name summary description category owner versions { version definition } } }";
    let t = app
        .gql(&app.token("vic", &["viewer"]), read, json!({}))
        .await["data"]["template"]
        .clone();
    let input = json!({
        "key": "alerting", "version": "1.0.1", "name": t["name"], "summary": t["summary"],
        "description": t["description"], "category": t["category"], "owner": t["owner"],
        "definition": t["versions"][0]["definition"],
    });
    let both = app.token("carol", &["compliance", "platform_engineer"]);
    let body = app
        .gql(
            &both,
            "mutation($input: PublishInput!) { publishTemplateVersion(input: $input) { version } }",
            json!({ "input": input }),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let after = app
        .gql(&app.token("vic", &["viewer"]), read, json!({}))
        .await;
    assert_eq!(
        after["data"]["template"]["versions"], t["versions"],
        "nothing was published"
    );

    let (_, out) = explain(&[
        "--sub",
        "carol",
        "--role",
        "compliance",
        "--role",
        "platform_engineer",
        "--obj",
        "catalog:template:alerting",
        "--act",
        "publish",
    ]);
    let rule = "p, role:compliance, catalog:**, publish, any, deny";
    assert_eq!(out.lines().next(), Some("deny"), "{out}");
    assert!(
        out.contains(&format!("policy.csv:{}", policy_line(rule))),
        "{out}"
    );
}

#[tokio::test]
async fn policy_edits_take_effect_without_restart_and_broken_edits_are_ignored() {
    let dir = copy_policies();
    let original = read(dir.path(), "policy.csv");
    let app = watched_app(dir.path()).await;
    assert!(
        !viewer_may_publish(&app).await,
        "viewers may not publish by default"
    );

    replace(dir.path(), "policy.csv", &format!("{original}{GRANT}"));
    let flipped = eventually(Duration::from_secs(3), || viewer_may_publish(&app)).await;
    assert!(flipped, "the new grant must be in force within 2 s");

    // A 5-field rule (no scope): the whole file is rejected, including the removal of the grant.
    let broken = format!("{original}p, role:viewer, catalog:template:alerting, publish, allow\n");
    let before = refusals(&app).await.len();
    replace(dir.path(), "policy.csv", &broken);
    let refusal = refused_once_more(&app, before).await;
    assert!(
        refusal["after"]["refused"]
            .as_str()
            .is_some_and(|r| r.contains("policy.csv:")),
        "the refusal names the file and line: {refusal}"
    );
    assert!(
        viewer_may_publish(&app).await,
        "the last good policy stays in force"
    );

    // The watcher is still alive: a valid edit without the grant takes effect.
    replace(dir.path(), "policy.csv", &original);
    let app = &app;
    let revoked = eventually(Duration::from_secs(3), move || async move {
        !viewer_may_publish(app).await
    })
    .await;
    assert!(
        revoked,
        "a valid edit after a broken one must still be picked up"
    );
}

/// Starts with the grant in force, breaks model.conf, and checks the grant survives; then
/// restores the model without the grant and checks that takes effect.
async fn broken_model_keeps_the_last_good_policy(broken_model: &str) {
    let dir = copy_policies();
    let original = read(dir.path(), "policy.csv");
    let model = read(dir.path(), "model.conf");
    replace(dir.path(), "policy.csv", &format!("{original}{GRANT}"));
    let app = watched_app(dir.path()).await;
    assert!(viewer_may_publish(&app).await, "grant in force at start");

    let before = refusals(&app).await.len();
    replace(dir.path(), "model.conf", broken_model);
    refused_once_more(&app, before).await;
    assert!(
        viewer_may_publish(&app).await,
        "the last good policy must stay in force; the broken model.conf was loaded instead"
    );

    replace(dir.path(), "model.conf", &model);
    replace(dir.path(), "policy.csv", &original);
    let app = &app;
    let revoked = eventually(Duration::from_secs(3), move || async move {
        !viewer_may_publish(app).await
    })
    .await;
    assert!(
        revoked,
        "a valid edit after a broken one must still be picked up"
    );
}

#[tokio::test]
async fn a_model_conf_with_a_syntax_error_is_ignored() {
    let model = read(&policy_dir(), "model.conf");
    let broken = model.replace("(r.act == p.act || p.act == \"*\")", "(r.act == p.act ||");
    assert_ne!(broken, model, "the matcher line to break is in model.conf");
    broken_model_keeps_the_last_good_policy(&broken).await;
}

#[tokio::test]
async fn a_model_conf_without_its_matcher_is_ignored() {
    let model = read(&policy_dir(), "model.conf");
    let cut = model.find("[matchers]").expect("model.conf has [matchers]");
    broken_model_keeps_the_last_good_policy(&model[..cut]).await;
}
