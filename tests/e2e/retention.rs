//! Retention (issue 9, part 6): a setting per data class, never below the configured minimum;
//! a scheduled purge deletes what is older and audits the counts; the audit log is never purged.

use crate::helpers::*;
use crate::policy_reach::{deliveries_of, instance, publish};
use crate::receiver::{Receiver, Reply};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use std::time::Duration;

const SET: &str = "mutation($c: DataClass!, $d: Int!) { setRetention(dataClass: $c, days: $d) { dataClass days minimumDays setBy } }";
const GET: &str = "{ retention { dataClass days minimumDays setBy lastPurgeAt } }";

fn config(dir: &std::path::Path, toml: &str) -> std::path::PathBuf {
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, toml).expect("config file");
    path
}

async fn days_of(app: &TestApp, class: &str) -> Value {
    let body = app
        .gql(&app.token("carol", &["compliance"]), GET, json!({}))
        .await;
    body["data"]["retention"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["dataClass"] == class).cloned())
        .unwrap_or_else(|| panic!("retention: {body}"))["days"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_below_the_configured_minimum_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_with(Setup {
        config_file: Some(config(dir.path(), "[retention]\nminimum_days = 30\n")),
        ..Default::default()
    })
    .await;
    let carol = app.token("carol", &["compliance"]);
    let short = app.gql(&carol, SET, json!({ "c": "EVENTS", "d": 7 })).await;
    assert_eq!(error_code(&short), Some("BAD_USER_INPUT"), "{short}");
    assert_eq!(short["errors"][0]["extensions"]["field"], "days");
    assert!(
        error_message(&short).contains("minimum retention of 30 days"),
        "{short}"
    );
    assert_eq!(
        days_of(&app, "EVENTS").await,
        365,
        "the configured default stays"
    );
    assert!(
        audit_entries(&app, "retention.set").await.is_empty(),
        "nothing was written"
    );

    let ok = app
        .gql(&carol, SET, json!({ "c": "EVENTS", "d": 45 }))
        .await;
    assert_eq!(ok["data"]["setRetention"]["days"], 45, "{ok}");
    assert_eq!(ok["data"]["setRetention"]["setBy"], "carol");
    assert_eq!(days_of(&app, "EVENTS").await, 45);
    let entries = audit_entries(&app, "retention.set").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["after"]["days"], 45);

    let marketer = app
        .gql(
            &app.token("mia", &["marketer"]),
            SET,
            json!({ "c": "EVENTS", "d": 60 }),
        )
        .await;
    assert_eq!(error_code(&marketer), Some("FORBIDDEN"), "{marketer}");
    let read = app
        .gql(&app.token("mia", &["marketer"]), GET, json!({}))
        .await;
    assert_eq!(error_code(&read), Some("FORBIDDEN"), "{read}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_default_below_the_minimum_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("dir");
    let path = config(
        dir.path(),
        "[retention]\nminimum_days = 30\nevents_days = 10\n",
    );
    let args = api::config::CommonArgs {
        config: Some(path),
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let err = api::config::Config::load(&args, None).expect_err("refused");
    assert!(
        err.to_string()
            .contains("retention.events_days: 10 is shorter than retention.minimum_days (30)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_purge_deletes_what_retention_says_and_audits_the_counts() {
    let dir = tempfile::tempdir().expect("dir");
    let toml = "[retention]\nminimum_days = 1\nevents_days = 10\nruns_days = 10\ncontacts_days = 10\ndead_letters_days = 10\npurge_interval_seconds = 1\n";
    let app = spawn_with(Setup {
        workers: true,
        config_file: Some(config(dir.path(), toml)),
        ..Default::default()
    })
    .await;
    let ok = Receiver::start(vec![]).await;
    let gone = Receiver::start(vec![Reply::Status(410), Reply::Status(410)]).await;
    publish(
        &app,
        "keep-relay",
        ("hook", "generic", false),
        json!([{"id": "forward", "type": "deliver", "reads": ["form_id"],
                "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]),
    )
    .await;
    publish(
        &app,
        "dead-relay",
        ("hook", "generic", false),
        json!([{"id": "forward", "type": "deliver", "reads": ["form_id"],
                "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]),
    )
    .await;
    let kept = instance(&app, "keep-relay", "hook", "webhook", &ok.url("/a")).await;
    let dead = instance(&app, "dead-relay", "hook", "webhook", &gone.url("/b")).await;
    let key = crate::ingest::write_key(&app, &["event.form_submitted"]).await;
    for id in ["old-1", "new-1"] {
        let ev = json!([{ "id": id, "type": "event.form_submitted", "occurred_at": "2026-11-27T09:30:00Z",
            "payload": { "email": format!("{id}@example.com"), "form_id": id, "source_category": "web",
                         "submitted_at": "2026-11-27T09:30:00Z" } }]);
        let (status, body) = crate::ingest::post_events(&app, &key, &ev).await;
        assert_eq!(status, 202, "{body}");
    }
    app.drain(Duration::from_secs(20)).await;
    assert_eq!(deliveries_of(&app, kept).await.len(), 2);

    // Make `old-1` and everything made from it 30 days old, at once (the purge runs meanwhile).
    let db = &app.state.db;
    let tx = api::db::begin_write(db).await.expect("begin");
    let old = entity::clock::format(chrono::Utc::now() - chrono::Duration::days(30));
    entity::event::Entity::update_many()
        .col_expr(entity::event::Column::ReceivedAt, Expr::value(old.clone()))
        .filter(entity::event::Column::Id.eq("old-1"))
        .exec(&tx)
        .await
        .expect("age the event");
    entity::run::Entity::update_many()
        .col_expr(entity::run::Column::StartedAt, Expr::value(old.clone()))
        .filter(entity::run::Column::EventId.eq("old-1"))
        .exec(&tx)
        .await
        .expect("age the runs");
    let old_runs: Vec<i64> = entity::run::Entity::find()
        .filter(entity::run::Column::EventId.eq("old-1"))
        .all(&tx)
        .await
        .expect("runs")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(old_runs.len(), 2, "one run per workflow");
    entity::delivery::Entity::update_many()
        .col_expr(
            entity::delivery::Column::UpdatedAt,
            Expr::value(old.clone()),
        )
        .filter(entity::delivery::Column::RunId.is_in(old_runs.clone()))
        .exec(&tx)
        .await
        .expect("age the deliveries");
    for (ext, at) in [
        ("c-old", old.clone()),
        ("c-new", entity::clock::now_string()),
    ] {
        entity::contact::ActiveModel {
            external_id: Set(ext.into()),
            email: Set(None),
            traits: Set("{}".into()),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .expect("contact");
    }
    tx.commit().await.expect("commit");
    let entries_before = entity::audit_entry::Entity::find()
        .count(db)
        .await
        .expect("count");

    // The schedule purges within a few intervals and audits what it deleted.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let purge = loop {
        let hit = audit_entries(&app, "retention.purge")
            .await
            .into_iter()
            .find(|e| e["after"]["events"].as_u64() == Some(1));
        if let Some(h) = hit {
            break h;
        }
        assert!(
            std::time::Instant::now() < until,
            "a purge with counts is audited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(purge["actor"], "system:policy");
    assert_eq!(purge["after"]["deliveries"], 1, "{purge}");
    assert_eq!(purge["after"]["dead_letters"], 1, "{purge}");
    assert_eq!(purge["after"]["runs"], 2, "{purge}");
    assert_eq!(purge["after"]["contacts"], 1, "{purge}");
    assert!(purge["after"]["cutoffs"]["events"].is_string(), "{purge}");

    let event_ids: Vec<String> = entity::event::Entity::find()
        .all(db)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(event_ids, vec!["new-1".to_string()]);
    assert_eq!(
        deliveries_of(&app, kept).await.len(),
        1,
        "the newer delivery stays"
    );
    assert_eq!(
        deliveries_of(&app, dead).await.len(),
        1,
        "the newer dead letter stays"
    );
    let contacts = entity::contact::Entity::find()
        .all(db)
        .await
        .expect("contacts");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].external_id, "c-new");
    let entries_after = entity::audit_entry::Entity::find()
        .count(db)
        .await
        .expect("count");
    assert!(
        entries_after > entries_before,
        "the audit log is never purged"
    );
    let verify = app.cli(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{verify:?}");
}
