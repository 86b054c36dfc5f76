//! Other casbin readers decide like Switchyard: pycasbin (the Python implementation, installed by
//! `.ci/run`) loads `policies/` as it is, with the reference `objMatch` that
//! `policies/README.md` documents, and reaches the same decision as `switchyard policy explain`
//! on every row of `tests.csv` and on a few hundred generated requests
//! (`tests/policy/pycasbin_decisions.py` makes them).

use crate::helpers::*;
use serde_json::Value;

fn pycasbin_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import casbin"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `switchyard policy explain` for one request: `allow`/`deny` (the first line) and the output.
fn explain(data: &std::path::Path, req: &Value) -> (String, String) {
    let arg = |k: &str| req[k].as_str().unwrap_or_default().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--data-dir")
        .arg(data)
        .arg("--policy-dir")
        .arg(policy_dir())
        .args(["policy", "explain"])
        .args([
            "--sub",
            &arg("sub"),
            "--obj",
            &arg("obj"),
            "--act",
            &arg("act"),
        ])
        .args(["--rel", &arg("rel")])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run switchyard policy explain");
    let text = stdout(&out);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "explain failed for {req}: {code:?} {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (text.lines().next().unwrap_or_default().to_string(), text)
}

#[test]
fn pycasbin_with_the_documented_obj_match_decides_as_policy_explain() {
    if !pycasbin_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install pycasbin (pip install casbin)"
        );
        eprintln!("skipped: pip install casbin to run this test");
        return;
    }
    let script = repo_root().join("tests/policy/pycasbin_decisions.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(policy_dir())
        .arg(policy_dir().join("README.md"))
        .arg("300")
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pycasbin failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let rows = requests
        .iter()
        .filter(|r| r.get("expected").is_some())
        .count();
    assert!(rows > 200, "every tests.csv row: {rows}");
    assert!(requests.len() >= rows + 300, "and generated requests");
    let allowed = requests.iter().filter(|r| r["pycasbin"] == true).count();
    assert!(
        allowed > 50 && allowed < requests.len() - 50,
        "both decisions are exercised: {allowed} allowed"
    );
    // Two at a time (the machine has two cores); each is a separate `switchyard` process.
    let data = tempfile::tempdir().expect("data dir");
    let mismatches: Vec<String> = std::thread::scope(|s| {
        let halves: Vec<_> = requests
            .chunks(requests.len().div_ceil(2))
            .map(|chunk| {
                let data = data.path();
                s.spawn(move || {
                    let mut bad = Vec::new();
                    for req in chunk {
                        let py = if req["pycasbin"] == true {
                            "allow"
                        } else {
                            "deny"
                        };
                        let (cli, text) = explain(data, req);
                        if cli != py {
                            bad.push(format!("{req}: pycasbin {py}, explain {text}"));
                        }
                        if let Some(expected) = req["expected"].as_bool()
                            && expected != (py == "allow")
                        {
                            bad.push(format!("tests.csv expects otherwise: {req}"));
                        }
                    }
                    bad
                })
            })
            .collect();
        halves
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(
        mismatches.is_empty(),
        "{} of {} decisions differ:\n{}",
        mismatches.len(),
        requests.len(),
        mismatches.join("\n")
    );
}

#[test]
fn explain_takes_subjects_as_written_like_policy_test() {
    let data = tempfile::tempdir().expect("data dir");
    // The three `flows` rows that tests.csv allows, and one it denies.
    for (obj, want) in [
        ("flow:personal:crm", "allow"),
        ("flow:hashed:ads", "allow"),
        ("flow:sensitive:warehouse", "allow"),
        ("flow:personal:ads", "deny"),
    ] {
        let req = serde_json::json!({ "sub": "flows", "obj": obj, "act": "send", "rel": "none" });
        let (decision, text) = explain(data.path(), &req);
        assert_eq!(decision, want, "{obj}: {text}");
        assert!(!text.contains("user:flows"), "no prefix is forced: {text}");
    }
    // A bare name is a subject of its own, not `user:NAME`: say so.
    let req =
        serde_json::json!({ "sub": "alice", "obj": "audit:log", "act": "read", "rel": "none" });
    let (decision, text) = explain(data.path(), &req);
    assert_eq!(decision, "deny");
    assert!(text.contains("user:alice"), "a hint: {text}");
}
