//! Moving a live workflow to a newer version of its template (`migrateInstance`). The checks
//! are those of instantiating — the caller may instantiate the template and manage the
//! workflow, the new version is newer, published or deprecated (not past its sunset), the
//! parameters (the current ones unless new ones are given) pass its schema, and the data flows
//! are decided under the current policy — and a dry run stops there, showing what would change:
//! steps, fields read, destinations (slots) and flow decisions gained and lost. Applying it
//! switches the instance in one transaction with an audit entry holding before and after; its
//! id, runs and history stay. Runs already in flight keep the version they started on (each run
//! records it) and finish on it.

use super::{bindings, flows, with_defaults};
use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::catalog::{
    self,
    definitions::{Kind, Lifecycle, TemplateDef, Trigger},
};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use entity::documents::flow::FlowDecision;
use entity::instance;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// What a migration changes (or changed).
#[derive(Debug, Clone, Default)]
pub struct Preview {
    pub from_version: String,
    pub to_version: String,
    pub applied: bool,
    pub steps_added: Vec<String>,
    pub steps_removed: Vec<String>,
    pub fields_added: Vec<String>,
    pub fields_removed: Vec<String>,
    pub slots_added: Vec<String>,
    pub slots_removed: Vec<String>,
    /// `slot.field (class)` that may now flow / no longer flows.
    pub flows_gained: Vec<String>,
    pub flows_lost: Vec<String>,
    /// New slots nobody bound yet: nothing reaches them until a connection is bound.
    pub unbound_slots: Vec<String>,
    pub params: Value,
}

fn diff(old: &BTreeSet<String>, new: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (
        new.difference(old).cloned().collect(),
        old.difference(new).cloned().collect(),
    )
}

fn step_names(def: &TemplateDef) -> BTreeSet<String> {
    def.steps
        .iter()
        .map(|s| format!("{} ({})", s.id, s.kind.name()))
        .collect()
}

fn read_fields(def: &TemplateDef) -> BTreeSet<String> {
    def.reads
        .iter()
        .flat_map(|r| r.fields.iter().map(move |f| format!("{}.{f}", r.contract)))
        .collect()
}

fn flow_set(d: &FlowDecision) -> BTreeSet<String> {
    d.slots
        .iter()
        .flat_map(|(slot, f)| {
            f.fields
                .iter()
                .map(move |(field, class)| format!("{slot}.{field} ({class})"))
        })
        .collect()
}

/// Migrates instance `id` to `to_version` (see the module comment); `dry_run` changes nothing.
pub async fn migrate(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    id: i64,
    to_version: &str,
    params: Option<Value>,
    dry_run: bool,
) -> ApiResult<Preview> {
    let target = format!("instance:{id}");
    let row = instance::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("instance: no instance {id}")))?;
    let owner = access::instance_owner(&row);
    let workflow = access::workflow_object(&row.template);
    access::authorize(
        db,
        policy,
        actor,
        Ask::owned(&workflow, "retire", &owner),
        ("instance.migrate", &target),
    )
    .await?;
    access::authorize(
        db,
        policy,
        actor,
        Ask::unowned(
            &catalog::object(Kind::Template, &row.template),
            "instantiate",
        ),
        ("instance.migrate", &target),
    )
    .await?;
    if row.status == "retired" {
        return Err(ApiError::Conflict(format!(
            "status: instance {id} is retired"
        )));
    }
    let item = catalog::find(db, Kind::Template, &row.template)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("template `{}`", row.template)))?;
    let versions = catalog::versions(db, item.id).await?;
    let parse = |v: &str| semver::Version::parse(v).ok();
    let new = versions
        .iter()
        .find(|v| v.version == to_version)
        .ok_or_else(|| {
            ApiError::bad_input(
                "toVersion",
                format!("template `{}` has no version {to_version}", row.template),
            )
        })?;
    if parse(to_version) <= parse(&row.template_version) {
        return Err(ApiError::bad_input(
            "toVersion",
            format!(
                "{to_version} is not newer than the workflow's version {}: a workflow only moves forward",
                row.template_version
            ),
        ));
    }
    if !matches!(
        Lifecycle::parse(&new.lifecycle),
        Some(Lifecycle::Published | Lifecycle::Deprecated)
    ) {
        return Err(ApiError::Conflict(format!(
            "toVersion: {} {to_version} is {} and cannot be used",
            row.template, new.lifecycle
        )));
    }
    crate::deprecations::refuse_after_sunset(db, &row.template, to_version).await?;
    let old_def = versions
        .iter()
        .find(|v| v.version == row.template_version)
        .map(|v| catalog::definitions::template(&v.definition))
        .transpose()?;
    let new_def = catalog::definitions::template(&new.definition)?;
    super::chains::refuse_cycle(db, Some(row.id), &row.name, &new_def, "toVersion").await?;
    let current: Value = serde_json::from_str(&row.params).unwrap_or_else(|_| json!({}));
    let given = params.unwrap_or(current);
    super::check_params(&new_def, &given)?;
    let params = with_defaults(&new_def.parameters, &given);
    // Bindings to slots the new version no longer has are dropped; new slots stay unbound.
    let old_bindings: BTreeMap<String, i64> =
        serde_json::from_str(&row.bindings).unwrap_or_default();
    let kept: BTreeMap<String, i64> = old_bindings
        .iter()
        .filter(|(slot, _)| new_def.slots.contains_key(*slot))
        .map(|(s, c)| (s.clone(), *c))
        .collect();
    let dests = bindings::destinations(db, policy, None, &new_def, &kept).await?;
    let pii = bindings::pii_classes(db, &new_def).await?;
    let decided = flows::decide(policy, &new_def, &pii, &dests)?;
    let old_flows = FlowDecision::parse(&row.flows).unwrap_or_default();

    let mut p = Preview {
        from_version: row.template_version.clone(),
        to_version: to_version.to_string(),
        params: params.clone(),
        ..Preview::default()
    };
    let empty = BTreeSet::new();
    let (old_steps, old_fields, old_slots) = match &old_def {
        Some(d) => (
            step_names(d),
            read_fields(d),
            d.slots.keys().cloned().collect::<BTreeSet<_>>(),
        ),
        None => (empty.clone(), empty.clone(), empty.clone()),
    };
    (p.steps_added, p.steps_removed) = diff(&old_steps, &step_names(&new_def));
    (p.fields_added, p.fields_removed) = diff(&old_fields, &read_fields(&new_def));
    (p.slots_added, p.slots_removed) = diff(&old_slots, &new_def.slots.keys().cloned().collect());
    (p.flows_gained, p.flows_lost) = diff(&flow_set(&old_flows), &flow_set(&decided));
    p.unbound_slots = new_def
        .slots
        .keys()
        .filter(|s| !kept.contains_key(*s))
        .cloned()
        .collect();
    if dry_run {
        return Ok(p);
    }
    let (trigger_contract, trigger_versions) = match &new_def.trigger {
        Trigger::Event { contract, versions } => (Some(contract.clone()), Some(versions.clone())),
        _ => (None, None),
    };
    let before = json!({ "version": row.template_version, "params": serde_json::from_str::<Value>(&row.params).unwrap_or(Value::Null),
                         "bindings": old_bindings, "flows": old_flows });
    let after = json!({ "version": to_version, "params": params, "bindings": kept, "flows": decided,
                        "steps_added": p.steps_added, "steps_removed": p.steps_removed,
                        "flows_gained": p.flows_gained, "flows_lost": p.flows_lost });
    let tx = crate::db::begin_write(db).await?;
    // Fenced on the version it was read at: two concurrent migrations cannot both apply.
    let fresh = instance::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("instance: no instance {id}")))?;
    if fresh.template_version != row.template_version {
        return Err(ApiError::Conflict(format!(
            "instance {id} moved to {} meanwhile",
            fresh.template_version
        )));
    }
    let mut active: instance::ActiveModel = fresh.into();
    active.template_version = Set(to_version.to_string());
    active.params = Set(params.to_string());
    active.bindings = Set(serde_json::to_string(&kept).map_err(ApiError::internal)?);
    active.flows = Set(serde_json::to_string(&decided).map_err(ApiError::internal)?);
    active.trigger_contract = Set(trigger_contract);
    active.trigger_versions = Set(trigger_versions);
    active.updated_at = Set(audit::now_string());
    active.update(&tx).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: "instance.migrate".into(),
            target,
            before: Some(before),
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    catalog::changed();
    p.applied = true;
    Ok(p)
}
