//! The command line at its edges: commands on a data directory (or database) that was never set
//! up say to run `switchyard migrate` and exit 2 without creating anything; `contract check
//! --format json` answers in JSON even on exit 2; `--help` lists every role the policy knows.

use crate::helpers::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// Runs the binary on `data_dir` and `database_url`, with the repository's policy.
fn run(data_dir: &Path, database_url: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--database-url", database_url])
        .arg("--policy-dir")
        .arg(policy_dir())
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run switchyard")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn proposed_contract(dir: &Path) -> String {
    let path = dir.join("lead.yaml");
    std::fs::write(
        &path,
        "name: lead\nversion: 9.0.0\nschema:\n  type: object\n  properties:\n    email: {type: string}\n",
    )
    .expect("write proposal");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_on_a_database_never_set_up_say_to_migrate_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let url = fresh_database_url(&data).await;
    let file = proposed_contract(dir.path());
    for args in [
        vec!["contract", "show", "lead"],
        vec!["contract", "check", &file],
        vec!["audit", "verify"],
        vec!["audit", "export"],
    ] {
        let out = run(&data, &url, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("switchyard migrate"),
            "{args:?} says what to run: {err}"
        );
        assert!(!err.contains("internal error"), "{args:?}: {err}");
    }
    assert!(
        !data.join("switchyard.db").exists(),
        "no empty SQLite file was left behind"
    );
    let migrate = run(&data, &url, &["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let verify = run(&data, &url, &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    assert!(stdout(&verify).starts_with("ok:"), "{}", stdout(&verify));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_check_in_json_answers_in_json_on_bad_input() {
    let app = spawn_app().await;
    let broken = app.dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "name: lead\nversion: not-a-version\nschema: {type: object}\n",
    )
    .expect("write");
    let missing = app.dir.path().join("missing.yaml");
    for (case, file) in [("bad version", &broken), ("missing file", &missing)] {
        let out = app.cli(&[
            "contract",
            "check",
            &file.display().to_string(),
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(2), "{case}: {}", stderr(&out));
        let json: Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{case}: stdout is JSON ({e}): {}", stdout(&out)));
        assert_eq!(json["error"]["code"], "BAD_USER_INPUT", "{case}: {json}");
        assert_eq!(json["exitCode"], 2, "{case}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{json}"
        );
    }
    let text = app.cli(&["contract", "check", &missing.display().to_string()]);
    assert_eq!(text.status.code(), Some(2));
    assert!(stdout(&text).is_empty(), "text mode keeps errors on stderr");
}

/// Every `role:NAME` the policy grants something to.
fn policy_roles() -> Vec<String> {
    let mut roles = Vec::new();
    {
        let text = std::fs::read_to_string(policy_dir().join("policy.csv")).unwrap_or_default();
        for (at, _) in text.match_indices("role:") {
            let name: String = text[at + 5..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && !roles.contains(&name) {
                roles.push(name);
            }
        }
    }
    roles
}

#[test]
fn help_lists_every_role_the_policy_knows() {
    let roles = policy_roles();
    assert!(roles.len() >= 8, "{roles:?}");
    for command in [vec!["token", "--help"], vec!["policy", "explain", "--help"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(&command)
            .output()
            .expect("run");
        let help = stdout(&out);
        for role in roles
            .iter()
            .map(String::as_str)
            .chain(["approver", "operator"])
        {
            assert!(
                help.contains(role),
                "`{}` lists `{role}`:\n{help}",
                command.join(" ")
            );
        }
    }
}
