//! Segment compatibility, driven by Segment's official Python SDK (`segment-analytics-python`,
//! installed by `.ci/run`), not by hand-built requests.

use crate::helpers::*;
use crate::ingest::write_key;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

const SCRIPT: &str = r#"
import sys, datetime
from segment.analytics.client import Client
host, key = sys.argv[1], sys.argv[2]
client = Client(write_key=key, host=host, sync_mode=True, gzip=True, max_retries=0)
when = datetime.datetime(2026, 11, 27, 9, 30, tzinfo=datetime.timezone.utc)
client.track(user_id="u-42", event="Form Submitted", message_id="seg-track-1", timestamp=when, properties={
    "email": "ana@example.com", "form_id": "ebook-2026", "source_category": "partner",
    "submitted_at": "2026-11-27T09:30:00Z", "country": "DE"})
client.identify(user_id="u-42", message_id="seg-identify-1", timestamp=when, traits={
    "email": "ana@example.com", "first_name": "Ana", "lifecycle_stage": "lead",
    "email_opt_in": True, "updated_at": "2026-11-27T09:30:00Z"})
client.track(user_id="u-43", event="Form Submitted", message_id="seg-track-bad", timestamp=when,
    properties={"email": "nope", "form_id": "x", "source_category": "webinar", "submitted_at": "2026-11-27T09:30:00Z"})
print("sent")
"#;

fn sdk_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import segment.analytics"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn the_official_segment_python_sdk_delivers_validated_events() {
    if !sdk_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install segment-analytics-python (pip install segment-analytics-python)"
        );
        eprintln!("skipped: pip install segment-analytics-python to run this test");
        return;
    }
    let app = spawn_app().await;
    let key = write_key(&app, &["event.form_submitted", "contact"]).await;
    let host = app.url("");
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", SCRIPT, &host, &key])
            .output()
            .expect("run python3")
    })
    .await
    .expect("join");
    assert!(
        run.status.success(),
        "SDK run failed: {}{}",
        stdout(&run),
        String::from_utf8_lossy(&run.stderr)
    );
    let db = &app.state.db;
    let track = entity::event::Entity::find_by_id("seg-track-1".to_string())
        .one(db)
        .await
        .expect("query")
        .expect("the tracked event was stored");
    assert_eq!(track.event_type, "event.form_submitted");
    assert_eq!(track.source.as_deref(), Some("segment:analytics-python"));
    let bad = entity::event::Entity::find_by_id("seg-track-bad".to_string())
        .one(db)
        .await
        .expect("query");
    assert!(
        bad.is_none(),
        "the invalid event was rejected by its contract"
    );
    let contact = entity::contact::Entity::find()
        .filter(entity::contact::Column::ExternalId.eq("u-42"))
        .one(db)
        .await
        .expect("query")
        .expect("identify upserted the contact");
    assert_eq!(contact.email.as_deref(), Some("ana@example.com"));
    assert!(
        contact.traits.contains("\"first_name\":\"Ana\""),
        "{}",
        contact.traits
    );
}
