//! Segment-compatible ingestion: `track`, `identify` and `batch` messages (as sent by Segment's
//! and RudderStack's SDKs) are mapped onto contracts and then go through the same checks as
//! native events. `track` maps its `event` name through a configurable table; `identify` checks
//! `traits` against the contact contract and upserts the canonical contact store.

use super::{ContactUpsert, EventResult, Violation};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Which contract each Segment message maps to.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentConfig {
    /// Track `event` name → contract name.
    pub event_contracts: BTreeMap<String, String>,
    /// Contract that identify `traits` are checked against.
    pub identify_contract: String,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        let event_contracts = [
            ("Form Submitted", "event.form_submitted"),
            ("Demo Requested", "event.demo_requested"),
            ("Content Viewed", "event.content_viewed"),
            ("Opportunity Created", "event.opportunity_created"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Self {
            event_contracts,
            identify_contract: "contact".into(),
        }
    }
}

/// A message converted: the native event, or the rejection to report.
pub enum Mapped {
    Event(Value, Option<(String, ContactUpsert)>),
    Rejected(EventResult),
}

/// Maps one Segment message (`kind` is the endpoint's type when the message has none).
pub fn map(config: &SegmentConfig, message: Value, kind: Option<&str>) -> Mapped {
    let id = message
        .get("messageId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let reject = |rule: &str, msg: String| {
        Mapped::Rejected(EventResult::rejected(
            id.clone(),
            "BAD_USER_INPUT",
            vec![Violation::new(&format!("/{rule}"), "required", msg)],
        ))
    };
    let Some(message_id) = id.clone() else {
        return reject("messageId", "`messageId` is required".into());
    };
    let msg_type = message
        .get("type")
        .and_then(Value::as_str)
        .or(kind)
        .unwrap_or("");
    let occurred_at = message
        .get("timestamp")
        .and_then(Value::as_str)
        .map_or_else(crate::audit::now_string, str::to_string);
    let source = message
        .pointer("/context/library/name")
        .and_then(Value::as_str)
        .map(|l| format!("segment:{l}"))
        .unwrap_or_else(|| "segment".into());
    let user = message
        .get("userId")
        .and_then(Value::as_str)
        .or_else(|| message.get("anonymousId").and_then(Value::as_str))
        .map(str::to_string);
    match msg_type {
        "track" => {
            let Some(name) = message.get("event").and_then(Value::as_str) else {
                return reject("event", "`event` is required for track".into());
            };
            let Some(contract) = config.event_contracts.get(name) else {
                return Mapped::Rejected(EventResult::rejected(
                    id,
                    "NOT_FOUND",
                    vec![Violation::new(
                        "/event",
                        "contract",
                        format!(
                            "no contract is mapped to Segment event `{name}` (configure segment.event_contracts)"
                        ),
                    )],
                ));
            };
            let payload = message
                .get("properties")
                .cloned()
                .unwrap_or_else(|| json!({}));
            Mapped::Event(
                json!({ "id": message_id, "type": contract, "occurred_at": occurred_at, "source": source, "payload": payload }),
                None,
            )
        }
        "identify" => {
            let Some(external_id) = user else {
                return reject("userId", "identify needs `userId` or `anonymousId`".into());
            };
            let traits = message.get("traits").cloned().unwrap_or_else(|| json!({}));
            let email = traits
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_string);
            let native = json!({
                "id": message_id, "type": config.identify_contract, "occurred_at": occurred_at,
                "source": source, "payload": traits.clone()
            });
            Mapped::Event(native, Some((message_id, (external_id, email, traits))))
        }
        other => Mapped::Rejected(EventResult::rejected(
            id,
            "BAD_USER_INPUT",
            vec![Violation::new(
                "/type",
                "enum",
                format!("message type `{other}` is not supported; send track or identify"),
            )],
        )),
    }
}

/// Maps a list of messages; returns native events, contact upserts by event id, and the
/// rejections with their position in the request.
pub fn map_all(
    config: &SegmentConfig,
    messages: Vec<Value>,
    kind: Option<&str>,
) -> (Vec<Value>, HashMap<String, ContactUpsert>, Vec<EventResult>) {
    let mut events = Vec::new();
    let mut contacts = HashMap::new();
    let mut rejected = Vec::new();
    for m in messages {
        match map(config, m, kind) {
            Mapped::Event(e, c) => {
                events.push(e);
                if let Some((id, upsert)) = c {
                    contacts.insert(id, upsert);
                }
            }
            Mapped::Rejected(r) => rejected.push(r),
        }
    }
    (events, contacts, rejected)
}
