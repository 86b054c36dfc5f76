//! The contract registry's guard: before a contract version is published, its schema is
//! compared with the versions already registered under the contract's compatibility mode, and
//! every consumer (template versions that read the contract, and which fields their steps use)
//! is listed with whether the change breaks it. A breaking version is refused unless the mode
//! is NONE.

use super::compat::{self, Change};
use crate::catalog::{
    self,
    definitions::{CatalogDoc, Compatibility, ContractDef, Kind, Lifecycle, Trigger, typed},
};
use crate::error::{ApiError, ApiResult};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A step of a consuming template and the contract fields it reads.
#[derive(Debug, Clone, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct StepUse {
    pub id: String,
    pub fields: Vec<String>,
}

/// Something that reads the contract.
#[derive(Debug, Clone, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    /// `template` (a template version reading the contract) or `instance` (a live workflow
    /// pinned to such a version; `key` is `<template>/<instance name>`).
    pub kind: String,
    pub key: String,
    pub version: String,
    /// Contract fields it reads.
    pub fields: Vec<String>,
    /// Steps reading those fields.
    pub steps: Vec<StepUse>,
    /// Whether a breaking change touches what it reads.
    pub broken: bool,
    /// JSON pointers of the breaking changes that touch it.
    pub broken_by: Vec<String>,
}

/// One incompatibility of the proposed version.
#[derive(Debug, Clone, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct Break {
    /// The registered version it is incompatible with.
    pub against_version: String,
    /// `BACKWARD`: new readers cannot read old data; `FORWARD`: old readers cannot read new data.
    pub direction: String,
    pub kind: String,
    pub pointer: String,
    pub message: String,
}

/// The outcome of checking a proposed contract version.
#[derive(Debug, Clone, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub contract: String,
    pub proposed_version: String,
    /// The contract's compatibility mode (of its newest registered version).
    pub mode: String,
    /// The newest registered version the proposal was diffed against, if any.
    pub against_version: Option<String>,
    pub compatible: bool,
    /// Every structural change from the newest registered version.
    pub changes: Vec<ChangeOut>,
    pub breaking: Vec<Break>,
    pub consumers: Vec<Consumer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct ChangeOut {
    pub kind: String,
    pub pointer: String,
    pub message: String,
    /// Whether the change alone keeps BACKWARD compatibility.
    pub compatible: bool,
}

impl From<&Change> for ChangeOut {
    fn from(c: &Change) -> Self {
        Self {
            kind: kind_name(c),
            pointer: c.pointer.clone(),
            message: c.message.clone(),
            compatible: c.compatible,
        }
    }
}

fn kind_name(c: &Change) -> String {
    serde_json::to_value(c.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", c.kind))
}

/// The top-level field a schema pointer is about (`#/properties/email/format` → `email`).
pub fn field_of(pointer: &str) -> Option<&str> {
    let rest = pointer.trim_start_matches('#').trim_start_matches('/');
    let mut parts = rest.split('/');
    match (parts.next(), parts.next()) {
        (Some("properties"), Some(f)) => Some(f),
        _ => None,
    }
}

/// Checks `doc` (a contract document) against the registered versions and consumers.
pub async fn check(db: &impl ConnectionTrait, doc: &CatalogDoc) -> ApiResult<Report> {
    if doc.kind != Kind::Contract {
        return Err(ApiError::bad_input(
            "kind",
            "only contracts have compatibility checks",
        ));
    }
    let proposed: ContractDef = typed(&doc.definition)?;
    let mut history: Vec<(String, Value, Compatibility)> = Vec::new();
    if let Some(item) = catalog::find(db, Kind::Contract, &doc.key).await? {
        let mut versions = catalog::versions(db, item.id).await?;
        versions.reverse(); // oldest first
        for v in versions {
            if v.lifecycle == Lifecycle::Draft.as_str() {
                continue;
            }
            let def: ContractDef = typed(&v.definition)?;
            history.push((v.version, def.schema, def.compatibility));
        }
    }
    let mode = history
        .last()
        .map_or(proposed.compatibility, |(_, _, m)| *m);
    let existing: Vec<&Value> = history.iter().map(|(_, s, _)| s).collect();
    let verdict = compat::check(mode, &existing, &proposed.schema);
    let breaking: Vec<Break> = verdict
        .breaking
        .iter()
        .map(|b| Break {
            against_version: history
                .get(b.against_version_index)
                .map_or_else(String::new, |(v, _, _)| v.clone()),
            direction: format!("{:?}", b.direction).to_uppercase(),
            kind: kind_name(&b.change),
            pointer: b.change.pointer.clone(),
            message: b.change.message.clone(),
        })
        .collect();
    let consumers = consumers(db, &doc.key, &breaking).await?;
    Ok(Report {
        contract: doc.key.clone(),
        proposed_version: doc.version.clone(),
        mode: serde_json::to_value(mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        against_version: history.last().map(|(v, _, _)| v.clone()),
        compatible: verdict.compatible,
        changes: verdict.changes.iter().map(ChangeOut::from).collect(),
        breaking,
        consumers,
    })
}

/// Template versions (not retired) that read contract `name`, with what breaks them.
async fn consumers(
    db: &impl ConnectionTrait,
    name: &str,
    breaking: &[Break],
) -> ApiResult<Vec<Consumer>> {
    let templates = entity::catalog_item::Entity::find()
        .filter(entity::catalog_item::Column::Kind.eq(Kind::Template.as_str()))
        .all(db)
        .await?;
    let mut out = Vec::new();
    for t in templates {
        for v in catalog::versions(db, t.id).await? {
            if v.lifecycle == Lifecycle::Retired.as_str() {
                continue;
            }
            let Ok(def) = crate::catalog::definitions::template(&v.definition) else {
                continue;
            };
            let triggered =
                matches!(&def.trigger, Trigger::Event { contract, .. } if contract == name);
            let fields: Vec<String> = def
                .reads
                .iter()
                .filter(|r| r.contract == name)
                .flat_map(|r| r.fields.iter().cloned())
                .collect();
            if !triggered && fields.is_empty() {
                continue;
            }
            let steps: Vec<StepUse> = def
                .steps
                .iter()
                .filter_map(|s| {
                    let used: Vec<String> = s
                        .reads
                        .iter()
                        .filter(|f| fields.contains(f))
                        .cloned()
                        .collect();
                    (!used.is_empty()).then(|| StepUse {
                        id: s.id.clone(),
                        fields: used,
                    })
                })
                .collect();
            let broken_by: Vec<String> = breaking
                .iter()
                .filter(|b| match field_of(&b.pointer) {
                    Some(f) => fields.iter().any(|x| x == f),
                    None => true,
                })
                .map(|b| b.pointer.clone())
                .collect();
            out.push(Consumer {
                kind: "template".into(),
                key: t.key.clone(),
                version: v.version.clone(),
                steps,
                fields,
                broken: !broken_by.is_empty(),
                broken_by,
            });
        }
    }
    // Live workflow instances pinned to a consuming template version inherit its verdict.
    let instances = entity::instance::Entity::find()
        .filter(entity::instance::Column::Status.ne("retired"))
        .all(db)
        .await?;
    let mut pinned = Vec::new();
    for i in instances {
        if let Some(t) = out.iter().find(|c| {
            c.kind == "template" && c.key == i.template && c.version == i.template_version
        }) {
            pinned.push(Consumer {
                kind: "instance".into(),
                key: format!("{}/{}", i.template, i.name),
                ..t.clone()
            });
        }
    }
    out.extend(pinned);
    Ok(out)
}

/// A one-paragraph refusal naming each break and the consumers it breaks.
pub fn refusal(report: &Report) -> String {
    let breaks: Vec<String> = report
        .breaking
        .iter()
        .map(|b| format!("{} {} ({}): {}", b.pointer, b.kind, b.direction, b.message))
        .collect();
    let broken: Vec<String> = report
        .consumers
        .iter()
        .filter(|c| c.broken)
        .map(|c| {
            let steps: Vec<&str> = c.steps.iter().map(|s| s.id.as_str()).collect();
            format!(
                "{} {} {} (steps: {})",
                c.kind,
                c.key,
                c.version,
                steps.join(", ")
            )
        })
        .collect();
    format!(
        "definition.schema: {} {} is incompatible with {} under {}: {}; it breaks: {}",
        report.contract,
        report.proposed_version,
        report
            .against_version
            .as_deref()
            .unwrap_or("the registered versions"),
        report.mode,
        breaks.join("; "),
        if broken.is_empty() {
            "no registered consumer".to_string()
        } else {
            broken.join(", ")
        }
    )
}
