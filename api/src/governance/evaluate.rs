//! Deciding a live workflow's flows again under a policy — the one in force, or one proposed —
//! and comparing with what it had: which fields each destination loses or gains, with the rule
//! that decides each, and what that means for the workflow (unchanged, narrowed where the
//! template allows it, blocked otherwise). Reads only; `apply` and `impact` act on the result.

use crate::catalog::{self, definitions::Kind};
use crate::error::{ApiError, ApiResult};
use crate::instances::{self, flows};
use crate::policy::Policy;
use entity::documents::flow::FlowDecision;
use entity::documents::template::TemplateDef;
use entity::instance;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One field that a destination loses or gains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub slot: String,
    /// The destination's connector category (`ads`) and connector key.
    pub category: String,
    pub connector: String,
    pub field: String,
    /// The class it travels as.
    pub class: String,
    /// The rule that now withholds (or allows) it.
    pub rule: String,
}

/// What a new decision means for a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// It sends what it sent.
    Unchanged,
    /// It loses fields at slots the template lets narrow: it keeps running without them.
    Narrowed,
    /// It loses fields at a slot that may not be narrowed: it is paused.
    Blocked,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Unchanged => "unchanged",
            Effect::Narrowed => "narrowed",
            Effect::Blocked => "blocked",
        }
    }
}

/// A workflow's flows before and after.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub instance: instance::Model,
    pub before: FlowDecision,
    pub after: FlowDecision,
    pub lost: Vec<FieldChange>,
    pub gained: Vec<FieldChange>,
    pub effect: Effect,
}

/// Template definitions and PII classes read once per pass over the workflows.
#[derive(Default)]
pub struct Reads {
    templates: HashMap<(String, String), TemplateDef>,
    pii: HashMap<(String, String), HashMap<String, String>>,
}

impl Reads {
    /// A template version's definition and the PII classes of the fields it reads.
    pub async fn template(
        &mut self,
        db: &DatabaseConnection,
        key: &str,
        version: &str,
    ) -> ApiResult<(TemplateDef, HashMap<String, String>)> {
        let k = (key.to_string(), version.to_string());
        if !self.templates.contains_key(&k) {
            let row = catalog::version(db, Kind::Template, key, version)
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound(format!("template {key} {version} no longer exists"))
                })?;
            let def = catalog::definitions::template(&row.definition)?;
            let pii = instances::pii_classes(db, &def).await?;
            self.pii.insert(k.clone(), pii);
            self.templates.insert(k.clone(), def);
        }
        Ok((self.templates[&k].clone(), self.pii[&k].clone()))
    }
}

/// The workflows that are not retired, oldest first.
pub async fn live(db: &DatabaseConnection) -> ApiResult<Vec<instance::Model>> {
    Ok(instance::Entity::find()
        .filter(instance::Column::Status.ne("retired"))
        .order_by_asc(instance::Column::Id)
        .all(db)
        .await?)
}

/// `inst`'s flows decided under `policy`, with its destinations (slot → connector key).
pub async fn decide(
    db: &DatabaseConnection,
    policy: &Policy,
    reads: &mut Reads,
    inst: &instance::Model,
) -> ApiResult<(FlowDecision, BTreeMap<String, String>)> {
    let (def, pii) = reads
        .template(db, &inst.template, &inst.template_version)
        .await?;
    let bindings: BTreeMap<String, i64> =
        serde_json::from_str(&inst.bindings).map_err(ApiError::internal)?;
    let dests = instances::destinations(db, policy, None, &def, &bindings).await?;
    let connectors = dests
        .iter()
        .map(|(slot, d)| (slot.clone(), d.connector.clone()))
        .collect();
    Ok((flows::decide_all(policy, &def, &pii, &dests), connectors))
}

/// Compares `before` with `after` for `inst`.
pub fn compare(
    inst: &instance::Model,
    before: FlowDecision,
    after: FlowDecision,
    connectors: &BTreeMap<String, String>,
) -> Evaluation {
    let mut lost = Vec::new();
    let mut gained = Vec::new();
    let mut effect = Effect::Unchanged;
    for (slot, now) in &after.slots {
        let was = before.slots.get(slot).cloned().unwrap_or_default();
        let connector = connectors.get(slot).cloned().unwrap_or_default();
        let change = |field: &str, class: &str, rule: &str| FieldChange {
            slot: slot.clone(),
            category: now.category.clone(),
            connector: connector.clone(),
            field: field.to_string(),
            class: class.to_string(),
            rule: rule.to_string(),
        };
        for (field, class) in &was.fields {
            if let Some(w) = now.withheld.get(field) {
                lost.push(change(field, class, &w.rule));
                effect = match (effect, now.narrow) {
                    (Effect::Blocked, _) | (_, false) => Effect::Blocked,
                    _ => Effect::Narrowed,
                };
            }
        }
        for (field, class) in &now.fields {
            if was.withheld.contains_key(field) {
                let rule = now.rules.get(field).cloned().unwrap_or_default();
                gained.push(change(field, class, &rule));
            }
        }
    }
    Evaluation {
        instance: inst.clone(),
        before,
        after,
        lost,
        gained,
        effect,
    }
}

/// Decides `inst`'s flows under `policy` and compares with `before` (its stored decision when
/// `None`).
pub async fn evaluate(
    db: &DatabaseConnection,
    policy: &Policy,
    reads: &mut Reads,
    inst: &instance::Model,
    before: Option<FlowDecision>,
) -> ApiResult<Evaluation> {
    let (after, connectors) = decide(db, policy, reads, inst).await?;
    let before = before.unwrap_or_else(|| FlowDecision::parse(&inst.flows).unwrap_or_default());
    Ok(compare(inst, before, after, &connectors))
}
