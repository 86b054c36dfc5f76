//! The file connector against a real temporary folder: names, de-duplication per file (also
//! after a restart), rotation by size and by day, CSV headers, and the creation check.

use crate::support;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use worker::connectors::{self, Action, Connector, Delivery, Outcome};

fn export(dir: &Path, extra: Value) -> Box<dyn Connector> {
    let mut settings = json!({"directory": dir.to_str().expect("utf-8 path"), "format": "jsonl"});
    if let (Some(s), Some(e)) = (settings.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    connectors::build("file", &settings, &support::local()).expect("builds")
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0)
        .single()
        .expect("valid date")
}

fn row(key: &str, record: Value, when: DateTime<Utc>) -> Delivery {
    let mut d = support::delivery("event.form_submitted", Action::Append, record);
    d.idempotency_key = key.into();
    d.attempted_at = when;
    d
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_string)
        .collect()
}

const DELIVERED: Outcome = Outcome::Delivered { status: None };

#[tokio::test]
async fn jsonl_lines_carry_the_key_and_retries_do_not_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = export(dir.path(), json!({}));
    let first = row("k1", json!({"form": "demo", "company": "Acme"}), at(2, 9));
    assert_eq!(files.deliver(&first).await, DELIVERED);
    assert_eq!(files.deliver(&first).await, DELIVERED);
    assert_eq!(
        files
            .deliver(&row("k2", json!({"form": "trial"}), at(2, 10)))
            .await,
        DELIVERED
    );
    assert_eq!(
        names(dir.path()),
        ["event.form_submitted-2026-03-02-1.jsonl"]
    );
    let written = lines(&dir.path().join("event.form_submitted-2026-03-02-1.jsonl"));
    assert_eq!(written.len(), 2);
    let line: Value = serde_json::from_str(&written[0]).expect("json line");
    assert_eq!(
        line,
        json!({"_delivery_id": "k1", "form": "demo", "company": "Acme"})
    );
}

#[tokio::test]
async fn keys_already_on_disk_are_found_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "event.form_submitted-2026-03-02-1.jsonl";
    // Written by an earlier process, which died mid-line.
    fs::write(
        dir.path().join(name),
        "{\"_delivery_id\":\"old\",\"form\":\"x\"}\n{\"_deliv",
    )
    .expect("seed");
    let files = export(dir.path(), json!({}));
    assert_eq!(
        files
            .deliver(&row("old", json!({"form": "x"}), at(2, 11)))
            .await,
        DELIVERED
    );
    assert_eq!(
        files
            .deliver(&row("new", json!({"form": "y"}), at(2, 12)))
            .await,
        DELIVERED
    );
    let written = lines(&dir.path().join(name));
    assert_eq!(written.len(), 3, "{written:?}");
    assert!(
        written[2].contains("\"new\""),
        "the new record starts on its own line: {written:?}"
    );
}

#[tokio::test]
async fn files_rotate_by_size_and_by_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = export(dir.path(), json!({"rotate_bytes": 120}));
    let pad = "x".repeat(20);
    for (i, hour) in [1, 2, 3].into_iter().enumerate() {
        let d = row(&format!("s{i}"), json!({"pad": pad}), at(2, hour));
        assert_eq!(files.deliver(&d).await, DELIVERED);
    }
    assert_eq!(
        files.deliver(&row("next-day", json!({}), at(3, 0))).await,
        DELIVERED
    );
    assert_eq!(
        names(dir.path()),
        [
            "event.form_submitted-2026-03-02-1.jsonl",
            "event.form_submitted-2026-03-02-2.jsonl",
            "event.form_submitted-2026-03-03-1.jsonl",
        ]
    );
    assert_eq!(
        lines(&dir.path().join("event.form_submitted-2026-03-02-1.jsonl")).len(),
        2
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let files = export(dir.path(), json!({"rotate_daily": false}));
    assert_eq!(
        files.deliver(&row("a", json!({}), at(2, 23))).await,
        DELIVERED
    );
    assert_eq!(
        files.deliver(&row("b", json!({}), at(3, 1))).await,
        DELIVERED
    );
    assert_eq!(
        names(dir.path()),
        ["event.form_submitted-2026-03-02-1.jsonl"]
    );
}

#[tokio::test]
async fn csv_has_a_header_from_the_first_record_and_keeps_its_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = export(dir.path(), json!({"format": "csv"}));
    let first = row(
        "k1",
        json!({"company": "Acme, Inc.", "amount": 1200, "won": true}),
        at(4, 8),
    );
    assert_eq!(files.deliver(&first).await, DELIVERED);
    let second = row(
        "k2",
        json!({"company": "Initech", "extra": "dropped"}),
        at(4, 9),
    );
    assert_eq!(files.deliver(&second).await, DELIVERED);
    assert_eq!(files.deliver(&first).await, DELIVERED);
    let path = dir.path().join("event.form_submitted-2026-03-04-1.csv");
    assert_eq!(
        lines(&path),
        [
            "_delivery_id,amount,company,won",
            "k1,1200,\"Acme, Inc.\",true",
            "k2,,Initech,"
        ]
    );
    // Another connector instance (a restart keeps the on-disk keys) still de-duplicates.
    let again = export(dir.path(), json!({"format": "csv"}));
    assert_eq!(again.deliver(&second).await, DELIVERED);
    assert_eq!(lines(&path).len(), 3);
}

#[tokio::test]
async fn a_file_moved_away_starts_a_new_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = export(dir.path(), json!({}));
    assert_eq!(
        files.deliver(&row("a", json!({}), at(5, 1))).await,
        DELIVERED
    );
    let name = "event.form_submitted-2026-03-05-1.jsonl";
    fs::rename(dir.path().join(name), dir.path().join("picked-up")).expect("move");
    assert_eq!(
        files.deliver(&row("b", json!({}), at(5, 2))).await,
        DELIVERED
    );
    assert_eq!(lines(&dir.path().join(name)).len(), 1);
}

#[tokio::test]
async fn the_check_wants_an_existing_writable_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = json!({"directory": dir.path().to_str().expect("utf-8"), "format": "csv"});
    connectors::check("file", &ok, &support::local())
        .await
        .expect("writable folder");
    assert!(names(dir.path()).is_empty(), "the probe file is removed");
    let missing =
        json!({"directory": dir.path().join("nope").to_str().expect("utf-8"), "format": "jsonl"});
    let err = connectors::check("file", &missing, &support::local())
        .await
        .expect_err("missing");
    assert_eq!(err.field, "directory");
    fs::write(dir.path().join("plain"), "x").expect("file");
    let not_dir =
        json!({"directory": dir.path().join("plain").to_str().expect("utf-8"), "format": "jsonl"});
    let err = connectors::check("file", &not_dir, &support::local())
        .await
        .expect_err("a file");
    assert!(err.to_string().contains("not a folder"), "{err}");
}

#[tokio::test]
async fn remove_and_non_object_records_are_permanent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = export(dir.path(), json!({}));
    let mut d = row("r", json!({}), at(6, 1));
    d.action = Action::Remove;
    assert!(matches!(files.deliver(&d).await, Outcome::Permanent { .. }));
    let d = row("s", json!(["not", "an", "object"]), at(6, 1));
    assert!(matches!(files.deliver(&d).await, Outcome::Permanent { .. }));
    assert!(names(dir.path()).is_empty());
}
