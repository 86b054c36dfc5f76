//! The flow decision stored with an instance (`instances.flows`): for each bound slot, the
//! destination category, the fields policy lets reach it (with the PII class they travel as and
//! the rule that allowed them) and the fields it withholds (with the rule that withheld them).
//!
//! The control plane decides it under policy; workers only read it — the one function that
//! decides which fields leave for a destination (`worker::runs::fields`) consults nothing else.
//! `policy_version` names the policy it was made under, so a worker can tell a decision made
//! under a policy that is no longer in force.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowDecision {
    /// Content hash of the policy the decision was made under (`None`: decided before policy
    /// versions were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    pub slots: BTreeMap<String, SlotFlow>,
}

/// What may reach one slot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotFlow {
    /// Connector category of the destination (`crm`, `ads`, …).
    pub category: String,
    /// Source field → the class it is sent as (`none`, `personal`, `sensitive`, `hashed`).
    pub fields: BTreeMap<String, String>,
    /// Source field → the rule that allowed it (absent in decisions from older versions).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, String>,
    /// Source fields the step would send that policy keeps from this destination.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub withheld: BTreeMap<String, Withheld>,
    /// The template lets this slot be narrowed: when policy withholds fields, what remains is
    /// still sent (otherwise the workflow is paused and nothing outdated is sent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub narrow: bool,
}

impl SlotFlow {
    /// Whether policy keeps from this slot a field the template sends, and the slot may not be
    /// narrowed: the workflow cannot run as approved.
    pub fn blocked(&self) -> bool {
        !self.narrow && !self.withheld.is_empty()
    }
}

/// A field kept from a destination, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withheld {
    pub class: String,
    /// The policy rule (`policy.csv:42: p, flows, …`) or the reason no rule allowed it.
    pub rule: String,
}

impl FlowDecision {
    /// Reads a stored decision: the current shape, or the first one (slot → {category, fields}).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        if value.get("slots").is_some_and(serde_json::Value::is_object) {
            return serde_json::from_value(value);
        }
        Ok(Self {
            policy_version: None,
            slots: serde_json::from_value(value)?,
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The first slot policy blocks, with a field it withholds and why.
    pub fn blocked(&self) -> Option<(&str, &str, &Withheld)> {
        self.slots
            .iter()
            .find(|(_, f)| f.blocked())
            .and_then(|(slot, f)| {
                f.withheld
                    .iter()
                    .next()
                    .map(|(field, w)| (slot.as_str(), field.as_str(), w))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_shapes() {
        let old = r#"{"crm":{"category":"crm","fields":{"email":"personal"}}}"#;
        let d = FlowDecision::parse(old).expect("old shape");
        assert_eq!(d.slots["crm"].fields["email"], "personal");
        assert_eq!(d.policy_version, None);
        let again = FlowDecision::parse(&d.to_json()).expect("new shape");
        assert_eq!(again, d);
    }
}
