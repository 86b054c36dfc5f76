//! `switchyard catalog diff DIR` (the real binary): what `catalog apply DIR` would change, and
//! exit 1 when something would break, so a pull request on the catalog can be gated.

use crate::helpers::*;
use std::path::Path;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn builtin(rel: &str) -> String {
    std::fs::read_to_string(catalog_dir().join(rel)).expect("built-in file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_names_new_versions_verdicts_and_consumers_and_gates_on_breaks() {
    let app = spawn_app().await;

    // The built-in catalog against the catalog it seeded: nothing to do.
    let same = app.cli(&["catalog", "diff", catalog_dir().to_str().expect("utf-8")]);
    let out = stdout(&same);
    assert_eq!(same.status.code(), Some(0), "{out}");
    assert!(
        out.contains(" 0 new,") || out.starts_with("0 new,"),
        "{out}"
    );
    assert!(out.contains("0 breaking"), "{out}");

    // A compatible new contract version and a new template: exit 0.
    let ok = tempfile::tempdir().expect("tempdir");
    let demo = builtin("contracts/event.demo_requested.yaml")
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace(
            "      requested_at: {",
            "      referrer: {type: string, maxLength: 2048, description: \"Page that sent the person.\", x-pii: none}\n      requested_at: {",
        );
    write(ok.path(), "contracts/event.demo_requested.yaml", &demo);
    let template = builtin("templates/account-alerts.yaml")
        .replace("key: account-alerts", "key: account-alerts-emea");
    write(ok.path(), "templates/account-alerts-emea.yaml", &template);
    let run = app.cli(&["catalog", "diff", ok.path().to_str().expect("utf-8")]);
    let out = stdout(&run);
    assert_eq!(run.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "new contract event.demo_requested 1.1.0: compatible against 1.0.0 under BACKWARD"
        ),
        "{out}"
    );
    assert!(
        out.contains("new template account-alerts-emea 1.0.0"),
        "{out}"
    );
    assert!(
        out.contains("2 new, 0 unchanged, 0 lifecycle changes, 0 breaking"),
        "{out}"
    );

    // A breaking contract version (FULL: a new enum value) names the consumers it breaks, and a
    // changed definition under an existing version is refused: exit 1.
    let bad = tempfile::tempdir().expect("tempdir");
    let form = builtin("contracts/event.form_submitted.yaml")
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace(
            "enum: [web, event, partner]",
            "enum: [web, event, partner, webinar]",
        );
    assert!(form.contains("webinar"), "the enum was widened");
    write(bad.path(), "contracts/event.form_submitted.yaml", &form);
    let changed = builtin("templates/account-alerts.yaml").replace("default: 60", "default: 70");
    write(bad.path(), "templates/account-alerts.yaml", &changed);
    let run = app.cli(&["catalog", "diff", bad.path().to_str().expect("utf-8")]);
    let out = stdout(&run);
    assert_eq!(run.status.code(), Some(1), "{out}");
    assert!(
        out.contains("BREAKING new contract event.form_submitted 1.1.0"),
        "{out}"
    );
    assert!(out.contains("lead-routing"), "names the consumer: {out}");
    assert!(
        out.contains("BREAKING template account-alerts 1.0.0: a different definition"),
        "{out}"
    );
    assert!(out.contains("2 breaking"), "{out}");

    // Nothing was written.
    let after = app.cli(&["catalog", "diff", catalog_dir().to_str().expect("utf-8")]);
    assert_eq!(after.status.code(), Some(0), "{}", stdout(&after));

    // Not a catalog directory: exit 2.
    let empty = tempfile::tempdir().expect("tempdir");
    let run = app.cli(&["catalog", "diff", empty.path().to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(2), "{}", stdout(&run));
}
