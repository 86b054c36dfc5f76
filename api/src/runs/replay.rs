//! Replaying dead letters. A person asks; each dead letter is checked against the *current*
//! policy and contracts — the instance's flows are decided again, so a field that may no longer
//! reach that destination (a policy change, a contract now marking it sensitive) stops the
//! replay of that letter, with the reason. Allowed letters get one more attempt, staged in the
//! same transaction as the audit entry.

use crate::access;
use crate::audit::{self, Actor, Change, now_string};
use crate::catalog::{self, definitions::Kind};
use crate::error::{ApiError, ApiResult};
use crate::instances::{self, flows};
use crate::policy::Policy;
use entity::status::DeliveryStatus;
use entity::{delivery, instance};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;
use std::collections::BTreeMap;
use worker::queue::{self, NewJob};

/// The answer for one dead letter.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub delivery_id: i64,
    pub replayed: bool,
    pub reason: Option<String>,
}

/// What to replay.
pub enum Selection {
    Ids(Vec<i64>),
    Instance(i64),
}

/// Replays the selected dead letters the caller may replay.
pub async fn replay(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    selection: Selection,
) -> ApiResult<Vec<Replayed>> {
    let mut q =
        delivery::Entity::find().filter(delivery::Column::Status.eq(DeliveryStatus::Dead.as_str()));
    q = match &selection {
        Selection::Ids(ids) if ids.is_empty() || ids.len() > 1000 => {
            return Err(ApiError::bad_input("ids", "give 1 to 1,000 delivery ids"));
        }
        Selection::Ids(ids) => q.filter(delivery::Column::Id.is_in(ids.clone())),
        Selection::Instance(id) => q.filter(delivery::Column::InstanceId.eq(*id)),
    };
    let letters = q.all(db).await?;
    if let Selection::Ids(ids) = &selection
        && let Some(missing) = ids.iter().find(|id| !letters.iter().any(|d| d.id == **id))
    {
        return Err(ApiError::NotFound(format!(
            "ids: delivery {missing} does not exist or is not a dead letter"
        )));
    }
    let mut by_instance: BTreeMap<i64, Vec<delivery::Model>> = BTreeMap::new();
    if let Selection::Instance(id) = &selection {
        // Asked about one workflow: the caller must be allowed even when it has no letters.
        by_instance.insert(*id, Vec::new());
    }
    for d in letters {
        by_instance.entry(d.instance_id).or_default().push(d);
    }
    let mut out = Vec::new();
    for (instance_id, letters) in by_instance {
        let inst = instance::Entity::find_by_id(instance_id)
            .one(db)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("instance {instance_id}")))?;
        let target = format!("instance:{instance_id}");
        let owner = access::instance_owner(&inst);
        let obj = access::workflow_object(&inst.template);
        access::authorize(
            db,
            policy,
            actor,
            access::Ask::owned(&obj, "replay", &owner),
            ("delivery.replay", &target),
        )
        .await?;
        let verdict = recheck(db, policy, &inst).await;
        for d in letters {
            let refusal = match &verdict {
                Err(e) => Some(e.clone()),
                // `decide` refuses when any field the template sends may no longer go where
                // it goes; a slot that receives nothing today cannot take the letter either.
                Ok(allowed) => (!allowed.slots.contains_key(&d.slot))
                    .then(|| format!("nothing may flow to slot `{}` any more", d.slot)),
            };
            out.push(stage_one(db, actor, d, refusal).await?);
        }
    }
    Ok(out)
}

/// The flows the instance would get today: slot → allowed field names.
async fn recheck(
    db: &DatabaseConnection,
    policy: &Policy,
    inst: &instance::Model,
) -> Result<entity::documents::flow::FlowDecision, String> {
    if inst.status == "retired" {
        return Err("the instance is retired".into());
    }
    let row = catalog::version(db, Kind::Template, &inst.template, &inst.template_version)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the template version no longer exists")?;
    if row.lifecycle == "retired" {
        return Err(format!("template version {} is retired", row.version));
    }
    let def = catalog::definitions::template(&row.definition).map_err(|e| e.to_string())?;
    let bindings: BTreeMap<String, i64> =
        serde_json::from_str(&inst.bindings).map_err(|e| e.to_string())?;
    let dests = instances::destinations(db, policy, None, &def, &bindings)
        .await
        .map_err(|e| e.to_string())?;
    let pii = instances::pii_classes(db, &def)
        .await
        .map_err(|e| e.to_string())?;
    flows::decide(policy, &def, &pii, &dests).map_err(|e| format!("policy now refuses it: {e}"))
}

async fn stage_one(
    db: &DatabaseConnection,
    actor: &Actor,
    d: delivery::Model,
    refusal: Option<String>,
) -> ApiResult<Replayed> {
    let id = d.id;
    let tx = crate::db::begin_write(db).await?;
    let target = format!("delivery:{id}");
    if let Some(reason) = refusal {
        audit::record(
            &tx,
            actor,
            Change {
                action: "delivery.replay_refused".into(),
                target,
                before: Some(json!({"status": "dead"})),
                after: Some(json!({"status": "dead", "reason": reason})),
            },
        )
        .await?;
        tx.commit().await?;
        return Ok(Replayed {
            delivery_id: id,
            replayed: false,
            reason: Some(reason),
        });
    }
    let attempt = u32::try_from(d.attempts).unwrap_or(0) + 1;
    queue::stage(
        &tx,
        vec![NewJob::deliver(
            id,
            attempt,
            d.connection_id,
            chrono::Utc::now(),
        )],
    )
    .await?;
    let replays = d.replays + 1;
    let mut active: delivery::ActiveModel = d.into();
    active.status = Set(DeliveryStatus::Retrying);
    active.replays = Set(replays);
    active.updated_at = Set(now_string());
    active.update(&tx).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: "delivery.replay".into(),
            target,
            before: Some(json!({"status": "dead"})),
            after: Some(json!({"status": "retrying", "attempt": attempt, "replays": replays})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Replayed {
        delivery_id: id,
        replayed: true,
        reason: None,
    })
}
