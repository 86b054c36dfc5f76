//! Event ingestion: events arrive (native `/v1/events`, or Segment-style `/v1/track`,
//! `/v1/identify`, `/v1/batch`), are checked against their data contract, and the accepted ones
//! are committed before the response is sent.
//!
//! Per event the outcome is `accepted`, `duplicate` (its id was seen before: nothing is written)
//! or `rejected` with every violation. Contracts in `flag` mode accept violating events and count
//! the violations; `block` mode rejects them. Violations always feed the drift counters.

pub mod envelope;
pub mod routes;
pub mod segment;
pub mod store;
pub mod validate;
pub mod write_keys;

use serde::Serialize;
use serde_json::Value;

/// Most events one request may carry.
pub const MAX_EVENTS: usize = 1_000;
/// Largest request body on the ingestion endpoints.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Deepest JSON nesting accepted in a payload.
pub const MAX_DEPTH: usize = 32;

/// An event that passed envelope checks, before contract validation.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub id: String,
    pub event_type: String,
    pub version: Option<String>,
    pub occurred_at: String,
    pub source: Option<String>,
    pub payload: Value,
}

/// One rule an event broke.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the event (`/payload/email`).
    pub pointer: String,
    /// The rule: a JSON Schema keyword (`required`, `enum`, `format`…) or an envelope rule.
    pub rule: String,
    pub message: String,
}

impl Violation {
    pub fn new(pointer: &str, rule: &str, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.to_string(),
            rule: rule.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Accepted,
    Duplicate,
    Rejected,
}

/// The outcome for one event, in request order.
#[derive(Debug, Clone, Serialize)]
pub struct EventResult {
    /// The event's id, when it had one.
    pub id: Option<String>,
    pub status: Status,
    /// Error code for rejected events: BAD_USER_INPUT, CONTRACT_VIOLATION, NOT_FOUND, FORBIDDEN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

impl EventResult {
    pub fn rejected(id: Option<String>, code: &'static str, violations: Vec<Violation>) -> Self {
        Self {
            id,
            status: Status::Rejected,
            code: Some(code),
            violations,
        }
    }
}

/// Per-request summary plus per-event results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub accepted: usize,
    pub duplicate: usize,
    pub rejected: usize,
    pub results: Vec<EventResult>,
}

impl Report {
    pub fn from_results(results: Vec<EventResult>) -> Self {
        let count = |s| results.iter().filter(|r| r.status == s).count();
        Self {
            accepted: count(Status::Accepted),
            duplicate: count(Status::Duplicate),
            rejected: count(Status::Rejected),
            results,
        }
    }
}

use crate::error::ApiResult;
use crate::state::AppState;
use entity::{event, write_key};
use sea_orm::Set;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A contact upsert carried by an identify call: (external id, email, traits).
pub type ContactUpsert = (String, Option<String>, Value);

/// Validates and stores a request's events for the source holding `key`.
pub async fn ingest(
    state: &AppState,
    key: &write_key::Model,
    values: Vec<Value>,
    contacts: HashMap<String, ContactUpsert>,
) -> ApiResult<Report> {
    let scope = write_keys::scope(key);
    let mut results: Vec<Option<EventResult>> = Vec::with_capacity(values.len());
    let mut rows = Vec::new();
    let mut pending: Vec<(usize, String, Vec<Violation>)> = Vec::new();
    let mut drift = store::Drift::new();
    let mut seen = HashSet::new();
    let mut resolved: HashMap<(String, Option<String>), Result<Arc<validate::Compiled>, String>> =
        HashMap::new();
    let received_at = crate::audit::now_string();
    for (i, value) in values.into_iter().enumerate() {
        let ev = match envelope::parse(value) {
            Ok(ev) => ev,
            Err(rejected) => {
                results.push(Some(rejected));
                continue;
            }
        };
        let id = Some(ev.id.clone());
        if !scope.iter().any(|t| t == &ev.event_type) {
            let msg = format!("write key `{}` may not send `{}`", key.name, ev.event_type);
            results.push(Some(EventResult::rejected(
                id,
                "FORBIDDEN",
                vec![Violation::new("/type", "scope", msg)],
            )));
            continue;
        }
        if seen.contains(&ev.id) {
            results.push(Some(EventResult {
                id,
                status: Status::Duplicate,
                code: None,
                violations: vec![],
            }));
            continue;
        }
        let lookup = (ev.event_type.clone(), ev.version.clone());
        if !resolved.contains_key(&lookup) {
            let r = state
                .validators
                .resolve(&state.db, &ev.event_type, ev.version.as_deref())
                .await
                .map_err(|e| e.to_string());
            resolved.insert(lookup.clone(), r);
        }
        let compiled = match resolved.get(&lookup) {
            Some(Ok(c)) => Arc::clone(c),
            Some(Err(msg)) => {
                let at = if ev.version.is_some() {
                    "/version"
                } else {
                    "/type"
                };
                results.push(Some(EventResult::rejected(
                    id,
                    "NOT_FOUND",
                    vec![Violation::new(at, "contract", msg.clone())],
                )));
                continue;
            }
            None => continue,
        };
        let violations = compiled.violations(&ev.payload);
        store::observe(
            &mut drift,
            &compiled.contract,
            &compiled.version,
            violations.iter().map(|v| worker::drift::Violation {
                pointer: &v.pointer,
                rule: &v.rule,
                message: &v.message,
            }),
        );
        let blocked = !violations.is_empty()
            && compiled.enforcement == crate::catalog::definitions::Enforcement::Block;
        if blocked {
            results.push(Some(EventResult::rejected(
                id,
                "CONTRACT_VIOLATION",
                violations,
            )));
            continue;
        }
        rows.push(event::ActiveModel {
            id: Set(ev.id.clone()),
            event_type: Set(ev.event_type),
            contract_version_id: Set(compiled.version_id),
            version: Set(compiled.version.clone()),
            occurred_at: Set(ev.occurred_at),
            received_at: Set(received_at.clone()),
            source: Set(ev.source),
            write_key_id: Set(Some(key.id)),
            status: Set(if violations.is_empty() {
                "accepted"
            } else {
                "flagged"
            }
            .to_string()),
            subject: Set(event::subject_of(&ev.payload)),
            payload: Set(ev.payload.to_string()),
            ..Default::default()
        });
        seen.insert(ev.id.clone());
        pending.push((i, ev.id, violations));
        results.push(None);
    }
    let upserts: Vec<(String, ContactUpsert)> = pending
        .iter()
        .filter_map(|(_, id, _)| Some((id.clone(), contacts.get(id).cloned()?)))
        .collect();
    let source = crate::audit::Actor {
        sub: format!("write-key:{}", key.name),
        roles: vec![],
        team: None,
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let types: HashMap<String, String> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.id.try_as_ref()?.clone(),
                r.event_type.try_as_ref()?.clone(),
            ))
        })
        .collect();
    let existing = state
        .ingest
        .commit(store::Batch {
            rows,
            drift,
            contacts: upserts,
            source,
            trace: worker::trace::current(),
        })
        .await?;
    for (i, id, violations) in pending {
        let status = if existing.contains(&id) {
            Status::Duplicate
        } else {
            Status::Accepted
        };
        let contract = types.get(&id).cloned().unwrap_or_default();
        let outcome = if status == Status::Accepted {
            "accepted"
        } else {
            "duplicate"
        };
        metrics::counter!("switchyard_events_total", "contract" => contract, "outcome" => outcome)
            .increment(1);
        results[i] = Some(EventResult {
            id: Some(id),
            status,
            code: None,
            violations,
        });
    }
    let report = Report::from_results(results.into_iter().flatten().collect());
    if report.rejected > 0 {
        metrics::counter!("switchyard_events_total", "contract" => "-", "outcome" => "rejected")
            .increment(report.rejected as u64);
    }
    Ok(report)
}
