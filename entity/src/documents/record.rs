//! The decision record: what a run decided at each step (`runs.decisions`, one JSON document
//! per run, written in the same transaction as its deliveries) and which fields a delivery sent
//! and withheld (`deliveries.fields`). Lineage, completeness and health read these; nothing
//! re-derives them from templates after the fact.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What one step decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDecision {
    pub step: String,
    pub kind: String,
    pub decision: Decision,
    /// The decision in words ("routed to partner-desk by rule 2").
    pub detail: String,
    /// Structured facts: the dedupe key, the route rule and owner, the fields mapped, …
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The step's checks held.
    Passed,
    /// The step's `when` was false: it did not apply.
    NotApplicable,
    /// Ended the run as a repeat of an earlier one (same key within the window).
    Deduplicated,
    /// Added data from a lookup.
    Enriched,
    /// Nothing found by a lookup.
    NotFound,
    /// Assigned an owner or queue.
    Routed,
    /// Ended the run: on a suppression list, no consent, or a suppression rule.
    Suppressed,
    /// Built the outgoing record.
    Mapped,
    /// Made a delivery (or notification) for a destination.
    Delivery,
    /// Emitted an event that starts the workflows triggered by its contract.
    Emitted,
    /// The slot is not bound: nothing to send.
    NoDestination,
    /// The run waits (delay).
    Waiting,
    /// The run waits for a person's approval.
    WaitingApproval,
    /// Ended the run as filtered out.
    Skipped,
    /// Ended the run: the data broke a rule.
    Rejected,
    /// Ended the run: the step could not be evaluated.
    Failed,
}

/// The decisions of one run, in step order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub steps: Vec<StepDecision>,
}

impl RunRecord {
    pub fn parse(text: Option<&str>) -> Self {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Which fields a delivery carried and which it withheld.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFields {
    /// Output field → class as sent.
    pub sent: BTreeMap<String, String>,
    /// Output field → why it was withheld (class and rule).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub withheld: BTreeMap<String, super::flow::Withheld>,
    /// Fields the template meant to send that the record did not carry (absent in the event).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Output field → the input fields it was made from (when they differ from its own name),
    /// so a delivery can be checked again against a newer flow decision.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<String, Vec<String>>,
    /// The policy version of the flow decision the record was limited under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
}

impl DeliveryFields {
    pub fn parse(text: Option<&str>) -> Self {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Left with every intended field (nothing withheld or missing).
    pub fn complete(&self) -> bool {
        self.withheld.is_empty() && self.missing.is_empty()
    }
}
