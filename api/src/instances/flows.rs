//! Which data reaches which destination, decided under policy. For each `deliver` or `notify`
//! step we work out the fields it sends and their PII class, then ask the policy (subject
//! `flows`, object `flow:<class>:<destination category>`, action `send`) and the connector's own
//! declared data classes. A field hashed by a preceding map step (`sha256(…event.f…)`) travels as
//! class `hashed`. The result — per slot, the fields allowed with the rule that allowed each, and
//! the fields withheld with the rule that withheld each — is stored with the instance, with the
//! version of the policy it was decided under; workers apply it (`worker::runs::fields`).

use crate::catalog::definitions::{StepKind, TemplateDef};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use entity::documents::flow::{FlowDecision, SlotFlow, Withheld};
use std::collections::{BTreeMap, HashMap};

/// A destination bound to a slot: its connector category and declared data classes.
pub struct Destination {
    pub category: String,
    pub data_classes: Vec<String>,
    /// The bound connection and its connector key.
    pub connection: i64,
    pub connector: String,
}

/// Fields step `i` sends, with whether each is hashed on the way.
pub(crate) fn sent_fields(def: &TemplateDef, i: usize) -> Vec<(String, bool)> {
    let steps = &def.steps;
    let step = &steps[i];
    let mut out: Vec<(String, bool)> = step.reads.iter().map(|f| (f.clone(), false)).collect();
    if matches!(step.kind, StepKind::Notify(_)) {
        return out;
    }
    let map = steps[..i].iter().rev().find_map(|s| match &s.kind {
        StepKind::Map(cfg) => Some((s, cfg)),
        _ => None,
    });
    // Fields the run itself decides (a route's owner queue, an SLA's re-routing): routing
    // decisions, not data about a person; a map step may send them.
    let derived: Vec<String> = steps[..i]
        .iter()
        .flat_map(|s| match &s.kind {
            StepKind::Route(r) => vec![r.assign_to.clone().unwrap_or_else(|| "owner".into())],
            StepKind::Sla(c) => vec![
                c.assign_to.clone().unwrap_or_else(|| "owner".into()),
                "previous_owner".into(),
                "sla_breached".into(),
            ],
            _ => vec![],
        })
        .collect();
    match map {
        Some((map_step, cfg)) => {
            out.extend(cfg.fields.values().map(|f| (f.clone(), false)));
            for expr in cfg.computed.values() {
                let refs = crate::catalog::expressions::event_refs(expr);
                out.extend(
                    derived
                        .iter()
                        .filter(|d| refs.contains(*d))
                        .map(|d| (d.clone(), false)),
                );
            }
            for expr in cfg.computed.values() {
                let hashed = expr.contains("sha256(");
                // `event.contact.first_name`: the root (an input field) or the leaf (a field an
                // enrich step added under `contact`), whichever the map step reads.
                let refs: std::collections::BTreeSet<String> = worker::runs::cel::event_paths(expr)
                    .iter()
                    .flat_map(|p| {
                        let root = p.split('.').next().unwrap_or(p).to_string();
                        let leaf = p.rsplit('.').next().unwrap_or(p).to_string();
                        [root, leaf]
                    })
                    .collect();
                for f in map_step.reads.iter().filter(|f| refs.contains(*f)) {
                    out.push((f.clone(), hashed));
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

/// One field's verdict towards one destination: `Ok(rule)` allowed, `Err(reason)` withheld.
fn judge(policy: &Policy, class: &str, dest: &Destination) -> Result<String, String> {
    let object = format!("flow:{class}:{}", dest.category);
    let decision = policy.decide_for(&["flows".to_string()], &object, "send");
    let connector_accepts =
        class == "hashed" || class == "none" || dest.data_classes.iter().any(|c| c == class);
    if !connector_accepts {
        return Err(format!("the connector does not accept `{class}` data"));
    }
    match (decision.allowed, decision.rule) {
        (true, Some(rule)) => Ok(rule),
        (true, None) => Ok("allowed".into()),
        (false, Some(rule)) => Err(format!("denied by {rule}")),
        (false, None) => Err("no policy rule allows it".into()),
    }
}

/// Decides every flow of `def` under `policy`: what each slot may receive, and what it may not.
pub fn decide_all(
    policy: &Policy,
    def: &TemplateDef,
    pii: &HashMap<String, String>,
    destinations: &HashMap<String, Destination>,
) -> FlowDecision {
    let mut slots: BTreeMap<String, SlotFlow> = BTreeMap::new();
    for (i, step) in def.steps.iter().enumerate() {
        let Some(slot) = step.kind.slot() else {
            continue;
        };
        let Some(dest) = destinations.get(slot) else {
            continue;
        };
        let flow = slots.entry(slot.to_string()).or_insert_with(|| SlotFlow {
            category: dest.category.clone(),
            narrow: def.slots.get(slot).is_some_and(|s| s.narrow),
            ..SlotFlow::default()
        });
        for (field, hashed) in sent_fields(def, i) {
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
            match judge(policy, class, dest) {
                Ok(rule) => {
                    flow.withheld.remove(&field);
                    flow.fields.insert(field.clone(), class.to_string());
                    flow.rules.insert(field, rule);
                }
                Err(reason) => {
                    if !flow.fields.contains_key(&field) {
                        flow.withheld.insert(
                            field,
                            Withheld {
                                class: class.to_string(),
                                rule: reason,
                            },
                        );
                    }
                }
            }
        }
    }
    FlowDecision {
        policy_version: Some(policy.version()),
        slots,
    }
}

/// Decides every flow of `def`; `FORBIDDEN` naming the field, class, destination and rule when a
/// field the template sends may not go where it goes.
pub fn decide(
    policy: &Policy,
    def: &TemplateDef,
    pii: &HashMap<String, String>,
    destinations: &HashMap<String, Destination>,
) -> ApiResult<FlowDecision> {
    let decided = decide_all(policy, def, pii, destinations);
    for (i, step) in def.steps.iter().enumerate() {
        let Some(slot) = step.kind.slot() else {
            continue;
        };
        let Some(flow) = decided.slots.get(slot) else {
            continue;
        };
        for (field, _) in sent_fields(def, i) {
            if let Some(w) = flow.withheld.get(&field) {
                return Err(ApiError::Forbidden(format!(
                    "definition.steps[{i}]: field `{field}` ({}) may not flow to a {} destination (slot `{slot}`, step `{}`): {}",
                    w.class, flow.category, step.id, w.rule
                )));
            }
        }
    }
    Ok(decided)
}
