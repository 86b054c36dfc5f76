//! Alerts that name the business consequence. Every minute an apalis-cron worker evaluates the
//! built-in rules (`rules`) on each active workflow's facts (`facts`) and keeps `alerts` up to
//! date: a rule that fires opens an alert (one unresolved alert per rule and workflow — repeats
//! update it), an alert still firing after an hour escalates to level 1 and after four hours to
//! level 2 (unless acknowledged), and one whose condition cleared resolves by itself. A snoozed
//! alert wakes up when its snooze ends.
//!
//! Alerts reach people through the `alerting` template: a team's alerting workflow sends each new,
//! escalated or resolved alert of the team's workflows to its chat connection, as a normal
//! delivery with the normal retries (`notify`). `evaluate` takes `now` as an argument so rules
//! are tested on histories without waiting.

pub mod facts;
pub mod notify;
pub mod rules;

use crate::engine::Engine;
use apalis::prelude::*;
use chrono::{DateTime, Utc};
use entity::{alert, instance};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, Statement,
};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

/// When the evaluator runs.
pub fn every_minute() -> cron::Schedule {
    // A constant, valid expression.
    cron::Schedule::from_str("0 * * * * *").unwrap_or_else(|_| unreachable!())
}

/// The apalis-cron handler.
pub async fn on_tick(
    _tick: apalis_cron::Tick,
    engine: Data<Arc<Engine>>,
) -> Result<(), BoxDynError> {
    evaluate(&engine, Utc::now()).await?;
    crate::health::prune(&engine.db).await?;
    Ok(())
}

/// What one evaluation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub checked: usize,
    pub opened: usize,
    pub escalated: usize,
    pub resolved: usize,
}

fn escalation(first_seen: &str, now: DateTime<Utc>) -> i32 {
    let hours = entity::clock::parse(first_seen).map_or(0, |t| (now - t).num_hours());
    match hours {
        h if h >= 4 => 2,
        h if h >= 1 => 1,
        _ => 0,
    }
}

/// Evaluates every rule on every active workflow at `now` and updates the alerts.
pub async fn evaluate(engine: &Engine, now: DateTime<Utc>) -> Result<Report, DbErr> {
    let db = &engine.db;
    let instances = instance::Entity::find()
        .filter(instance::Column::Status.eq("active"))
        .all(db)
        .await?;
    let mut report = Report::default();
    let mut findings = Vec::new();
    let mut baselines = Vec::new();
    for inst in &instances {
        let Some(f) = facts::gather(engine, inst, now).await? else {
            continue;
        };
        report.checked += 1;
        baselines.push((
            inst.id,
            f.dead_letters_open,
            f.drift_total,
            f.contract.is_some(),
        ));
        for finding in rules::evaluate(&f, now) {
            findings.push((inst, finding));
        }
    }
    let stamp = entity::clock::format(now);
    let tx = crate::db::begin_write(db).await?;
    let open: HashMap<String, alert::Model> = alert::Entity::find()
        .filter(alert::Column::ResolvedAt.is_null())
        .all(&tx)
        .await?
        .into_iter()
        .map(|a| (a.dedupe_key.clone(), a))
        .collect();
    let mut firing = std::collections::HashSet::new();
    let mut changed = Vec::new();
    for (inst, f) in findings {
        let key = format!("{}:{}", f.rule, inst.id);
        firing.insert(key.clone());
        let facts = f.facts.to_string();
        match open.get(&key) {
            Some(a) => {
                let level = if a.status == "acknowledged" {
                    a.level
                } else {
                    escalation(&a.first_seen_at, now).max(a.level)
                };
                report.escalated += usize::from(level > a.level);
                let snooze_over = a.status == "snoozed"
                    && a.snoozed_until
                        .as_deref()
                        .and_then(entity::clock::parse)
                        .is_some_and(|u| u <= now);
                let mut m: alert::ActiveModel = a.clone().into();
                m.message = Set(f.message);
                m.facts = Set(facts);
                m.severity = Set(f.severity.as_str().into());
                m.level = Set(level);
                m.last_seen_at = Set(stamp.clone());
                m.updated_at = Set(stamp.clone());
                if snooze_over {
                    m.status = Set("open".into());
                    m.snoozed_until = Set(None);
                }
                let a = m.update(&tx).await?;
                changed.push((a.instance_id, a.id));
            }
            None => {
                report.opened += 1;
                let row = alert::ActiveModel {
                    rule: Set(f.rule.into()),
                    instance_id: Set(inst.id),
                    dedupe_key: Set(key),
                    severity: Set(f.severity.as_str().into()),
                    status: Set("open".into()),
                    level: Set(0),
                    message: Set(f.message),
                    facts: Set(facts),
                    owner: Set(inst.owner.clone()),
                    owner_team: Set(inst.owner_team.clone()),
                    first_seen_at: Set(stamp.clone()),
                    last_seen_at: Set(stamp.clone()),
                    resolved_at: Set(None),
                    acknowledged_by: Set(None),
                    snoozed_until: Set(None),
                    updated_at: Set(stamp.clone()),
                    ..Default::default()
                }
                .insert(&tx)
                .await?;
                changed.push((row.instance_id, row.id));
            }
        }
    }
    for (key, a) in open {
        if firing.contains(&key) {
            continue;
        }
        report.resolved += 1;
        let mut m: alert::ActiveModel = a.into();
        m.status = Set("resolved".into());
        m.resolved_at = Set(Some(stamp.clone()));
        m.updated_at = Set(stamp.clone());
        let a = m.update(&tx).await?;
        changed.push((a.instance_id, a.id));
    }
    for (instance_id, dead, drift, has_contract) in baselines {
        set_baseline(&tx, instance_id, "dead_letters", dead, &stamp).await?;
        if has_contract {
            set_baseline(&tx, instance_id, "drift", drift, &stamp).await?;
        }
    }
    let changes: Vec<crate::changes::Change> = changed
        .iter()
        .map(|(instance, id)| crate::changes::Change::alert(*instance, *id))
        .collect();
    crate::changes::notify(&tx, &changes).await?;
    tx.commit().await?;
    engine.changes.committed(&changes);
    for (change, n) in [
        ("opened", report.opened),
        ("escalated", report.escalated),
        ("resolved", report.resolved),
    ] {
        if n > 0 {
            metrics::counter!("switchyard_alerts_total", "change" => change).increment(n as u64);
        }
    }
    Ok(report)
}

async fn set_baseline<C: ConnectionTrait>(
    tx: &C,
    instance: i64,
    rule: &str,
    value: i64,
    at: &str,
) -> Result<(), DbErr> {
    let backend = tx.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "INSERT INTO alert_baselines (instance_id, rule, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (instance_id, rule) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        }
        _ => {
            "INSERT INTO alert_baselines (instance_id, rule, value, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (instance_id, rule) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        }
    };
    tx.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [instance.into(), rule.into(), value.into(), at.into()],
    ))
    .await?;
    Ok(())
}
