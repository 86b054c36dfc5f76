//! The tamper-evident audit log: `switchyard audit verify` catches edited, deleted, reordered and
//! truncated entries, signed checkpoints catch a recomputed chain, concurrent writers in two
//! processes keep one gapless chain, and compliance reads the log over GraphQL and `audit export`.

use crate::helpers::*;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use serde_json::{Value, json};

/// Entries the built-in catalog seed writes: one per catalog file, actor `system:seed` (21).
fn seed_entries() -> i64 {
    let files = |sub| std::fs::read_dir(catalog_dir().join(sub)).expect("catalog folder");
    ["connectors", "contracts", "templates"]
        .map(|sub| files(sub).count() as i64)
        .iter()
        .sum()
}

const TEMPLATES: [&str; 3] = ["alerting", "audience-sync", "campaign-approval"];

const SET_LIFECYCLE: &str = "mutation($key: String!) {
  setLifecycle(kind: TEMPLATE, key: $key, version: \"1.0.0\", lifecycle: DEPRECATED) { lifecycle } }";

const PUBLISH_TEMPLATE: &str =
    "mutation($input: PublishInput!) { publishTemplateVersion(input: $input) { version } }";

const AUDIT_LOG: &str = "query($filter: AuditFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { seq at actor roles action target outcome before after requestId } } } }";

/// Deprecates version 1.0.0 of the first `n` built-in templates: `n` audited changes. Returns
/// the seq of the newest entry.
async fn deprecate_templates(app: &TestApp, n: usize) -> i64 {
    let token = app.token("pat", &["platform_engineer"]);
    for key in &TEMPLATES[..n] {
        let body = app.gql(&token, SET_LIFECYCLE, json!({ "key": key })).await;
        assert!(body["errors"].is_null(), "deprecate {key}: {body}");
    }
    seed_entries() + n as i64
}

/// A publish input copying the built-in `alerting` template under another key and version.
async fn alerting_copy(app: &TestApp, key: &str, version: &str) -> Value {
    let token = app.token("reader", &["viewer"]);
    let body = app
        .gql(
            &token,
            "{ template(key: \"alerting\") { name summary description category owner versions { definition } } }",
            json!({}),
        )
        .await;
    let t = &body["data"]["template"];
    assert!(t.is_object(), "read the alerting template: {body}");
    json!({
        "key": key, "version": version, "name": t["name"], "summary": t["summary"],
        "description": t["description"], "category": t["category"], "owner": t["owner"],
        "definition": t["versions"][0]["definition"],
    })
}

/// Tampers with the database directly, as someone with database access could.
async fn sql(app: &TestApp, statements: &[String]) {
    for statement in statements {
        app.state
            .db
            .execute_unprepared(statement)
            .await
            .unwrap_or_else(|e| panic!("`{statement}`: {e}"));
    }
}

/// Runs `switchyard audit verify ARGS…`: exit code and stdout (stderr appended for messages).
fn verify(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let out = app.cli(&[&["audit", "verify"][..], args].concat());
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// True when `text` names entry `seq` (and not, say, entry `seq`0).
fn names_entry(text: &str, seq: i64) -> bool {
    let needle = format!("entry {seq}");
    text.match_indices(&needle)
        .any(|(i, _)| !text[i + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// Exports the log into a file in the app's data dir; returns its path and the checkpoint.
fn export(app: &TestApp, name: &str) -> (std::path::PathBuf, Value) {
    let out = app.cli(&["audit", "export"]);
    assert_eq!(out.status.code(), Some(0), "audit export: {out:?}");
    let text = stdout(&out);
    let last = text.lines().last().expect("export prints lines");
    let checkpoint: Value = serde_json::from_str(last).expect("last export line is JSON");
    let path = app.dir.path().join(name);
    std::fs::write(&path, &text).expect("save the export");
    (path, checkpoint["checkpoint"].clone())
}

async fn audit_log(app: &TestApp, filter: Value) -> Vec<Value> {
    let token = app.token("carla", &["compliance"]);
    let body = app
        .gql(&token, AUDIT_LOG, json!({ "filter": filter, "first": 100 }))
        .await;
    assert!(body["errors"].is_null(), "auditLog {filter}: {body}");
    let edges = body["data"]["auditLog"]["edges"].as_array().expect("edges");
    edges.iter().map(|e| e["node"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_after_mutations_and_reports_the_entry_count() {
    let app = spawn_app().await;
    let head = deprecate_templates(&app, 3).await;
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("{head} entries")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_entry_whose_actor_was_edited() {
    let app = spawn_app().await;
    let seq = deprecate_templates(&app, 3).await - 1;
    let edit = format!("UPDATE audit_entries SET actor = 'mallory' WHERE seq = {seq}");
    sql(&app, &[edit]).await;
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(names_entry(&out, seq), "must name entry {seq}: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_gap_left_by_a_deleted_entry() {
    let app = spawn_app().await;
    deprecate_templates(&app, 2).await;
    sql(&app, &["DELETE FROM audit_entries WHERE seq = 10".into()]).await;
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(names_entry(&out, 10), "names missing entry 10: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_detects_two_entries_swapped() {
    let app = spawn_app().await;
    let head = deprecate_templates(&app, 3).await;
    let (a, b) = (head - 2, head - 1);
    let swap = [
        format!("UPDATE audit_entries SET seq = -1 WHERE seq = {a}"),
        format!("UPDATE audit_entries SET seq = {a} WHERE seq = {b}"),
        format!("UPDATE audit_entries SET seq = {b} WHERE seq = -1"),
    ];
    sql(&app, &swap).await;
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(names_entry(&out, a), "must name entry {a}: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_detects_the_newest_entries_deleted() {
    let app = spawn_app().await;
    let keep = deprecate_templates(&app, 3).await - 2;
    let truncate = format!("DELETE FROM audit_entries WHERE seq > {keep}");
    sql(&app, &[truncate]).await;
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(1), "{out}");
    let first_missing = keep + 1;
    assert!(
        names_entry(&out, first_missing),
        "must name entry {first_missing}: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_checkpoint_catches_a_truncated_and_recomputed_chain() {
    let app = spawn_app().await;
    let head = deprecate_templates(&app, 3).await;
    let (file, cp) = export(&app, "before-attack.jsonl");
    assert_eq!(cp["seq"], head, "checkpoint of the head: {cp}");
    let file = file.to_str().expect("utf-8 path");
    let (code, out) = verify(&app, &["--checkpoint", file]);
    assert_eq!(code, Some(0), "untouched log: {out}");

    // The attacker drops the newest entries and points the head at the new last one.
    let keep = head - 2;
    let last = format!("(SELECT hash FROM audit_entries WHERE seq = {keep})");
    let attack = [
        format!("DELETE FROM audit_entries WHERE seq > {keep}"),
        format!("UPDATE audit_head SET seq = {keep}, hash = {last}"),
    ];
    sql(&app, &attack).await;
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(0), "a plain chain cannot see this attack: {out}");
    let (code, out) = verify(&app, &["--checkpoint", file]);
    assert_eq!(code, Some(1), "the checkpoint exposes it: {out}");
    assert!(names_entry(&out, head), "names signed entry {head}: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_without_a_valid_signature_is_rejected() {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let app = spawn_app().await;
    deprecate_templates(&app, 1).await;
    let (_, genuine) = export(&app, "genuine.jsonl");
    let write = |name: &str, cp: &Value| {
        let path = app.dir.path().join(name);
        std::fs::write(&path, json!({ "checkpoint": cp }).to_string()).expect("write checkpoint");
        path.to_str().expect("utf-8 path").to_string()
    };

    // The genuine signature over a different statement: fewer entries than were signed.
    let mut shrunk = genuine.clone();
    shrunk["seq"] = json!(seed_entries());
    let (code, out) = verify(&app, &["--checkpoint", &write("shrunk.json", &shrunk)]);
    assert_eq!(code, Some(1), "altered checkpoint: {out}");

    // A correct statement signed by someone else's key, carrying that key along.
    let mallory = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let mut forged = genuine.clone();
    let seq = genuine["seq"].as_i64().expect("seq");
    let message = entity::chain::checkpoint_message(
        seq,
        genuine["hash"].as_str().expect("hash"),
        genuine["signed_at"].as_str().expect("signed_at"),
    );
    forged["signature"] = json!(
        base64::engine::general_purpose::STANDARD
            .encode(mallory.sign(message.as_bytes()).to_bytes())
    );
    forged["public_key"] = json!(hex::encode(mallory.verifying_key().as_bytes()));
    let (code, out) = verify(&app, &["--checkpoint", &write("forged.json", &forged)]);
    assert_eq!(code, Some(1), "checkpoint signed by another key: {out}");

    let (code, out) = verify(&app, &["--checkpoint", &write("genuine.json", &genuine)]);
    assert_eq!(code, Some(0), "the genuine one verifies: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_in_two_instances_keep_one_gapless_chain() {
    let first = spawn_app().await;
    let second = spawn_with(Setup {
        database_url: Some(first.config.database_url.clone()),
        ..Default::default()
    })
    .await;
    let base = alerting_copy(&first, "alerting", "1.0.0").await;
    let mut writes = Vec::new();
    for (name, app) in [("a", &first), ("b", &second)] {
        let token = app.token(&format!("writer-{name}"), &["platform_engineer"]);
        for i in 1..=20 {
            let mut input = base.clone();
            input["key"] = json!(format!("alerting-{name}-{i:02}"));
            let token = token.clone();
            writes.push(async move {
                app.gql(&token, PUBLISH_TEMPLATE, json!({ "input": input }))
                    .await
            });
        }
    }
    for body in futures::future::join_all(writes).await {
        assert!(body["errors"].is_null(), "publish failed: {body}");
    }

    let total = seed_entries() + 40;
    let (code, out) = verify(&first, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("{total} entries")), "{out}");
    let rows = entity::audit_entry::Entity::find()
        .order_by_asc(entity::audit_entry::Column::Seq)
        .all(&first.state.db)
        .await
        .expect("read the log");
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "gapless sequence");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_mutation_is_audited_as_denied() {
    let app = spawn_app().await;
    let input = alerting_copy(&app, "alerting", "1.0.1").await;
    let marketer = app.token("mia", &["marketer"]);
    let body = app
        .gql(&marketer, PUBLISH_TEMPLATE, json!({ "input": input }))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");

    let denied = audit_log(&app, json!({ "outcome": "denied" })).await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    let entry = &denied[0];
    assert_eq!(entry["actor"], "mia");
    assert_eq!(entry["roles"], json!(["marketer"]));
    assert_eq!(entry["action"], "template.publish");
    assert_eq!(entry["target"], "template:alerting@1.0.1");
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(0), "denied entries are part of the chain: {out}");
    let count = format!("{} entries", seed_entries() + 1);
    assert!(out.contains(&count), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_compliance_and_admins_read_the_audit_log() {
    let app = spawn_app().await;
    for role in ["marketer", "platform_engineer", "viewer"] {
        let body = app
            .gql(&app.token("x", &[role]), AUDIT_LOG, json!({ "first": 5 }))
            .await;
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{role}: {body}");
        assert!(body["data"].is_null(), "{role} must see no entries: {body}");
    }
    for role in ["compliance", "platform_admin"] {
        let body = app
            .gql(&app.token("x", &[role]), AUDIT_LOG, json!({ "first": 5 }))
            .await;
        let edges = body["data"]["auditLog"]["edges"].as_array();
        assert_eq!(edges.map(Vec::len), Some(5), "{role}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_filters_by_actor_action_target_outcome_and_since() {
    let app = spawn_app().await;
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    deprecate_templates(&app, 1).await; // alerting 1.0.0 → deprecated, by `pat`
    let input = alerting_copy(&app, "alerting", "1.0.1").await;
    let marketer = app.token("mia", &["marketer"]);
    app.gql(&marketer, PUBLISH_TEMPLATE, json!({ "input": input }))
        .await;

    let seed = audit_log(&app, json!({ "actor": "system:seed" })).await;
    assert_eq!(seed.len() as i64, seed_entries());
    assert!(seed.iter().all(|e| e["actor"] == "system:seed"));

    let changes = audit_log(&app, json!({ "action": "template.lifecycle" })).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["actor"], "pat");
    assert_eq!(changes[0]["before"], json!({ "lifecycle": "published" }));
    assert_eq!(changes[0]["after"], json!({ "lifecycle": "deprecated" }));

    let exact = audit_log(&app, json!({ "target": "template:alerting@1.0.0" })).await;
    let actions: Vec<&str> = exact.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["template.publish", "template.lifecycle"]);
    let prefix = audit_log(&app, json!({ "target": "template:alerting*" })).await;
    // The two built-in versions' publications, the lifecycle change, the denied 1.0.1.
    assert_eq!(prefix.len(), 4, "every version of alerting: {prefix:?}");

    let denied = audit_log(&app, json!({ "outcome": "denied" })).await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["actor"], "mia");

    let recent = audit_log(&app, json!({ "since": since })).await;
    let actors: Vec<&str> = recent.iter().filter_map(|e| e["actor"].as_str()).collect();
    assert_eq!(actors, ["pat", "mia"], "only entries since {since}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_pages_with_first_and_after() {
    let app = spawn_app().await;
    let token = app.token("carla", &["compliance"]);
    let (mut seqs, mut after, mut pages) = (Vec::new(), Value::Null, 0);
    loop {
        let body = app
            .gql(&token, AUDIT_LOG, json!({ "first": 8, "after": after }))
            .await;
        let conn = &body["data"]["auditLog"];
        let edges = conn["edges"].as_array().expect("edges");
        assert!(edges.len() <= 8, "{body}");
        seqs.extend(edges.iter().filter_map(|e| e["node"]["seq"].as_i64()));
        pages += 1;
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
        assert!(pages < 10, "pagination does not end: {body}");
    }
    assert_eq!(pages, (seed_entries() + 7) / 8, "pages of 8");
    assert_eq!(seqs, (1..=seed_entries()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_export_since_prints_newer_entries_then_a_checkpoint() {
    let app = spawn_app().await;
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    deprecate_templates(&app, 2).await;
    let out = app.cli(&["audit", "export", "--since", &since]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let (checkpoint, entries) = lines.split_last().expect("at least the checkpoint line");
    assert_eq!(entries.len(), 2, "changes since {since}: {entries:?}");
    let since_t = chrono::DateTime::parse_from_rfc3339(&since).expect("since");
    for e in entries {
        let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().expect("at"))
            .expect("`at` is RFC 3339");
        assert!(at >= since_t, "{e} is older than {since}");
        assert_eq!(e["actor"], "pat");
    }
    let cp = &checkpoint["checkpoint"];
    assert_eq!(cp["seq"], seed_entries() + 2, "{checkpoint}");
    assert_eq!(cp["hash"], entries[1]["hash"], "newest entry's hash");
    assert!(cp["signature"].as_str().is_some_and(|s| !s.is_empty()));
}
