//! Policy versions (issue 9, part 4): every reload is an activation recorded with its content
//! hash and diff, audit entries name the version they were written under, `policyVersions`
//! lists when each became active, a reload that would lock every administrator out is refused,
//! and `policy diff` / `policyImpact` preview who gains or loses what before an edit lands.

use crate::helpers::*;
use crate::policy::{copy_policies, read, refusals, refused_once_more, replace, watched_app};
use serde_json::{Value, json};
use std::time::Duration;

const VERSIONS: &str =
    "{ policyVersions { version hash activatedAt activatedBy active previous diff } }";

async fn versions(app: &TestApp) -> Vec<Value> {
    let body = app
        .gql(&app.token("carol", &["compliance"]), VERSIONS, json!({}))
        .await;
    body["data"]["policyVersions"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("policyVersions: {body}"))
}

/// Waits until `n` versions have been activated.
async fn until_versions(app: &TestApp, n: usize) -> Vec<Value> {
    let until = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let last = versions(app).await;
        if last.len() >= n {
            return last;
        }
        assert!(
            std::time::Instant::now() < until,
            "expected {n} policy versions: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const GRANT: &str = "p, role:viewer, catalog:template:alerting, publish, any, allow";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reload_is_a_version_with_its_hash_diff_and_audit_entry() {
    let dir = copy_policies();
    let original = read(dir.path(), "policy.csv");
    let app = watched_app(dir.path()).await;
    let first = versions(&app).await;
    assert_eq!(
        first.len(),
        1,
        "the first start records the version: {first:?}"
    );
    assert_eq!(first[0]["active"], true);
    assert_eq!(first[0]["version"], app.state.policy.version());

    replace(dir.path(), "policy.csv", &format!("{original}{GRANT}\n"));
    let now = until_versions(&app, 2).await;
    let (new, old) = (&now[0], &now[1]);
    assert_eq!(new["active"], true, "{now:?}");
    assert_eq!(old["active"], false, "{now:?}");
    assert_eq!(new["previous"], old["version"]);
    assert_eq!(new["diff"]["rules_added"], json!([GRANT]), "{new}");
    assert!(new["hash"].as_str().is_some_and(|h| h.len() == 64 && h.starts_with(new["version"].as_str().unwrap_or("-"))));

    let reloads = audit_entries(&app, "policy.reload").await;
    let entry = reloads
        .iter()
        .find(|e| e["outcome"] == "allowed")
        .unwrap_or_else(|| panic!("the reload is audited: {reloads:?}"));
    assert_eq!(entry["actor"], "system:policy");
    assert_eq!(entry["after"]["hash"], new["hash"], "{entry}");
    assert_eq!(entry["after"]["diff"]["rules_added"], json!([GRANT]));

    // Entries written from now on name the version in force.
    let carol = app.token("carol", &["compliance"]);
    let log = app
        .gql(
            &carol,
            "{ auditLog(first: 100, filter: {action: \"policy.reload\"}) { edges { node { policyVersion } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        log["data"]["auditLog"]["edges"][0]["node"]["policyVersion"], new["version"],
        "{log}"
    );
    let made = app
        .gql(
            &app.token("pat", &["platform_engineer"]),
            "mutation { setLifecycle(kind: TEMPLATE, key: \"alerting\", version: \"1.0.0\", lifecycle: DEPRECATED) { version } }",
            json!({}),
        )
        .await;
    assert!(made["errors"].is_null(), "{made}");
    let log = app
        .gql(
            &carol,
            "{ auditLog(first: 100, filter: {action: \"template.lifecycle\"}) { edges { node { policyVersion } } } }",
            json!({}),
        )
        .await;
    let edges = log["data"]["auditLog"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        edges
            .iter()
            .any(|e| e["node"]["policyVersion"] == new["version"]),
        "{log}"
    );
    let verify = app.cli(&["audit", "verify"]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "the chain covers the version: {verify:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_would_lock_every_administrator_out_is_refused() {
    let dir = copy_policies();
    let original = read(dir.path(), "policy.csv");
    let app = watched_app(dir.path()).await;
    let locked: String = original
        .lines()
        .filter(|l| !l.contains("audit:log, read"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(locked, original);
    let before = refusals(&app).await.len();
    replace(dir.path(), "policy.csv", &locked);
    let refusal = refused_once_more(&app, before).await;
    let why = refusal["after"]["refused"].as_str().unwrap_or_default();
    assert!(why.contains("lock every administrator out"), "{refusal}");
    assert!(
        why.contains("role:platform_admin"),
        "names today's administrators: {why}"
    );
    assert_eq!(versions(&app).await.len(), 1, "nothing was activated");
    let carol = app.token("carol", &["compliance"]);
    let log = app
        .gql(
            &carol,
            "{ auditLog(first: 1) { edges { node { seq } } } }",
            json!({}),
        )
        .await;
    assert!(
        log["errors"].is_null(),
        "the last good policy stays in force: {log}"
    );

    // `policy diff` says the same before anyone edits the files.
    let proposal = copy_policies();
    replace(proposal.path(), "policy.csv", &locked);
    let out = app.cli(&[
        "policy",
        "diff",
        "--against",
        &proposal.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains("REFUSED"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_diff_lists_instantiate_rights_gained_and_lost_with_their_rules() {
    let app = spawn_app().await;
    let proposal = copy_policies();
    let original = read(proposal.path(), "policy.csv");
    let lost = "p, role:marketer, catalog:template:campaign-approval, instantiate, any, allow";
    let gained = "p, user:vic, catalog:template:alerting, instantiate, any, allow";
    let edited = original.replace(&format!("{lost}\n"), "") + gained + "\n";
    replace(proposal.path(), "policy.csv", &edited);
    let dir = proposal.path().display().to_string();

    let out = app.cli(&["policy", "diff", "--against", &dir]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "nothing live is blocked: {text}"
    );
    assert!(text.contains(&format!("  - {lost}")), "{text}");
    assert!(text.contains(&format!("  + {gained}")), "{text}");
    assert!(
        text.contains("role:marketer would lose the right to instantiate campaign-approval"),
        "{text}"
    );
    assert!(
        text.contains("user:vic would gain the right to instantiate alerting: policy.csv:"),
        "names the rule: {text}"
    );

    let json_out = app.cli(&["policy", "diff", "--against", &dir, "--format", "json"]);
    let v: Value = serde_json::from_slice(&json_out.stdout).expect("json");
    assert_eq!(v["rules_added"], json!([gained]), "{v}");

    // The same question over GraphQL, for the UI.
    let carol = app.token("carol", &["compliance"]);
    let q = "query($p: String!) { policyImpact(policyCsv: $p) { blocking rulesAdded rulesRemoved rights { subject template change rule } } }";
    let body = app.gql(&carol, q, json!({ "p": edited })).await;
    let impact = &body["data"]["policyImpact"];
    assert_eq!(impact["blocking"], false, "{body}");
    assert_eq!(impact["rulesRemoved"], json!([lost]));
    assert!(
        impact["rights"].as_array().is_some_and(|r| r
            .iter()
            .any(|x| x["subject"] == "role:marketer"
                && x["template"] == "campaign-approval"
                && x["change"] == "lose")),
        "{body}"
    );
    let marketer = app.token("mia", &["marketer"]);
    let denied = app.gql(&marketer, q, json!({ "p": edited })).await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");
    let broken = app
        .gql(&carol, q, json!({ "p": "p, role:x, y, read, allow\n" }))
        .await;
    assert_eq!(error_code(&broken), Some("BAD_USER_INPUT"), "{broken}");
    assert!(error_message(&broken).contains("policy.csv:1"), "{broken}");

    // A proposal that does not parse is bad input (exit 2), naming the line.
    replace(proposal.path(), "policy.csv", "p, role:x, y, read, allow\n");
    let bad = app.cli(&["policy", "diff", "--against", &dir]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("policy.csv:1"),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_api_process_on_the_same_database_adopts_the_version_in_force() {
    let (dir_a, dir_b) = (copy_policies(), copy_policies());
    let a = watched_app(dir_a.path()).await;
    let b = spawn_with(Setup {
        database_url: Some(a.config.database_url.clone()),
        policy_dir: Some(dir_b.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let viewer_may_publish = |app: &TestApp| {
        let token = app.token("vic", &["viewer"]);
        let client = app.client.clone();
        let url = app.url("/graphql");
        async move {
            let body: Value = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "query": "{ me { can(object: \"catalog:template:alerting\", action: \"publish\") } }" }))
                .send()
                .await
                .expect("request")
                .json()
                .await
                .unwrap_or(Value::Null);
            body["data"]["me"]["can"] == true
        }
    };
    assert!(!viewer_may_publish(&b).await);
    let original = read(dir_a.path(), "policy.csv");
    replace(dir_a.path(), "policy.csv", &format!("{original}{GRANT}\n"));
    let adopted = eventually(Duration::from_secs(5), || viewer_may_publish(&b)).await;
    assert!(
        adopted,
        "process B enforces the version process A activated within seconds"
    );
    assert_eq!(b.state.policy.version(), a.state.policy.version());
    assert_eq!(
        versions(&b).await.len(),
        2,
        "one activation, not one per process"
    );
}
