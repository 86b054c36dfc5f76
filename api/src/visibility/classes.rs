//! Which PII class each value of a workflow's records carries, worked out from the template's
//! steps, the instance's stored flow decision (`slot → {category, fields: {field: class as
//! sent}}`) and the contracts' `x-pii`. A mapped output field takes the most sensitive class of
//! the fields it came from; a field hashed on the way (`sha256(…)`) is `hashed`; a field we
//! cannot trace back is [`UNKNOWN`] and is treated as personal (when unsure, mask).

use crate::catalog::{
    self,
    definitions::{Kind, Step, StepKind},
    expressions,
};
use crate::error::ApiResult;
use crate::instances;
use entity::documents::flow::{FlowDecision, SlotFlow as Flow};
use entity::instance;
use sea_orm::DatabaseConnection;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The class of a value we cannot trace to a classified field: treated as personal.
pub const UNKNOWN: &str = "personal";

/// Classes of one workflow's values.
#[derive(Debug, Default)]
pub struct WorkflowClasses {
    /// Step id → output field → class, for the records `deliver`/`notify` steps send.
    steps: HashMap<String, BTreeMap<String, String>>,
    /// Event payload field → class (the contracts the template reads).
    event: HashMap<String, String>,
}

impl WorkflowClasses {
    /// Works the classes out for `inst`. A template version that is gone leaves every field
    /// unknown (masked).
    pub async fn load(db: &DatabaseConnection, inst: &instance::Model) -> ApiResult<Self> {
        let Some(row) =
            catalog::version(db, Kind::Template, &inst.template, &inst.template_version).await?
        else {
            return Ok(Self::default());
        };
        let def = catalog::definitions::template(&row.definition)?;
        let pii = instances::pii_classes(db, &def).await?;
        let flows = FlowDecision::parse(&inst.flows).unwrap_or_default().slots;
        let mut steps = HashMap::new();
        for (i, step) in def.steps.iter().enumerate() {
            let Some(slot) = step.kind.slot() else {
                continue;
            };
            steps.insert(
                step.id.clone(),
                outputs(&def.steps, i, flows.get(slot), &pii),
            );
        }
        Ok(Self { steps, event: pii })
    }

    /// Class of output field `field` of the record step `step` sends.
    pub fn of_output(&self, step: &str, field: &str) -> Option<&str> {
        self.steps.get(step)?.get(field).map(String::as_str)
    }

    /// Class of event payload field `field`.
    pub fn of_event_field(&self, field: &str) -> &str {
        self.event.get(field).map_or(UNKNOWN, String::as_str)
    }
}

/// How sensitive a class is; the most sensitive source wins. Unknown names rank highest.
pub fn rank(class: &str) -> u8 {
    match class {
        "none" => 0,
        "hashed" => 1,
        "personal" => 2,
        _ => 3,
    }
}

fn most_sensitive<'a>(classes: impl IntoIterator<Item = &'a str>) -> String {
    classes
        .into_iter()
        .max_by_key(|c| rank(c))
        .unwrap_or("none")
        .to_string()
}

/// Output field → class of the record step `i` sends.
fn outputs(
    steps: &[Step],
    i: usize,
    flow: Option<&Flow>,
    pii: &HashMap<String, String>,
) -> BTreeMap<String, String> {
    let class_of = |field: &str| -> &str {
        flow.and_then(|f| f.fields.get(field))
            .or_else(|| pii.get(field))
            .map_or(UNKNOWN, String::as_str)
    };
    let step = &steps[i];
    let mut out = BTreeMap::new();
    if let StepKind::Notify(cfg) = &step.kind {
        // The text quotes the fields its placeholders name, whether or not `reads` lists them.
        let quoted = expressions::event_refs(&cfg.message);
        let sources = step.reads.iter().chain(quoted.iter());
        out.insert(
            "text".to_string(),
            most_sensitive(sources.map(|f| class_of(f))),
        );
        return out;
    }
    for f in &step.reads {
        out.insert(f.clone(), class_of(f).to_string());
    }
    let Some(map) = steps[..i].iter().rev().find_map(|s| match &s.kind {
        StepKind::Map(cfg) => Some(cfg),
        _ => None,
    }) else {
        // No map step: the record carries the allowed fields under their own names.
        for (field, class) in flow.map(|f| &f.fields).into_iter().flatten() {
            out.insert(field.clone(), class.clone());
        }
        return out;
    };
    for (name, from) in &map.fields {
        let root = from.split('.').next().unwrap_or(from).to_string();
        out.insert(name.clone(), class_of(&root).to_string());
    }
    for (name, expr) in &map.computed {
        let refs: BTreeSet<String> = expressions::event_refs(expr);
        let raw = most_sensitive(
            refs.iter()
                .map(|f| pii.get(f).map_or(UNKNOWN, String::as_str)),
        );
        let class = if expr.contains("sha256(") && raw != "none" {
            "hashed".to_string()
        } else {
            most_sensitive(refs.iter().map(|f| class_of(f)))
        };
        out.insert(name.clone(), class);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn steps(v: Value) -> Vec<Step> {
        entity::documents::template::TemplateDef::parse(&json!({
            "parameters": {"type": "object"}, "trigger": {"type": "manual"},
            "slots": {"crm": {"category": "crm"}, "chat": {"category": "messaging"},
                      "hook": {"category": "generic"}},
            "steps": v
        }))
        .expect("template")
        .steps
    }

    #[test]
    fn mapped_fields_take_their_sources_class_and_hashes_are_hashed() {
        let steps = steps(json!([
            {"id": "m", "type": "map", "reads": ["email", "company"], "config": {
                "fields": {"lead_email": "email", "org": "company.name"},
                "computed": {"email_sha256": "sha256(lower(event.email))",
                             "status": "params.default_status"}}},
            {"id": "d", "type": "deliver", "config": {"slot": "crm"}}
        ]));
        let pii: HashMap<String, String> = [("email", "personal"), ("company", "none")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let out = outputs(&steps, 1, None, &pii);
        assert_eq!(out["lead_email"], "personal");
        assert_eq!(out["org"], "none");
        assert_eq!(out["email_sha256"], "hashed");
        assert_eq!(out["status"], "none", "computed from parameters only");
    }

    #[test]
    fn a_notice_quoting_an_email_is_personal_even_if_reads_leave_it_out() {
        let steps = steps(json!([{"id": "n", "type": "notify", "reads": ["company"],
            "config": {"slot": "chat", "message": "{{event.company}}: {{event.email}}"}}]));
        let pii: HashMap<String, String> = [("email", "personal"), ("company", "none")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(outputs(&steps, 0, None, &pii)["text"], "personal");
    }

    #[test]
    fn without_a_map_the_allowed_fields_keep_their_names_and_unknowns_are_personal() {
        let steps = steps(json!([
            {"id": "d", "type": "deliver", "reads": ["mystery"], "config": {"slot": "hook"}}
        ]));
        let flow = Flow {
            category: "generic".into(),
            fields: [("email".to_string(), "personal".to_string())].into(),
            ..Flow::default()
        };
        let out = outputs(&steps, 0, Some(&flow), &HashMap::new());
        assert_eq!(out["email"], "personal");
        assert_eq!(out["mystery"], UNKNOWN);
    }
}
