//! Which data reaches which destination, decided at instantiation. For each `deliver` or `notify`
//! step we work out the fields it sends and their PII class, then ask the policy (subject
//! `flows`, object `flow:<class>:<destination category>`, action `send`) and the connector's own
//! declared data classes. A field hashed by a preceding map step (`sha256(…event.f…)`) travels as
//! class `hashed`. The result — allowed fields per slot — is stored with the instance.

use crate::catalog::definitions::{Step, TemplateDef};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// What may reach one slot.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Flow {
    pub category: String,
    /// Field → class as sent (`none`, `personal`, `sensitive`, `hashed`).
    pub fields: BTreeMap<String, String>,
}

/// A destination bound to a slot: its connector category and declared data classes.
pub struct Destination {
    pub category: String,
    pub data_classes: Vec<String>,
}

/// Fields a step sends, with whether each is hashed on the way.
fn sent_fields(steps: &[Step], i: usize) -> Vec<(String, bool)> {
    let step = &steps[i];
    let mut out: Vec<(String, bool)> = step.reads.iter().map(|f| (f.clone(), false)).collect();
    if step.step_type == "notify" {
        return out;
    }
    match steps[..i].iter().rev().find(|s| s.step_type == "map") {
        Some(map) => {
            if let Some(fields) = map.config.get("fields").and_then(Value::as_object) {
                out.extend(
                    fields
                        .values()
                        .filter_map(Value::as_str)
                        .map(|f| (f.to_string(), false)),
                );
            }
            if let Some(computed) = map.config.get("computed").and_then(Value::as_object) {
                for expr in computed.values().filter_map(Value::as_str) {
                    let hashed = expr.contains("sha256(");
                    let refs = crate::catalog::expressions::event_refs(expr);
                    for f in map.reads.iter().filter(|f| refs.contains(*f)) {
                        out.push((f.clone(), hashed));
                    }
                }
            }
        }
        None => {
            for s in &steps[..i] {
                out.extend(s.reads.iter().map(|f| (f.clone(), false)));
            }
        }
    }
    out
}

/// Decides every flow of `def`; `FORBIDDEN` naming the field, class, destination and rule.
pub fn decide(
    policy: &Policy,
    def: &TemplateDef,
    pii: &HashMap<String, String>,
    destinations: &HashMap<String, Destination>,
) -> ApiResult<BTreeMap<String, Flow>> {
    let mut flows: BTreeMap<String, Flow> = BTreeMap::new();
    for (i, step) in def.steps.iter().enumerate() {
        if !matches!(step.step_type.as_str(), "deliver" | "notify") {
            continue;
        }
        let Some(slot) = step.config.get("slot").and_then(Value::as_str) else {
            continue;
        };
        let Some(dest) = destinations.get(slot) else {
            continue;
        };
        let flow = flows.entry(slot.to_string()).or_insert_with(|| Flow {
            category: dest.category.clone(),
            fields: BTreeMap::new(),
        });
        for (field, hashed) in sent_fields(&def.steps, i) {
            let raw = pii.get(&field).map_or("none", String::as_str);
            let class = if hashed && raw != "none" {
                "hashed"
            } else {
                raw
            };
            // A raw send of the same field wins over a hashed one.
            if flow.fields.get(&field).is_some_and(|c| c != "hashed") {
                continue;
            }
            let object = format!("flow:{class}:{}", dest.category);
            let decision = policy.decide_for(&["flows".to_string()], &object, "send");
            let connector_accepts = class == "hashed"
                || class == "none"
                || dest.data_classes.iter().any(|c| c == class);
            if !decision.allowed || !connector_accepts {
                let why = if !connector_accepts {
                    format!("the connector does not accept `{class}` data")
                } else {
                    decision.rule.map_or_else(
                        || "no policy rule allows it".to_string(),
                        |r| format!("denied by {r}"),
                    )
                };
                return Err(ApiError::Forbidden(format!(
                    "definition.steps[{i}]: field `{field}` ({class}) may not flow to a {} destination (slot `{slot}`, step `{}`): {why}",
                    dest.category, step.id
                )));
            }
            flow.fields.insert(field, class.to_string());
        }
    }
    Ok(flows)
}
