//! Data visibility: the one rule for showing the values of records that hold personal or
//! sensitive fields (delivery records and attempt histories, run details, and later exports,
//! lineage and subscriptions).
//!
//! A value of PII class `c` in a workflow built from template `t` is shown in full only to a
//! caller the policy lets `read` `data:<c>:<t>`, decided with their relation to the workflow's
//! owner. Everyone else sees the value replaced by `"[masked: <c>]"`, keys and JSON shape kept,
//! and the value scrubbed from free text (errors, details) that quotes it. Class `none` is always
//! shown; a value whose class cannot be traced is masked as personal.
//!
//! Reading personal data in full is itself audited: [`View::audit_reads`] writes a `data.read`
//! entry naming the workflow, the records and the classes shown — never the values.
//!
//! Never: decide visibility anywhere else, or put a value in an audit entry or a log line.

mod classes;
mod contracts;

pub use classes::{UNKNOWN, WorkflowClasses, rank};
pub use contracts::ContractView;

use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::error::ApiResult;
use crate::policy::{Owner, Policy};
use entity::{delivery, event, instance, run};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// The text a masked value is replaced with.
pub fn label(class: &str) -> String {
    format!("[masked: {class}]")
}

/// Shortest text of a masked value that is scrubbed from free text (shorter ones would garble
/// unrelated words and identify no one).
const MIN_SCRUB_CHARS: usize = 3;

/// Values masked in one record, to scrub from the texts that go with it (value text, class).
#[derive(Debug, Default, Clone)]
pub struct Hidden(Vec<(String, String)>);

/// What one caller may see of one workflow's records.
pub struct View<'a> {
    policy: &'a Policy,
    actor: &'a Actor,
    instance_id: i64,
    template: String,
    owner: Owner,
    classes: WorkflowClasses,
    decided: HashMap<String, bool>,
    shown: BTreeSet<String>,
}

impl<'a> View<'a> {
    /// The view of `inst`'s records for `actor`.
    pub async fn load(
        db: &DatabaseConnection,
        policy: &'a Policy,
        actor: &'a Actor,
        inst: &instance::Model,
    ) -> ApiResult<Self> {
        Ok(Self {
            policy,
            actor,
            instance_id: inst.id,
            template: inst.template.clone(),
            owner: access::instance_owner(inst),
            classes: WorkflowClasses::load(db, inst).await?,
            decided: HashMap::new(),
            shown: BTreeSet::new(),
        })
    }

    /// Whether the caller may read values of `class` in full.
    pub fn may_read(&mut self, class: &str) -> bool {
        if class == "none" {
            return true;
        }
        if let Some(d) = self.decided.get(class) {
            return *d;
        }
        let object = access::data_object(class, &self.template);
        let allowed = access::allows(
            self.policy,
            self.actor,
            Ask::owned(&object, "read", &self.owner),
        );
        self.decided.insert(class.to_string(), allowed);
        allowed
    }

    /// Masks the record step `step` sent, in place; returns the values it hid.
    pub fn record(&mut self, step: &str, record: &mut Value) -> Hidden {
        let mut hidden = Hidden::default();
        if let Value::Object(fields) = record {
            for (name, value) in fields.iter_mut() {
                let class = self
                    .classes
                    .of_output(step, name)
                    .unwrap_or(UNKNOWN)
                    .to_string();
                self.field(&class, value, &mut hidden);
            }
        } else if !record.is_null() {
            self.field(UNKNOWN, record, &mut hidden);
        }
        hidden
    }

    /// The values of an event payload the caller may not read (for scrubbing run details).
    pub fn event_values(&mut self, payload: &Value) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        for (name, value) in payload.as_object().into_iter().flatten() {
            let class = self.classes.of_event_field(name).to_string();
            if class == "none" {
                continue;
            }
            let readable = self.may_read(&class);
            for text in leaf_texts(value) {
                out.push((text, class.clone(), readable));
            }
        }
        out
    }

    /// `text` with the payload `values` the caller may not read replaced by their label; a
    /// readable value found in it counts as shown.
    pub fn detail(&mut self, text: &str, values: &[(String, String, bool)]) -> String {
        let mut hidden = Hidden::default();
        for (value, class, readable) in values {
            if *readable {
                if contains_ignore_case(text, value) {
                    self.shown.insert(class.clone());
                }
            } else {
                hidden.0.push((value.clone(), class.clone()));
            }
        }
        scrub(text, &hidden)
    }

    /// A delivery (or dead letter) as this caller may see it: its record masked, and the values
    /// masked there scrubbed from its attempt history and last error.
    pub fn delivery(&mut self, mut m: delivery::Model) -> delivery::Model {
        let mut record: Value = serde_json::from_str(&m.record).unwrap_or(Value::Null);
        let hidden = self.record(&m.step_id, &mut record);
        m.record = record.to_string();
        let mut history: Value = serde_json::from_str(&m.history).unwrap_or(Value::Null);
        scrub_value(&mut history, &hidden);
        m.history = history.to_string();
        m.last_error = m.last_error.map(|e| scrub(&e, &hidden));
        m
    }

    /// Runs as this caller may see them: values of their events that the caller may not read
    /// are scrubbed from the details.
    pub async fn runs(
        &mut self,
        db: &DatabaseConnection,
        rows: Vec<run::Model>,
    ) -> ApiResult<Vec<run::Model>> {
        let ids: Vec<String> = rows.iter().filter_map(|r| r.event_id.clone()).collect();
        let payloads: HashMap<String, Value> = if ids.is_empty() {
            HashMap::new()
        } else {
            event::Entity::find()
                .filter(event::Column::Id.is_in(ids))
                .all(db)
                .await?
                .into_iter()
                .map(|e| {
                    (
                        e.id,
                        serde_json::from_str(&e.payload).unwrap_or(Value::Null),
                    )
                })
                .collect()
        };
        let mut out = Vec::with_capacity(rows.len());
        for mut r in rows {
            let payload = r.event_id.as_ref().and_then(|id| payloads.get(id));
            if let (Some(detail), Some(payload)) = (&r.detail, payload) {
                let values = self.event_values(payload);
                r.detail = Some(self.detail(detail, &values));
            }
            out.push(r);
        }
        Ok(out)
    }

    fn field(&mut self, class: &str, value: &mut Value, hidden: &mut Hidden) {
        if class == "none" || value.is_null() {
            return;
        }
        if self.may_read(class) {
            self.shown.insert(class.to_string());
            return;
        }
        for text in leaf_texts(value) {
            hidden.0.push((text, class.to_string()));
        }
        mask_leaves(value, class);
    }

    /// Writes the `data.read` audit entry when this view showed any classified value in full:
    /// `target` and `records` name what was read, with the classes; never the values.
    pub async fn audit_reads(
        &self,
        db: &DatabaseConnection,
        target: &str,
        records: Value,
    ) -> ApiResult<()> {
        if self.shown.is_empty() {
            return Ok(());
        }
        let after = json!({
            "workflow": self.instance_id,
            "template": self.template,
            "classes": self.shown,
            "records": records,
        });
        record_read(db, self.actor, target, after).await
    }
}

/// `rows` (deliveries of `inst`) as `actor` may see them; a full read is audited on `target`.
pub async fn deliveries(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    inst: &instance::Model,
    rows: Vec<delivery::Model>,
    target: &str,
) -> ApiResult<Vec<delivery::Model>> {
    let mut view = View::load(db, policy, actor, inst).await?;
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let out = rows.into_iter().map(|d| view.delivery(d)).collect();
    view.audit_reads(db, target, json!({ "deliveries": ids }))
        .await?;
    Ok(out)
}

/// `rows` (runs of `inst`) as `actor` may see them; a full read is audited on `target`.
pub async fn runs(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    inst: &instance::Model,
    rows: Vec<run::Model>,
    target: &str,
) -> ApiResult<Vec<run::Model>> {
    let mut view = View::load(db, policy, actor, inst).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let out = view.runs(db, rows).await?;
    view.audit_reads(db, target, json!({ "runs": ids })).await?;
    Ok(out)
}

/// Appends a `data.read` entry (what was read and the classes; never the values).
async fn record_read(
    db: &DatabaseConnection,
    actor: &Actor,
    target: &str,
    after: Value,
) -> ApiResult<()> {
    let tx = crate::db::begin_write(db).await?;
    let change = Change {
        action: "data.read".into(),
        target: target.to_string(),
        before: None,
        after: Some(after),
    };
    audit::record(&tx, actor, change).await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces every leaf (string, number, boolean) of `value` with the label of `class`, keeping
/// objects' keys and arrays' lengths.
fn mask_leaves(value: &mut Value, class: &str) {
    match value {
        Value::Object(m) => m.values_mut().for_each(|v| mask_leaves(v, class)),
        Value::Array(a) => a.iter_mut().for_each(|v| mask_leaves(v, class)),
        Value::Null => {}
        other => *other = Value::String(label(class)),
    }
}

/// The texts of `value`'s leaves long enough to scrub.
fn leaf_texts(value: &Value) -> Vec<String> {
    match value {
        Value::Object(m) => m.values().flat_map(leaf_texts).collect(),
        Value::Array(a) => a.iter().flat_map(leaf_texts).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        _ => vec![],
    }
    .into_iter()
    .filter(|t| t.chars().count() >= MIN_SCRUB_CHARS)
    .collect()
}

/// Scrubs hidden values from every string of `value` (an attempt history).
pub fn scrub_value(value: &mut Value, hidden: &Hidden) {
    match value {
        Value::Object(m) => m.values_mut().for_each(|v| scrub_value(v, hidden)),
        Value::Array(a) => a.iter_mut().for_each(|v| scrub_value(v, hidden)),
        Value::String(s) => *s = scrub(s, hidden),
        _ => {}
    }
}

/// `text` with every hidden value (compared ignoring ASCII case) replaced by its label.
pub fn scrub(text: &str, hidden: &Hidden) -> String {
    let mut values: Vec<&(String, String)> = hidden.0.iter().collect();
    values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    let mut out = text.to_string();
    for (value, class) in values {
        out = replace_ignore_case(&out, value, &label(class));
    }
    out
}

fn contains_ignore_case(text: &str, needle: &str) -> bool {
    text.to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// ASCII lowercasing keeps byte offsets, so positions found in the lowered text are valid
/// boundaries in the original.
fn replace_ignore_case(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_string();
    }
    let lower = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in lower.match_indices(&needle) {
        out.push_str(&text[last..i]);
        out.push_str(with);
        last = i + needle.len();
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_keys_and_shape() {
        let mut v = json!({"a": "x@example.com", "b": [1, {"c": true}], "d": null});
        mask_leaves(&mut v, "personal");
        assert_eq!(
            v,
            json!({"a": "[masked: personal]",
                   "b": ["[masked: personal]", {"c": "[masked: personal]"}], "d": null})
        );
    }

    #[test]
    fn scrubbing_replaces_values_ignoring_case_longest_first() {
        let hidden = Hidden(vec![
            ("ana@example.com".into(), "personal".into()),
            ("Ana".into(), "personal".into()),
        ]);
        assert_eq!(
            scrub("400: ANA@example.com is invalid (ana)", &hidden),
            "400: [masked: personal] is invalid ([masked: personal])"
        );
        assert_eq!(scrub("ünïcode stays", &hidden), "ünïcode stays");
    }
}
