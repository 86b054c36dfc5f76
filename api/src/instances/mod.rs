//! Workflow instances: a template version instantiated with parameters and connections.
//!
//! `instantiate` checks, in order: the caller may instantiate the template; the version is
//! usable; parameters match the template's parameter schema (errors name `params.<field>`);
//! every slot is bound to a connection of the right category that the caller may use; every
//! field may flow to its destination (`flows`). The decision is stored with the instance.
//! An instance the policy requires approvals of (`governance::approvals`) starts
//! `pending_approval` until different people give them (four eyes).
//!
//! An instance is owned by the person who created it and their team; approving it is decided on
//! the template (`approve`), pausing, resuming and retiring on `workflow:<template>`, each with
//! the caller's relation to that owner (see `access`).

mod bindings;
pub mod chains;
pub mod flows;
pub mod migrate;

pub use bindings::Binder;
pub(crate) use bindings::{destinations, pii_classes};

use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::catalog::{
    self,
    definitions::{Kind, Lifecycle, TemplateDef},
};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use entity::instance;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What to instantiate.
pub struct Request {
    pub template: String,
    pub version: Option<String>,
    pub name: String,
    pub params: Value,
    /// Slot → connection id.
    pub bindings: BTreeMap<String, i64>,
}

async fn template_version(
    db: &DatabaseConnection,
    key: &str,
    version: Option<&str>,
) -> ApiResult<(String, TemplateDef)> {
    let item = catalog::find(db, Kind::Template, key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("template: no template `{key}`")))?;
    let wanted = version.unwrap_or(&item.latest_version);
    let row = catalog::versions(db, item.id)
        .await?
        .into_iter()
        .find(|v| v.version == wanted)
        .ok_or_else(|| {
            ApiError::NotFound(format!("version: template `{key}` has no version {wanted}"))
        })?;
    if !matches!(
        Lifecycle::parse(&row.lifecycle),
        Some(Lifecycle::Published | Lifecycle::Deprecated)
    ) {
        return Err(ApiError::Conflict(format!(
            "version: {key} {wanted} is {} and cannot be instantiated",
            row.lifecycle
        )));
    }
    Ok((
        row.version,
        crate::catalog::definitions::template(&row.definition)?,
    ))
}

/// `params` with the schema's `default`s filled in for absent properties (recursively), so
/// steps see what the person saw in the form.
pub fn with_defaults(schema: &Value, params: &Value) -> Value {
    let mut out = params.clone();
    let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        out.as_object_mut(),
    ) else {
        return out;
    };
    for (name, prop) in props {
        match obj.get(name) {
            None => {
                if let Some(d) = prop.get("default") {
                    obj.insert(name.clone(), with_defaults(prop, d));
                } else if prop.get("type").and_then(Value::as_str) == Some("object") {
                    let filled = with_defaults(prop, &json!({}));
                    if filled.as_object().is_some_and(|m| !m.is_empty()) {
                        obj.insert(name.clone(), filled);
                    }
                }
            }
            Some(v) if v.is_object() => {
                let filled = with_defaults(prop, v);
                obj.insert(name.clone(), filled);
            }
            Some(_) => {}
        }
    }
    out
}

fn check_params(def: &TemplateDef, params: &Value) -> ApiResult<()> {
    let validator = crate::contracts::schema::compile(&def.parameters)
        .map_err(|e| ApiError::internal(format!("template parameter schema: {e}")))?;
    if let Some(e) = validator.iter_errors(params).next() {
        let path = e.instance_path().to_string().replace('/', ".");
        return Err(ApiError::bad_input(format!("params{path}"), e.to_string()));
    }
    Ok(())
}

/// Creates an instance (see the module comment for the checks).
pub async fn instantiate(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    req: Request,
) -> ApiResult<instance::Model> {
    let target = format!("instance:{}:{}", req.template, req.name);
    catalog::authorize(
        db,
        policy,
        actor,
        (
            &catalog::object(Kind::Template, &req.template),
            "instantiate",
        ),
        "instance.create",
        &target,
    )
    .await?;
    if req.name.trim().is_empty() || req.name.len() > 200 {
        return Err(ApiError::bad_input("name", "must be 1 to 200 characters"));
    }
    let (version, def) = template_version(db, &req.template, req.version.as_deref()).await?;
    crate::deprecations::refuse_after_sunset(db, &req.template, &version).await?;
    check_params(&def, &req.params)?;
    chains::refuse_cycle(db, None, &req.name, &def, "template").await?;
    let params = with_defaults(&def.parameters, &req.params);
    let binder = Binder {
        actor,
        audit_target: &target,
    };
    let dests = destinations(db, policy, Some(binder), &def, &req.bindings).await?;
    let pii = pii_classes(db, &def).await?;
    let decided = flows::decide(policy, &def, &pii, &dests)?;
    // The policy says whether it needs approvals first (`governance::approvals`).
    let needs = crate::governance::approvals::required(policy, &req.template, &def, &decided);
    let status = if needs.is_empty() {
        "active"
    } else {
        "pending_approval"
    };
    let (trigger_contract, trigger_versions) = match &def.trigger {
        crate::catalog::definitions::Trigger::Event { contract, versions } => {
            (Some(contract.clone()), Some(versions.clone()))
        }
        _ => (None, None),
    };
    let now = audit::now_string();
    let tx = crate::db::begin_write(db).await?;
    let taken = instance::Entity::find()
        .filter(instance::Column::Template.eq(req.template.as_str()))
        .filter(instance::Column::Name.eq(req.name.as_str()))
        .one(&tx)
        .await?;
    if taken.is_some() {
        return Err(ApiError::Conflict(format!(
            "name: an instance of {} named `{}` exists",
            req.template, req.name
        )));
    }
    let row = instance::ActiveModel {
        template: Set(req.template.clone()),
        template_version: Set(version),
        name: Set(req.name.clone()),
        owner: Set(actor.sub.clone()),
        owner_team: Set(actor.team.clone()),
        params: Set(params.to_string()),
        bindings: Set(serde_json::to_string(&req.bindings).map_err(ApiError::internal)?),
        flows: Set(serde_json::to_string(&decided).map_err(ApiError::internal)?),
        status: Set(status.to_string()),
        approved_by: Set(None),
        created_at: Set(now.clone()),
        updated_at: Set(now),
        trigger_contract: Set(trigger_contract),
        trigger_versions: Set(trigger_versions),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let after = json!({ "template": row.template, "version": row.template_version, "status": status,
        "params": params, "bindings": req.bindings, "flows": decided });
    audit::record(
        &tx,
        actor,
        Change {
            action: "instance.create".into(),
            target: format!("instance:{}", row.id),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Lifecycle actions on an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum Action {
    Approve,
    Pause,
    Resume,
    Retire,
}

/// Applies `action`; approval needs `approve` on the template and a different person.
pub async fn transition(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    id: i64,
    action: Action,
) -> ApiResult<instance::Model> {
    let row = instance::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("id: no instance {id}")))?;
    let (object, act, verb) = match action {
        Action::Approve => (
            catalog::object(Kind::Template, &row.template),
            "approve",
            "instance.approve",
        ),
        Action::Pause => (
            access::workflow_object(&row.template),
            "pause",
            "instance.pause",
        ),
        Action::Resume => (
            access::workflow_object(&row.template),
            "resume",
            "instance.resume",
        ),
        Action::Retire => (
            access::workflow_object(&row.template),
            "retire",
            "instance.retire",
        ),
    };
    let target = format!("instance:{id}");
    let owner = access::instance_owner(&row);
    access::authorize(
        db,
        policy,
        actor,
        Ask::owned(&object, act, &owner),
        (verb, &target),
    )
    .await?;
    let next = match (action, row.status.as_str()) {
        (Action::Approve, "pending_approval") if row.owner == actor.sub => {
            audit::record_denied(db, actor, verb, &target).await?;
            return Err(ApiError::Forbidden(
                "four eyes: the person who requested an instance cannot approve it".into(),
            ));
        }
        (Action::Approve, "pending_approval") => "active",
        (Action::Pause, "active") => "paused",
        (Action::Resume, "paused") => "active",
        (Action::Retire, s) if s != "retired" => "retired",
        (_, s) => {
            return Err(ApiError::Conflict(format!(
                "status: instance {id} is {s}; {verb} does not apply"
            )));
        }
    };
    // A workflow that would start itself through emitted events does not start.
    if next == "active"
        && let Some(v) =
            worker::catalog::version(db, "template", &row.template, &row.template_version).await?
    {
        let def = crate::catalog::definitions::template(&v.definition)?;
        chains::refuse_cycle(db, Some(row.id), &row.name, &def, "id").await?;
    }
    // A workflow starts running again only under flows the policy in force allows.
    let flows = match next {
        "active" => Some(crate::governance::apply::runnable(db, policy, &row).await?),
        _ => None,
    };
    let tx = crate::db::begin_write(db).await?;
    let before = row.status.clone();
    let mut active: instance::ActiveModel = row.into();
    active.status = Set(next.to_string());
    if let Some(f) = flows {
        active.flows = Set(f.to_json());
    }
    if action == Action::Approve {
        active.approved_by = Set(Some(actor.sub.clone()));
    }
    active.updated_at = Set(audit::now_string());
    let updated = active.update(&tx).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: verb.into(),
            target,
            before: Some(json!({ "status": before })),
            after: Some(json!({ "status": next })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// Instances the caller may `read` (on `workflow:<template>`, for each one's owner), newest
/// first, optionally of one template.
pub async fn list(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    template: Option<&str>,
) -> ApiResult<Vec<instance::Model>> {
    let mut q = instance::Entity::find();
    if let Some(t) = template {
        q = q.filter(instance::Column::Template.eq(t));
    }
    let rows = q.order_by_desc(instance::Column::Id).all(db).await?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            let owner = access::instance_owner(r);
            let obj = access::workflow_object(&r.template);
            access::allows(policy, actor, Ask::owned(&obj, "read", &owner))
        })
        .collect())
}
