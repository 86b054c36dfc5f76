//! Pointing a live workflow's slots at other connections (`rebindInstance`): `rebind` on
//! `workflow:<template>` for its owner, `use` on each new connection, and the flows decided
//! again for the new destinations (refused, as at instantiation, when a field may not go there).
//! Approvals of what was bound before are revoked in the same transaction, sending the
//! workflow back to pending (`approvals::revalidate`).

use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::error::{ApiError, ApiResult};
use crate::instances::{self, flows};
use crate::policy::Policy;
use entity::{connection, instance};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use serde_json::json;
use std::collections::BTreeMap;

/// Rebinds the slots in `changes` (slot → connection id) of instance `id`.
pub async fn rebind(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    id: i64,
    changes: BTreeMap<String, i64>,
) -> ApiResult<instance::Model> {
    let row = instance::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("id: no instance {id}")))?;
    let target = format!("instance:{id}");
    let owner = access::instance_owner(&row);
    access::authorize(
        db,
        policy,
        actor,
        Ask::owned(&access::workflow_object(&row.template), "rebind", &owner),
        ("instance.rebind", &target),
    )
    .await?;
    if row.status == "retired" {
        return Err(ApiError::Conflict(format!(
            "status: instance {id} is retired; rebinding does not apply"
        )));
    }
    if changes.is_empty() {
        return Err(ApiError::bad_input("connections", "name at least one slot"));
    }
    let mut reads = super::evaluate::Reads::default();
    let (def, pii) = reads
        .template(db, &row.template, &row.template_version)
        .await?;
    let before: BTreeMap<String, i64> =
        serde_json::from_str(&row.bindings).map_err(ApiError::internal)?;
    let mut bindings = before.clone();
    for (slot, conn_id) in &changes {
        let field = format!("connections.{slot}");
        if !def.slots.contains_key(slot) {
            return Err(ApiError::bad_input(field, "is not a slot of this template"));
        }
        let conn = connection::Entity::find_by_id(*conn_id)
            .one(db)
            .await?
            .ok_or_else(|| ApiError::bad_input(&field, format!("no connection {conn_id}")))?;
        access::authorize(
            db,
            policy,
            actor,
            Ask::owned(
                &access::connection_object(&conn.connector),
                "use",
                &access::connection_owner(&conn),
            ),
            ("instance.rebind", &target),
        )
        .await
        .map_err(|e| ApiError::Forbidden(format!("{field}: {e}")))?;
        bindings.insert(slot.clone(), *conn_id);
    }
    let dests = instances::destinations(db, policy, None, &def, &bindings).await?;
    let decided = flows::decide(policy, &def, &pii, &dests)?;
    let tx = crate::db::begin_write(db).await?;
    let mut active: instance::ActiveModel = row.clone().into();
    active.bindings = Set(serde_json::to_string(&bindings).map_err(ApiError::internal)?);
    active.flows = Set(decided.to_json());
    active.updated_at = Set(audit::now_string());
    let updated = active.update(&tx).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: "instance.rebind".into(),
            target,
            before: Some(json!({ "bindings": before })),
            after: Some(json!({ "bindings": bindings, "flows": decided.slots })),
        },
    )
    .await?;
    super::approvals::revalidate(&tx, &updated, None).await?;
    let now = instance::Entity::find_by_id(id).one(&tx).await?;
    tx.commit().await?;
    Ok(now.unwrap_or(updated))
}
