//! Segment-compatible ingestion: the messages Segment's browser and server SDKs send (`track`,
//! `identify`, `page`, `screen`, `group`, `alias`, and `batch` of them) are mapped onto contracts
//! and then go through the same checks as native events. `track` maps its `event` name through a
//! configurable table; `identify` checks `traits` against the contact contract and upserts the
//! canonical contact store; `page`, `screen`, `group` and `alias` map to the contract configured
//! for their type.
//!
//! As Segment documents it:
//! - A message without `messageId` is given one (`api-…`), as Segment's HTTP API does.
//! - Duplicates are found per source: the stored event id is `seg:<write key id>:<messageId>`, so
//!   a retry from the same write key is a duplicate whatever its type (Segment's deduplication
//!   is on `messageId` alone, within a source), while the same `messageId` from another write
//!   key is a different event.
//! - `timestamp` is corrected for the client's clock: `originalTimestamp` (or the message's
//!   `timestamp`) + (`receivedAt` − `sentAt`), with `sentAt` from the message or its batch. With
//!   no `sentAt` the client's time is kept as is; with no client time it is `receivedAt`.
//! - Every message needs `userId` or `anonymousId`; `track` needs `event`.

use super::{ContactUpsert, EventResult, Violation};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// Longest `messageId` taken (Segment asks for fewer than 100 characters).
pub const MAX_MESSAGE_ID: usize = 100;

/// Which contract each Segment message maps to, and which web pages may send them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentConfig {
    /// Track `event` name → contract name.
    pub event_contracts: BTreeMap<String, String>,
    /// Contract that identify `traits` are checked against.
    pub identify_contract: String,
    /// Contract of `page` calls (their `properties`); unset: page calls are refused.
    pub page_contract: Option<String>,
    /// Contract of `screen` calls (their `properties`); unset: refused.
    pub screen_contract: Option<String>,
    /// Contract of `group` calls (their `traits`); unset: refused.
    pub group_contract: Option<String>,
    /// Contract of `alias` calls (`{previous_id, user_id}`); unset: refused.
    pub alias_contract: Option<String>,
    /// Web origins (`https://www.example.com`) whose pages may send events from the browser
    /// (CORS); `*` allows any. Empty: no browser origin may (server-side SDKs are unaffected).
    pub allowed_origins: Vec<String>,
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
            page_contract: None,
            screen_contract: None,
            group_contract: None,
            alias_contract: None,
            allowed_origins: Vec::new(),
        }
    }
}

impl SegmentConfig {
    /// Whether a page from `origin` may send events.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// What a request tells about every message in it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The write key's id: duplicates are found per key.
    pub key_id: i64,
    /// When the request arrived (`receivedAt`).
    pub at: DateTime<Utc>,
    /// The batch's `sentAt`, for messages that carry none.
    pub sent_at: Option<String>,
}

impl Received {
    pub fn now(key_id: i64) -> Self {
        Self {
            key_id,
            at: Utc::now(),
            sent_at: None,
        }
    }
}

/// The stored event id of `message_id` sent with write key `key_id`.
pub fn event_id(key_id: i64, message_id: &str) -> String {
    format!("seg:{key_id}:{message_id}")
}

/// The `messageId` back from a stored event id (the id itself when it is not a Segment one).
pub fn message_id(event_id: &str) -> &str {
    event_id
        .strip_prefix("seg:")
        .and_then(|rest| rest.split_once(':'))
        .map_or(event_id, |(_, m)| m)
}

/// A message converted: the native event, or the rejection to report.
pub enum Mapped {
    Event(Value, Option<(String, ContactUpsert)>),
    Rejected(EventResult),
}

fn time_field(message: &Value, field: &str) -> Result<Option<DateTime<Utc>>, Violation> {
    match message.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                Violation::new(
                    &format!("/{field}"),
                    "format",
                    format!("`{field}` must be an ISO 8601 (RFC 3339) time"),
                )
            }),
        Some(_) => Err(Violation::new(
            &format!("/{field}"),
            "type",
            format!("`{field}` must be a string"),
        )),
    }
}

/// The corrected `timestamp` of a message, as Segment computes it.
fn corrected_time(message: &Value, received: &Received) -> Result<DateTime<Utc>, Violation> {
    let original = match time_field(message, "originalTimestamp")? {
        Some(t) => Some(t),
        None => time_field(message, "timestamp")?,
    };
    let sent = match time_field(message, "sentAt")? {
        Some(t) => Some(t),
        None => match &received.sent_at {
            Some(s) => time_field(&json!({ "sentAt": s }), "sentAt")?,
            None => None,
        },
    };
    Ok(match (original, sent) {
        (Some(o), Some(s)) => o + (received.at - s),
        (Some(o), None) => o,
        (None, _) => received.at,
    })
}

fn string_or_empty(message: &Value, field: &str) -> Option<String> {
    match message.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Maps one Segment message (`kind` is the endpoint's type when the message has none).
pub fn map(
    config: &SegmentConfig,
    message: Value,
    kind: Option<&str>,
    received: &Received,
) -> Mapped {
    let given_id = message.get("messageId");
    let reported = given_id.and_then(Value::as_str).map(str::to_string);
    let reject = |code: &'static str, v: Violation| {
        Mapped::Rejected(EventResult::rejected(reported.clone(), code, vec![v]))
    };
    if !message.is_object() {
        return reject(
            "BAD_USER_INPUT",
            Violation::new("", "type", "a message is a JSON object"),
        );
    }
    let message_id = match given_id {
        None | Some(Value::Null) => format!("api-{}", uuid::Uuid::new_v4().simple()),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() < MAX_MESSAGE_ID => {
            s.clone()
        }
        Some(Value::String(_)) => {
            return reject(
                "BAD_USER_INPUT",
                Violation::new(
                    "/messageId",
                    "maxLength",
                    format!("`messageId` must be 1 to {} characters", MAX_MESSAGE_ID - 1),
                ),
            );
        }
        Some(_) => {
            return reject(
                "BAD_USER_INPUT",
                Violation::new("/messageId", "type", "`messageId` must be a string"),
            );
        }
    };
    let msg_type = match message.get("type") {
        Some(Value::String(t)) => t.as_str(),
        _ => kind.unwrap_or(""),
    };
    let occurred_at = match corrected_time(&message, received) {
        Ok(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        Err(v) => return reject("BAD_USER_INPUT", v),
    };
    let source = message
        .pointer("/context/library/name")
        .and_then(Value::as_str)
        .map(|l| format!("segment:{}", l.chars().take(100).collect::<String>()))
        .unwrap_or_else(|| "segment".into());
    let user_id = string_or_empty(&message, "userId");
    let user = user_id
        .clone()
        .or_else(|| string_or_empty(&message, "anonymousId"));
    if user.is_none() {
        return reject(
            "BAD_USER_INPUT",
            Violation::new(
                "/userId",
                "required",
                "every message needs `userId` or `anonymousId`",
            ),
        );
    }
    let object = |field: &str| match message.get(field) {
        Some(Value::Object(m)) => Ok(Value::Object(m.clone())),
        None | Some(Value::Null) => Ok(json!({})),
        Some(_) => Err(Violation::new(
            &format!("/{field}"),
            "type",
            format!("`{field}` must be a JSON object"),
        )),
    };
    let unmapped = |setting: &str| {
        reject(
            "NOT_FOUND",
            Violation::new(
                "/type",
                "contract",
                format!(
                    "no contract is mapped to Segment `{msg_type}` calls (configure segment.{setting})"
                ),
            ),
        )
    };
    let id = event_id(received.key_id, &message_id);
    let event = |contract: &str, payload: Value| json!({ "id": id, "type": contract, "occurred_at": occurred_at, "source": source, "payload": payload });
    match msg_type {
        "track" => {
            let Some(name) = message.get("event").and_then(Value::as_str) else {
                return reject(
                    "BAD_USER_INPUT",
                    Violation::new("/event", "required", "`event` is required for track"),
                );
            };
            let Some(contract) = config.event_contracts.get(name) else {
                return reject(
                    "NOT_FOUND",
                    Violation::new(
                        "/event",
                        "contract",
                        format!(
                            "no contract is mapped to Segment event `{name}` (configure segment.event_contracts)"
                        ),
                    ),
                );
            };
            match object("properties") {
                Ok(p) => Mapped::Event(event(contract, p), None),
                Err(v) => reject("BAD_USER_INPUT", v),
            }
        }
        "identify" => {
            let traits = match object("traits") {
                Ok(t) => t,
                Err(v) => return reject("BAD_USER_INPUT", v),
            };
            let email = traits
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_string);
            let external_id = user.unwrap_or_default();
            Mapped::Event(
                event(&config.identify_contract, traits.clone()),
                Some((id.clone(), (external_id, email, traits))),
            )
        }
        "page" | "screen" => {
            let setting = if msg_type == "page" {
                (&config.page_contract, "page_contract")
            } else {
                (&config.screen_contract, "screen_contract")
            };
            let Some(contract) = setting.0 else {
                return unmapped(setting.1);
            };
            let mut props = match object("properties") {
                Ok(Value::Object(p)) => p,
                Ok(_) => Map::new(),
                Err(v) => return reject("BAD_USER_INPUT", v),
            };
            if let Some(name) = message.get("name").and_then(Value::as_str) {
                props
                    .entry("name")
                    .or_insert_with(|| Value::String(name.to_string()));
            }
            Mapped::Event(event(contract, Value::Object(props)), None)
        }
        "group" => {
            let Some(contract) = &config.group_contract else {
                return unmapped("group_contract");
            };
            if string_or_empty(&message, "groupId").is_none() {
                return reject(
                    "BAD_USER_INPUT",
                    Violation::new("/groupId", "required", "`groupId` is required for group"),
                );
            }
            match object("traits") {
                Ok(t) => Mapped::Event(event(contract, t), None),
                Err(v) => reject("BAD_USER_INPUT", v),
            }
        }
        "alias" => {
            let Some(contract) = &config.alias_contract else {
                return unmapped("alias_contract");
            };
            let Some(previous) = string_or_empty(&message, "previousId") else {
                return reject(
                    "BAD_USER_INPUT",
                    Violation::new(
                        "/previousId",
                        "required",
                        "`previousId` is required for alias",
                    ),
                );
            };
            let Some(user_id) = user_id else {
                return reject(
                    "BAD_USER_INPUT",
                    Violation::new("/userId", "required", "`userId` is required for alias"),
                );
            };
            Mapped::Event(
                event(
                    contract,
                    json!({ "previous_id": previous, "user_id": user_id }),
                ),
                None,
            )
        }
        other => reject(
            "BAD_USER_INPUT",
            Violation::new(
                "/type",
                "enum",
                format!(
                    "message type `{}` is not supported; send track, identify, page, screen, group or alias",
                    other.chars().take(40).collect::<String>()
                ),
            ),
        ),
    }
}

/// Where each message of a request went: the index of its native event, or its rejection.
pub enum Outcome {
    Event(usize),
    Rejected(EventResult),
}

/// Maps a list of messages; returns native events, contact upserts by event id, and each
/// message's outcome in request order.
pub fn map_all(
    config: &SegmentConfig,
    messages: Vec<Value>,
    kind: Option<&str>,
    received: &Received,
) -> (Vec<Value>, HashMap<String, ContactUpsert>, Vec<Outcome>) {
    let mut events = Vec::new();
    let mut contacts = HashMap::new();
    let mut outcomes = Vec::with_capacity(messages.len());
    for m in messages {
        match map(config, m, kind, received) {
            Mapped::Event(e, c) => {
                outcomes.push(Outcome::Event(events.len()));
                events.push(e);
                if let Some((id, upsert)) = c {
                    contacts.insert(id, upsert);
                }
            }
            Mapped::Rejected(r) => outcomes.push(Outcome::Rejected(r)),
        }
    }
    (events, contacts, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(sent: Option<&str>) -> Received {
        Received {
            key_id: 7,
            at: DateTime::parse_from_rfc3339("2026-11-27T10:00:05Z")
                .expect("time")
                .with_timezone(&Utc),
            sent_at: sent.map(str::to_string),
        }
    }

    fn occurred(m: &Mapped) -> String {
        match m {
            Mapped::Event(e, _) => e["occurred_at"].as_str().unwrap_or_default().to_string(),
            Mapped::Rejected(r) => panic!("rejected: {:?}", r.violations),
        }
    }

    #[test]
    fn the_client_clock_is_corrected_by_the_time_the_message_took_to_arrive() {
        let config = SegmentConfig::default();
        // The device's clock is an hour behind: it sent at 09:00:05 (its time), we received at
        // 10:00:05, so the event that happened at 08:59:00 device time happened at 09:59:00.
        let m = json!({ "type": "track", "event": "Form Submitted", "anonymousId": "a",
            "messageId": "m1", "timestamp": "2026-11-27T08:59:00Z", "sentAt": "2026-11-27T09:00:05Z" });
        assert_eq!(
            occurred(&map(&config, m, None, &received(None))),
            "2026-11-27T09:59:00.000Z"
        );
        // originalTimestamp wins over timestamp, and a batch's sentAt applies to its messages.
        let m = json!({ "type": "track", "event": "Form Submitted", "anonymousId": "a",
            "messageId": "m2", "originalTimestamp": "2026-11-27T08:00:00Z", "timestamp": "2000-01-01T00:00:00Z" });
        let r = received(Some("2026-11-27T09:00:05Z"));
        assert_eq!(
            occurred(&map(&config, m, None, &r)),
            "2026-11-27T09:00:00.000Z"
        );
        // No sentAt: the client's time as is; no time at all: receivedAt.
        let m = json!({ "type": "track", "event": "Form Submitted", "anonymousId": "a", "timestamp": "2026-11-27T08:00:00+01:00" });
        assert_eq!(
            occurred(&map(&config, m, None, &received(None))),
            "2026-11-27T07:00:00.000Z"
        );
        let m = json!({ "type": "track", "event": "Form Submitted", "anonymousId": "a" });
        assert_eq!(
            occurred(&map(&config, m, None, &received(None))),
            "2026-11-27T10:00:05.000Z"
        );
        let m = json!({ "type": "track", "event": "Form Submitted", "anonymousId": "a", "sentAt": "yesterday" });
        assert!(
            matches!(map(&config, m, None, &received(None)), Mapped::Rejected(r) if r.violations[0].pointer == "/sentAt")
        );
    }

    #[test]
    fn message_ids_are_generated_when_missing_and_scoped_to_the_write_key() {
        let config = SegmentConfig::default();
        let m = json!({ "type": "track", "event": "Form Submitted", "userId": "u" });
        let Mapped::Event(e, _) = map(&config, m, None, &received(None)) else {
            panic!("a missing messageId is generated, not refused")
        };
        let id = e["id"].as_str().expect("id");
        assert!(id.starts_with("seg:7:api-"), "{id}");
        assert!(message_id(id).starts_with("api-"));
        assert_eq!(event_id(7, "x:y"), "seg:7:x:y");
        assert_eq!(message_id("seg:7:x:y"), "x:y");
        assert_eq!(message_id("native-1"), "native-1");
    }

    #[test]
    fn each_type_maps_to_its_configured_contract_or_says_which_setting_is_missing() {
        let mut config = SegmentConfig::default();
        let r = received(None);
        let page = json!({ "type": "page", "anonymousId": "a", "name": "Pricing", "properties": { "url": "https://x.example/pricing" } });
        let Mapped::Rejected(no) = map(&config, page.clone(), None, &r) else {
            panic!("page has no contract by default")
        };
        assert!(no.violations[0].message.contains("segment.page_contract"));
        config.page_contract = Some("event.content_viewed".into());
        let Mapped::Event(e, _) = map(&config, page, None, &r) else {
            panic!("page maps")
        };
        assert_eq!(e["type"], "event.content_viewed");
        assert_eq!(e["payload"]["name"], "Pricing");
        config.alias_contract = Some("alias".into());
        let alias = json!({ "previousId": "anon-1", "userId": "u-1" });
        let Mapped::Event(e, _) = map(&config, alias, Some("alias"), &r) else {
            panic!("alias maps")
        };
        assert_eq!(
            e["payload"],
            json!({ "previous_id": "anon-1", "user_id": "u-1" })
        );
        let anonymous = json!({ "type": "track", "event": "Form Submitted" });
        assert!(
            matches!(map(&config, anonymous, None, &r), Mapped::Rejected(r) if r.violations[0].pointer == "/userId")
        );
        config.allowed_origins = vec!["https://www.example.com/".into()];
        assert!(config.origin_allowed("https://www.example.com"));
        assert!(!config.origin_allowed("https://evil.example"));
    }
}
