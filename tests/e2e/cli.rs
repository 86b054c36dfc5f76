//! The `switchyard` command line as a newcomer and an operator use it: help on every command,
//! tokens the running server accepts, the SDL, migrations, and `catalog apply` all or nothing.

use crate::helpers::*;
use serde_json::json;
use std::path::Path;
use std::process::Output;

/// Runs the binary with exactly `args` (no data dir, database or policy flags added).
fn switchyard(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run switchyard")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Versions of a template, newest first.
async fn template_versions(app: &TestApp, key: &str) -> Vec<String> {
    let body = app
        .gql(
            &app.token("vic", &["viewer"]),
            "query($key: String!) { template(key: $key) { versions { version } } }",
            json!({ "key": key }),
        )
        .await;
    body["data"]["template"]["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("versions of {key}: {body}"))
        .iter()
        .filter_map(|v| v["version"].as_str().map(String::from))
        .collect()
}

/// Number of audit entries, from `audit verify`.
fn audit_entries(app: &TestApp) -> String {
    let out = app.cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    stdout(&out)
}

/// Number of files in the built-in catalog (21): one item version each.
fn builtin_files() -> usize {
    ["connectors", "contracts", "templates"]
        .iter()
        .map(|sub| {
            std::fs::read_dir(catalog_dir().join(sub))
                .expect("catalog folder")
                .count()
        })
        .sum()
}

/// Copies `api/catalog` (connectors/, contracts/, templates/) into `to`.
fn copy_catalog(to: &Path) {
    for sub in ["connectors", "contracts", "templates"] {
        std::fs::create_dir_all(to.join(sub)).expect("create catalog folder");
        for entry in std::fs::read_dir(catalog_dir().join(sub)).expect("read catalog folder") {
            let path = entry.expect("catalog entry").path();
            let name = path.file_name().expect("file name");
            std::fs::copy(&path, to.join(sub).join(name)).expect("copy catalog file");
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read catalog file");
    assert!(text.contains(from), "{} contains {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write catalog file");
}

#[test]
fn help_explains_every_command() {
    let top = switchyard(&["--help"]);
    assert_eq!(top.status.code(), Some(0), "{top:?}");
    let text = stdout(&top);
    for command in [
        "serve", "migrate", "token", "schema", "policy", "audit", "catalog",
    ] {
        assert!(
            text.contains(command),
            "--help must list `{command}`: {text}"
        );
    }
    for (args, purpose) in [
        (&["serve", "--help"][..], "API"),
        (&["migrate", "--help"], "migrations"),
        (&["token", "--help"], "JWT"),
        (&["schema", "--help"], "SDL"),
        (&["policy", "test", "--help"], "tests.csv"),
        (&["policy", "explain", "--help"], "rule"),
        (&["audit", "verify", "--help"], "chain"),
        (&["audit", "export", "--help"], "JSON lines"),
        (&["catalog", "apply", "--help"], "catalog file"),
    ] {
        let out = switchyard(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert!(
            stdout(&out).contains(purpose),
            "`switchyard {}` must explain its purpose ({purpose}): {}",
            args.join(" "),
            stdout(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_minted_by_the_cli_is_accepted_by_the_running_app() {
    let app = spawn_app().await;
    let out = app.cli(&["token", "--sub", "alice", "--role", "marketer"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let token = stdout(&out).trim().to_string();
    let body = app.gql(&token, "{ me { sub roles } }", json!({})).await;
    assert_eq!(
        body["data"]["me"],
        json!({ "sub": "alice", "roles": ["marketer"] }),
        "{body}"
    );
    let out = app.cli(&[
        "token",
        "--sub",
        "alice",
        "--role",
        "marketer",
        "--team",
        "marketing",
    ]);
    let token = stdout(&out).trim().to_string();
    let body = app.gql(&token, "{ me { team } }", json!({})).await;
    assert_eq!(
        body["data"]["me"]["team"], "marketing",
        "the team claim: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_a_malformed_role_is_refused_naming_the_flag() {
    let app = spawn_app().await;
    let out = app.cli(&["token", "--sub", "alice", "--role", "Bad Role"]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(stderr(&out).contains("--role"), "{}", stderr(&out));
    assert!(stdout(&out).trim().is_empty(), "no token printed: {out:?}");
}

#[test]
fn schema_prints_the_graphql_sdl() {
    let out = switchyard(&["schema"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let sdl = stdout(&out);
    assert!(sdl.contains("type Query"), "{sdl}");
    // The root query type holds `auditLog`; the root mutation type `publishTemplateVersion`.
    let root = |kind: &str| {
        let line = sdl
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{kind}:")))
            .unwrap_or_else(|| panic!("schema block names the {kind} type: {sdl}"));
        line.trim()
            .trim_start_matches(&format!("{kind}:"))
            .trim()
            .to_string()
    };
    let type_body = |name: &str| {
        let start = sdl
            .find(&format!("type {name} {{"))
            .unwrap_or_else(|| panic!("type {name} defined: {sdl}"));
        let end = sdl[start..].find("\n}").map_or(sdl.len(), |e| start + e);
        sdl[start..end].to_string()
    };
    assert!(type_body(&root("query")).contains("auditLog("), "{sdl}");
    assert!(
        type_body(&root("mutation")).contains("publishTemplateVersion("),
        "{sdl}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_prepares_a_fresh_database() {
    let dir = tempfile::tempdir().expect("data dir");
    let url = fresh_database_url(dir.path()).await;
    let data = dir.path().to_str().expect("utf-8 path");
    for run in ["first", "second"] {
        let out = switchyard(&["--data-dir", data, "--database-url", &url, "migrate"]);
        assert_eq!(out.status.code(), Some(0), "{run} migrate: {out:?}");
    }
    let db = api::db::connect(&url).await.expect("connect");
    assert!(
        api::db::migrations_applied(&db)
            .await
            .expect("read migrations"),
        "every migration is applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_apply_of_the_builtin_catalog_changes_nothing() {
    let app = spawn_app().await;
    let before = audit_entries(&app);
    let dir = catalog_dir();
    let out = app.cli(&["catalog", "apply", dir.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = format!("0 created, {} unchanged", builtin_files());
    assert!(stdout(&out).contains(&report), "{out:?}");
    assert_eq!(audit_entries(&app), before, "no audit entry for no change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_apply_with_a_broken_template_writes_nothing() {
    let app = spawn_app().await;
    let before = audit_entries(&app);
    let tmp = tempfile::tempdir().expect("catalog copy");
    copy_catalog(tmp.path());
    let templates = tmp.path().join("templates");
    edit(
        &templates.join("alerting-2.yaml"),
        "\nversion: 2.0.0\n",
        "\nversion: 2.1.0\n",
    );
    let original = std::fs::read_to_string(templates.join("lead-capture.yaml")).expect("read");
    edit(
        &templates.join("lead-capture.yaml"),
        "type: dedupe",
        "type: teleport",
    );
    let dir = tmp.path().to_str().expect("utf-8 path");

    let out = app.cli(&["catalog", "apply", dir]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(err.contains("lead-capture.yaml"), "names the file: {err}");
    assert!(err.contains("steps[1].type"), "names the field: {err}");
    assert!(err.contains("teleport"), "names the bad value: {err}");
    assert_eq!(
        template_versions(&app, "alerting").await,
        ["2.0.0", "1.0.0"]
    );
    assert_eq!(audit_entries(&app), before, "nothing written");

    // The same directory with the template fixed applies the valid new version.
    std::fs::write(templates.join("lead-capture.yaml"), original).expect("restore");
    let out = app.cli(&["catalog", "apply", dir]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = format!("1 created, {} unchanged", builtin_files() - 1);
    assert!(stdout(&out).contains(&report), "{out:?}");
    // Written by another process: the server's catalog cache shows it within its TTL (1 s).
    let applied =
        || async { template_versions(&app, "alerting").await == ["2.1.0", "2.0.0", "1.0.0"] };
    assert!(
        eventually(std::time::Duration::from_secs(5), applied).await,
        "{:?}",
        template_versions(&app, "alerting").await
    );
}
