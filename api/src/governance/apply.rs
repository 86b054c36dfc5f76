//! Acting on re-evaluated flows (issue 9, part 3): every live workflow gets its decision under
//! the version in force; one that loses fields at a slot that may not narrow is paused, one
//! that loses them where the template allows it is narrowed, one that gets fields back is told
//! so — each change audited with the decision before and after and the rule, and the owner
//! notified. Written by compare-and-set on the instance's flows and status, so a workflow that
//! changed meanwhile is left to the next sweep.

use super::evaluate::{Effect, Evaluation, FieldChange};
use crate::audit::{self, Actor, Change};
use crate::error::ApiResult;
use crate::policy::Policy;
use entity::{instance, notification};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Set,
};
use serde_json::json;

/// What applying a set of evaluations did.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    pub paused: Vec<i64>,
    pub narrowed: Vec<i64>,
    /// Blocked but not running (pending approval, already paused): nothing to pause.
    pub blocked: Vec<i64>,
    pub widened: Vec<i64>,
    pub restamped: usize,
}

fn describe(changes: &[FieldChange]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "`{}` ({}) at slot {} ({} {}): {}",
                c.field, c.class, c.slot, c.category, c.connector, c.rule
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes each evaluation's new decision, pausing, narrowing and notifying as its effect says.
pub async fn apply(
    tx: &DatabaseTransaction,
    actor: &Actor,
    version: &str,
    evals: &[Evaluation],
) -> Result<Applied, DbErr> {
    let mut done = Applied::default();
    let now = audit::now_string();
    for e in evals {
        let inst = &e.instance;
        let (status, action, message) = match e.effect {
            Effect::Blocked if inst.status == "active" => (
                "paused",
                "instance.policy_pause",
                format!(
                    "Your workflow '{}' was paused: policy {version} withholds {}. Nothing more is sent there until the policy allows it and the workflow is resumed.",
                    inst.name,
                    describe(&e.lost)
                ),
            ),
            Effect::Blocked => (
                inst.status.as_str(),
                "instance.policy_block",
                format!(
                    "Your workflow '{}' ({}) cannot run under policy {version}: it withholds {}.",
                    inst.name,
                    inst.status,
                    describe(&e.lost)
                ),
            ),
            Effect::Narrowed => (
                inst.status.as_str(),
                "instance.policy_narrow",
                format!(
                    "Your workflow '{}' keeps running without {}: policy {version} withholds them.",
                    inst.name,
                    describe(&e.lost)
                ),
            ),
            Effect::Unchanged if !e.gained.is_empty() => (
                inst.status.as_str(),
                "instance.policy_widen",
                format!(
                    "Policy {version} lets your workflow '{}' send {} again{}.",
                    inst.name,
                    describe(&e.gained),
                    if inst.status == "paused" {
                        "; resume it when you are ready"
                    } else {
                        ""
                    }
                ),
            ),
            Effect::Unchanged => (inst.status.as_str(), "", String::new()),
        };
        let mut update = instance::Entity::update_many()
            .col_expr(instance::Column::Flows, Expr::value(e.after.to_json()))
            .col_expr(instance::Column::Status, Expr::value(status));
        if !action.is_empty() {
            update = update.col_expr(instance::Column::UpdatedAt, Expr::value(now.clone()));
        }
        let written = update
            .filter(instance::Column::Id.eq(inst.id))
            .filter(instance::Column::Flows.eq(inst.flows.as_str()))
            .filter(instance::Column::Status.eq(inst.status.as_str()))
            .exec(tx)
            .await?
            .rows_affected;
        if written == 0 {
            continue;
        }
        if action.is_empty() {
            done.restamped += 1;
            continue;
        }
        match action {
            "instance.policy_pause" => done.paused.push(inst.id),
            "instance.policy_block" => done.blocked.push(inst.id),
            "instance.policy_narrow" => done.narrowed.push(inst.id),
            _ => done.widened.push(inst.id),
        }
        audit::record(
            tx,
            actor,
            Change {
                action: action.into(),
                target: format!("instance:{}", inst.id),
                before: Some(json!({
                    "status": inst.status,
                    "policy_version": e.before.policy_version,
                    "flows": e.before.slots,
                })),
                after: Some(json!({
                    "status": status,
                    "policy_version": e.after.policy_version,
                    "flows": e.after.slots,
                    "withheld": e.lost,
                    "allowed_again": e.gained,
                })),
            },
        )
        .await?;
        notify(tx, &inst.owner, "policy", inst.id, &message).await?;
    }
    Ok(done)
}

/// Leaves `message` for `recipient` about instance `id`.
pub async fn notify(
    tx: &DatabaseTransaction,
    recipient: &str,
    topic: &str,
    id: i64,
    message: &str,
) -> Result<(), DbErr> {
    notification::ActiveModel {
        recipient: Set(recipient.to_string()),
        topic: Set(topic.to_string()),
        target: Set(format!("instance:{id}")),
        message: Set(message.to_string()),
        created_at: Set(audit::now_string()),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// Live workflows whose stored decision was not made under `version`, at most `limit`.
pub async fn stale(
    db: &DatabaseConnection,
    version: &str,
    limit: u64,
) -> Result<Vec<instance::Model>, DbErr> {
    instance::Entity::find()
        .filter(instance::Column::Status.ne("retired"))
        .filter(instance::Column::Flows.not_like(format!("%\"policy_version\":\"{version}\"%")))
        .limit(limit)
        .all(db)
        .await
}

/// The flows `inst` gets under `policy` now; `CONFLICT` naming the field, slot and rule when
/// policy keeps from a slot that may not narrow a field the template sends (the workflow may
/// not run: resuming or approving it is refused).
pub async fn runnable(
    db: &DatabaseConnection,
    policy: &Policy,
    inst: &instance::Model,
) -> ApiResult<entity::documents::flow::FlowDecision> {
    let mut reads = super::evaluate::Reads::default();
    let (after, _) = super::evaluate::decide(db, policy, &mut reads, inst).await?;
    if let Some((slot, field, w)) = after.blocked() {
        return Err(crate::error::ApiError::Conflict(format!(
            "flows: policy {} withholds `{field}` ({}) from slot `{slot}`: {}; the workflow cannot run until the policy allows it",
            policy.version(),
            w.class,
            w.rule
        )));
    }
    Ok(after)
}
