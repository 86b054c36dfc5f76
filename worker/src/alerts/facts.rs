//! Gathering what the alert rules know about each active workflow at an instant `now`: its
//! name and template, trigger contract and freshness SLA, the health counters of the last hour
//! and the day before, open dead letters and the baselines they are compared with, contract
//! violations, deprecations of its version, and the destination that last refused credentials.

use super::rules::Facts;
use crate::engine::Engine;
use chrono::{DateTime, Utc};
use entity::documents::contract::ContractDef;
use entity::documents::template::Trigger;
use entity::{connection, deprecation, instance};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Statement};
use serde_json::Value;
use std::collections::BTreeMap;

fn at(text: Option<String>) -> Option<DateTime<Utc>> {
    text.as_deref().and_then(entity::clock::parse)
}

async fn scalar<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Option<i64>, DbErr> {
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Postgres {
        let mut n = 0;
        sql.chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        sql.to_string()
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    match row {
        Some(r) => r.try_get::<Option<i64>>("", "n"),
        None => Ok(None),
    }
}

/// The facts of `inst` at `now`.
pub async fn gather(
    engine: &Engine,
    inst: &instance::Model,
    now: DateTime<Utc>,
) -> Result<Option<Facts>, DbErr> {
    let db = &engine.db;
    let Ok(plan) = engine
        .plans
        .get(db, &inst.template, &inst.template_version)
        .await
    else {
        return Ok(None);
    };
    let template_name = crate::catalog::item(db, "template", &inst.template)
        .await?
        .map_or_else(|| inst.template.clone(), |i| i.name);
    let mut f = Facts {
        instance: inst.id,
        name: inst.name.clone(),
        template_name,
        scheduled: !matches!(plan.def.trigger, Trigger::Event { .. }),
        contract: plan.input_contract.clone(),
        created_at: entity::clock::parse(&inst.created_at),
        template_version: inst.template_version.clone(),
        ..Facts::default()
    };
    if let Some(c) = &f.contract
        && let Some(v) = crate::catalog::current(db, "contract", c).await?
        && let Ok(def) = ContractDef::parse(&v.definition)
    {
        f.sla_minutes = Some(i64::from(def.freshness_sla_minutes));
    }
    let params: Value = serde_json::from_str(&inst.params).unwrap_or(Value::Null);
    f.segments = params["segment_ids"].as_array().map_or(0, Vec::len);
    let now_ms = entity::clock::epoch_ms(now);
    let hour = crate::health::sum(db, &[inst.id], "m", now_ms - 3_600_000, now_ms + 1).await?;
    f.delivered_1h = hour.get("delivered");
    f.failed_attempts_1h = hour.get("attempts_failed");
    f.events_1h = hour.get("events");
    f.p95_ms_1h = hour.latency_ms(0.95);
    let day_end = (now_ms - 3_600_000) / 3_600_000 * 3_600_000;
    let day = crate::health::sum(db, &[inst.id], "h", day_end - 24 * 3_600_000, day_end).await?;
    f.events_prev_24h = day.get("events");
    let backend = db.get_database_backend();
    let state = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => "SELECT MAX(last_event_at) AS last_event_at, MAX(last_success_at) AS last_success_at, MAX(last_auth_failure_at) AS last_auth_failure_at FROM instance_states WHERE instance_id = $1",
                _ => "SELECT MAX(last_event_at) AS last_event_at, MAX(last_success_at) AS last_success_at, MAX(last_auth_failure_at) AS last_auth_failure_at FROM instance_states WHERE instance_id = ?",
            },
            [inst.id.into()],
        ))
        .await?;
    if let Some(row) = state {
        f.last_event_at = at(row.try_get("", "last_event_at").ok().flatten());
        f.last_success_at = at(row.try_get("", "last_success_at").ok().flatten());
        f.last_auth_failure_at = at(row.try_get("", "last_auth_failure_at").ok().flatten());
    }
    f.dead_letters_open = scalar(
        db,
        "SELECT COUNT(*) AS n FROM deliveries WHERE instance_id = ? AND status = 'dead'",
        vec![inst.id.into()],
    )
    .await?
    .unwrap_or(0);
    f.dead_letters_before = scalar(
        db,
        "SELECT value AS n FROM alert_baselines WHERE instance_id = ? AND rule = 'dead_letters'",
        vec![inst.id.into()],
    )
    .await?;
    if let Some(c) = &f.contract {
        f.drift_total = scalar(
            db,
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS n FROM contract_drift WHERE contract = ?",
            vec![c.clone().into()],
        )
        .await?
        .unwrap_or(0);
        f.drift_before = scalar(
            db,
            "SELECT value AS n FROM alert_baselines WHERE instance_id = ? AND rule = 'drift'",
            vec![inst.id.into()],
        )
        .await?;
    }
    f.sunset = deprecation::Entity::find()
        .filter(deprecation::Column::Kind.eq("template"))
        .filter(deprecation::Column::Key.eq(inst.template.as_str()))
        .filter(deprecation::Column::Version.eq(inst.template_version.as_str()))
        .one(db)
        .await?
        .and_then(|d| entity::clock::parse(&d.sunset_at).map(|s| (s, d.replacement)));
    if f.last_auth_failure_at.is_some() {
        let bindings: BTreeMap<String, i64> =
            serde_json::from_str(&inst.bindings).unwrap_or_default();
        let ids: Vec<i64> = bindings.values().copied().collect();
        if let Some(c) = connection::Entity::find()
            .filter(connection::Column::Id.is_in(ids))
            .one(db)
            .await?
        {
            f.destination = Some(format!("{} connection '{}'", c.connector, c.name));
        }
    }
    Ok(Some(f))
}
