//! The alerts service: listing the alerts of the workflows a caller may read, and what people do
//! to them — acknowledge (no more escalation; still resolves by itself) and snooze (quiet until a
//! time). Both are audited, in the transaction that changes the alert; both need `alert` on the
//! workflow (`workflow:<template>`) with the caller's relation to its owner.

use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use entity::{alert, instance};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;

/// Which alerts to list.
#[derive(Debug, Clone, Default, async_graphql::InputObject)]
pub struct AlertFilter {
    /// `open`, `acknowledged`, `snoozed`, `resolved`; unresolved ones when omitted.
    pub status: Option<String>,
    pub severity: Option<String>,
    pub instance: Option<i64>,
    pub team: Option<String>,
    pub rule: Option<String>,
}

fn readable(policy: &Policy, actor: &Actor, inst: &instance::Model) -> bool {
    let (obj, owner) = (
        access::workflow_object(&inst.template),
        access::instance_owner(inst),
    );
    access::allows(policy, actor, Ask::owned(&obj, "read", &owner))
}

/// Alerts matching `filter` on workflows the caller may read, newest first.
pub async fn list(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    filter: &AlertFilter,
    limit: u64,
) -> ApiResult<Vec<alert::Model>> {
    let mut q = alert::Entity::find();
    q = match filter.status.as_deref() {
        Some(s) if ["open", "acknowledged", "snoozed", "resolved"].contains(&s) => {
            q.filter(alert::Column::Status.eq(s))
        }
        Some(s) => {
            return Err(ApiError::bad_input(
                "filter.status",
                format!(
                    "`{s}` is not an alert status; use open, acknowledged, snoozed or resolved"
                ),
            ));
        }
        None => q.filter(alert::Column::ResolvedAt.is_null()),
    };
    if let Some(s) = &filter.severity {
        q = q.filter(alert::Column::Severity.eq(s.as_str()));
    }
    if let Some(i) = filter.instance {
        q = q.filter(alert::Column::InstanceId.eq(i));
    }
    if let Some(t) = &filter.team {
        q = q.filter(alert::Column::OwnerTeam.eq(t.as_str()));
    }
    if let Some(r) = &filter.rule {
        q = q.filter(alert::Column::Rule.eq(r.as_str()));
    }
    let rows = q
        .order_by_desc(alert::Column::Id)
        .limit(limit * 4)
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|a| a.instance_id).collect();
    let instances: std::collections::HashMap<i64, instance::Model> = instance::Entity::find()
        .filter(instance::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    Ok(rows
        .into_iter()
        .filter(|a| {
            instances
                .get(&a.instance_id)
                .is_some_and(|i| readable(policy, actor, i))
        })
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect())
}

/// What a person does to an alert.
pub enum Act {
    Acknowledge,
    /// Snooze for this many minutes (1 to 10,080).
    Snooze(i64),
}

/// Acknowledges or snoozes alert `id`.
pub async fn act(
    db: &DatabaseConnection,
    policy: &Policy,
    bus: &worker::changes::Bus,
    actor: &Actor,
    id: i64,
    what: Act,
) -> ApiResult<alert::Model> {
    let verb = match what {
        Act::Acknowledge => "alert.acknowledge",
        Act::Snooze(_) => "alert.snooze",
    };
    let target = format!("alert:{id}");
    let row = alert::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("id: no alert {id}")))?;
    let inst = instance::Entity::find_by_id(row.instance_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("id: the workflow of alert {id} is gone")))?;
    let (obj, owner) = (
        access::workflow_object(&inst.template),
        access::instance_owner(&inst),
    );
    access::authorize(
        db,
        policy,
        actor,
        Ask::owned(&obj, "alert", &owner),
        (verb, &target),
    )
    .await?;
    if row.resolved_at.is_some() {
        return Err(ApiError::Conflict(format!(
            "status: alert {id} is resolved"
        )));
    }
    let now = audit::now_string();
    let before = json!({"status": row.status, "snoozed_until": row.snoozed_until});
    let mut m: alert::ActiveModel = row.into();
    match what {
        Act::Acknowledge => {
            m.status = Set("acknowledged".into());
            m.acknowledged_by = Set(Some(actor.sub.clone()));
        }
        Act::Snooze(minutes) => {
            if !(1..=10_080).contains(&minutes) {
                return Err(ApiError::bad_input(
                    "minutes",
                    "must be between 1 and 10,080 (a week)",
                ));
            }
            let until =
                entity::clock::format(chrono::Utc::now() + chrono::Duration::minutes(minutes));
            m.status = Set("snoozed".into());
            m.snoozed_until = Set(Some(until));
        }
    }
    m.updated_at = Set(now);
    let tx = crate::db::begin_write(db).await?;
    let updated = m.update(&tx).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: verb.into(),
            target,
            before: Some(before),
            after: Some(json!({"status": updated.status, "snoozed_until": updated.snoozed_until})),
        },
    )
    .await?;
    let changes = [worker::changes::Change::alert(
        updated.instance_id,
        updated.id,
    )];
    worker::changes::notify(&tx, &changes).await?;
    tx.commit().await?;
    bus.committed(&changes);
    Ok(updated)
}
