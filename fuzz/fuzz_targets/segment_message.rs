//! Segment messages: `segment::map` (one message, with the endpoint's type) and
//! `segment::map_all` (a batch, every message accounted for in order) on arbitrary JSON must map or reject, never panic. The first
//! byte picks the endpoint.
#![no_main]

use api::ingest::segment::{self, SegmentConfig};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const KINDS: [Option<&str>; 7] = [
    None,
    Some("track"),
    Some("identify"),
    Some("page"),
    Some("screen"),
    Some("group"),
    Some("alias"),
];

fuzz_target!(|data: &[u8]| {
    let Some((flag, body)) = data.split_first() else {
        return;
    };
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let config = SegmentConfig {
        page_contract: Some("event.content_viewed".into()),
        group_contract: Some("account".into()),
        alias_contract: Some("alias".into()),
        ..SegmentConfig::default()
    };
    let received = segment::Received::now(1);
    let kind = KINDS[usize::from(*flag) % KINDS.len()];
    match message.get("batch").and_then(Value::as_array) {
        Some(batch) => {
            let (_events, _, outcomes) = segment::map_all(&config, batch.clone(), None, &received);
            assert_eq!(
                outcomes.len(),
                batch.len(),
                "every message accounted for"
            );
        }
        None => {
            let _ = segment::map(&config, message, kind, &received);
        }
    }
});
