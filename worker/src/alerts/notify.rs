//! The `alerting` template (2.x) subscribes a team to the alerts of its workflows. Each of its
//! scheduled runs looks at the alerts of the workflows its owner team (or, without a team, its
//! owner) owns, and gives every new, escalated or resolved one a run of its own — input: the
//! alert (`alert` contract), trigger key `alert:<id>:<level>:<state>`, so each change is sent
//! once — which goes through the template's steps (severity filter, `notify` to the chat slot)
//! with the delivery machinery's retries.
//!
//! The scheduled run reports what it checked; with no workflow to watch it is `skipped`, never
//! `succeeded` having checked nothing.

use crate::engine::Engine;
use crate::jobs::{Job, JobV1};
use crate::queue::{self, NewJob};
use crate::runs::plan::Plan;
use entity::documents::record::{Decision, RunRecord, StepDecision};
use entity::status::RunStatus;
use entity::{alert, instance, run};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};
use serde_json::json;

/// The contract of an alert as a run's input.
pub const CONTRACT: &str = "alert";

/// Whether `alert` belongs to the workflows `sub` (the alerting instance) watches.
fn watched(sub: &instance::Model, a: &alert::Model) -> bool {
    match &sub.owner_team {
        Some(team) => a.owner_team.as_deref() == Some(team.as_str()),
        None => a.owner == sub.owner,
    }
}

/// The input of an alert's notification run.
fn input(a: &alert::Model, name: &str) -> serde_json::Value {
    let headline = match (a.status.as_str(), a.level) {
        ("resolved", _) => format!("Resolved: {}", a.message),
        (_, 0) => format!("[{}] {}", a.severity.to_uppercase(), a.message),
        (_, l) => format!(
            "[{}, still unresolved, escalation {l}] {}",
            a.severity.to_uppercase(),
            a.message
        ),
    };
    json!({"id": a.id, "workflow": name, "rule": a.rule, "severity": a.severity, "status": a.status,
           "level": a.level, "message": a.message, "headline": headline, "first_seen_at": a.first_seen_at})
}

/// One scheduled run of an alerting instance.
pub async fn tick(
    engine: &Engine,
    job: (i64, i32),
    sub: &instance::Model,
    _plan: &Plan,
    trigger_key: &str,
) -> Result<(), DbErr> {
    let db = &engine.db;
    let watched_workflows: Vec<instance::Model> = instance::Entity::find()
        .filter(instance::Column::Status.eq("active"))
        .all(db)
        .await?
        .into_iter()
        .filter(|i| i.id != sub.id && i.template != sub.template)
        .filter(|i| match &sub.owner_team {
            Some(team) => i.owner_team.as_deref() == Some(team.as_str()),
            None => i.owner == sub.owner,
        })
        .collect();
    let names: std::collections::HashMap<i64, String> = watched_workflows
        .iter()
        .map(|i| (i.id, i.name.clone()))
        .collect();
    let alerts: Vec<alert::Model> = alert::Entity::find()
        .filter(alert::Column::InstanceId.is_in(names.keys().copied().collect::<Vec<_>>()))
        .all(db)
        .await?
        .into_iter()
        .filter(|a| watched(sub, a) && a.status != "snoozed" && a.updated_at >= sub.created_at)
        .filter(|a| a.status != "acknowledged" || a.resolved_at.is_some())
        .collect();
    let tx = crate::db::begin_write(db).await?;
    if queue::finish(&tx, &engine.node, &[job]).await?.is_empty() {
        return tx.commit().await;
    }
    let Some(tick_run) = crate::schedules::new_run(&tx, sub, trigger_key, None).await? else {
        return tx.commit().await;
    };
    let mut queued = 0;
    let mut jobs = Vec::new();
    for a in &alerts {
        let state = if a.resolved_at.is_some() {
            "resolved"
        } else {
            "open"
        };
        let key = format!("alert:{}:{}:{state}", a.id, a.level);
        let row = run::ActiveModel {
            instance_id: Set(sub.id),
            event_id: Set(None),
            trigger_key: Set(key),
            status: Set(RunStatus::Running),
            started_at: Set(entity::clock::now_string()),
            input: Set(Some(
                input(a, names.get(&a.instance_id).map_or("", String::as_str)).to_string(),
            )),
            ..Default::default()
        };
        if let sea_orm::TryInsertResult::Inserted(r) = run::Entity::insert(row)
            .on_conflict_do_nothing_on([run::Column::InstanceId, run::Column::TriggerKey])
            .exec_with_returning(&tx)
            .await?
        {
            queued += 1;
            jobs.push(NewJob::run(
                Job::V1(JobV1::Continue {
                    run_id: r.id,
                    from_step: 0,
                }),
                chrono::Utc::now(),
            ));
        }
    }
    queue::stage(&tx, jobs).await?;
    let open = alerts.iter().filter(|a| a.resolved_at.is_none()).count();
    let scope = sub
        .owner_team
        .as_deref()
        .map_or_else(|| format!("owner {}", sub.owner), |t| format!("team {t}"));
    let (status, detail) = if watched_workflows.is_empty() {
        (
            RunStatus::Skipped,
            format!("checked nothing: {scope} has no active workflow to watch"),
        )
    } else {
        (
            RunStatus::Succeeded,
            format!(
                "checked {} workflows of {scope}: {open} alerts open, {queued} notifications queued",
                watched_workflows.len()
            ),
        )
    };
    let record = RunRecord {
        steps: vec![StepDecision {
            step: "watch".into(),
            kind: "schedule".into(),
            decision: if watched_workflows.is_empty() {
                Decision::Skipped
            } else {
                Decision::Passed
            },
            detail: detail.clone(),
            data: json!({"workflows": watched_workflows.len(), "open": open, "queued": queued}),
        }],
    };
    crate::schedules::end_run(&tx, &tick_run, status, &detail, &record).await?;
    tx.commit().await?;
    engine.wake.runs_queued();
    Ok(())
}
