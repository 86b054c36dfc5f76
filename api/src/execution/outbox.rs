//! The transactional outbox. Whatever causes a job — an accepted event matching an active
//! instance, a failed attempt that must be retried, a replay — writes an outbox row in the same
//! transaction as the change itself, so there is no moment at which the change is committed and
//! the job is not. The dispatcher (`dispatch`) moves rows into apalis afterwards; pushing the
//! same row twice is harmless because apalis de-duplicates on the row's key.

use crate::audit::now_string;
use chrono::{DateTime, Utc};
use entity::{instance, outbox};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set,
};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use worker::jobs::{Job, JobV1};

/// Wakes the dispatcher of this process when a transaction staged jobs.
pub fn wakeup() -> &'static tokio::sync::Notify {
    static NOTIFY: OnceLock<tokio::sync::Notify> = OnceLock::new();
    NOTIFY.get_or_init(tokio::sync::Notify::new)
}

/// PostgreSQL channel the dispatchers of other processes listen on.
pub const PG_CHANNEL: &str = "switchyard_outbox";

/// An outbox row for `job`, not to run before `run_at`.
pub fn row(job: &Job, run_at: DateTime<Utc>) -> outbox::ActiveModel {
    outbox::ActiveModel {
        job: Set(serde_json::to_string(job).unwrap_or_default()),
        dedupe_key: Set(job.idempotency_key()),
        run_at: Set(run_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        created_at: Set(now_string()),
        dispatched_at: Set(None),
        ..Default::default()
    }
}

/// Commits a transaction that staged jobs, then wakes this process's dispatcher (woken before
/// the commit, it would not see the rows yet).
pub async fn commit(tx: DatabaseTransaction) -> Result<(), DbErr> {
    tx.commit().await?;
    wakeup().notify_one();
    Ok(())
}

/// Stages `rows` in `tx`; a row whose key is already staged is skipped. Other processes'
/// dispatchers hear of it through PostgreSQL NOTIFY (delivered at commit); commit with
/// [`commit`] to wake this one.
pub async fn stage(tx: &DatabaseTransaction, rows: Vec<outbox::ActiveModel>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    for chunk in rows.chunks(500) {
        outbox::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([outbox::Column::DedupeKey])
            .exec_without_returning(tx)
            .await?;
    }
    if tx.get_database_backend() == sea_orm::DbBackend::Postgres {
        tx.execute_unprepared(&format!("NOTIFY {PG_CHANNEL}"))
            .await?;
    }
    Ok(())
}

/// An event just stored: (id, contract, contract version).
pub struct Stored<'a> {
    pub id: &'a str,
    pub contract: &'a str,
    pub version: &'a str,
}

/// Stages a run for every active instance whose trigger matches each stored event. Runs inside
/// the ingestion transaction: an acknowledged event always has its runs staged.
pub async fn fan_out(tx: &DatabaseTransaction, events: &[Stored<'_>]) -> Result<usize, DbErr> {
    if events.is_empty() {
        return Ok(0);
    }
    let contracts: HashSet<&str> = events.iter().map(|e| e.contract).collect();
    let instances = instance::Entity::find()
        .filter(instance::Column::Status.eq("active"))
        .filter(instance::Column::TriggerContract.is_in(contracts))
        .all(tx)
        .await?;
    if instances.is_empty() {
        return Ok(0);
    }
    let mut by_contract: HashMap<&str, Vec<(&instance::Model, Option<semver::VersionReq>)>> =
        HashMap::new();
    for i in &instances {
        let req = i
            .trigger_versions
            .as_deref()
            .and_then(|v| semver::VersionReq::parse(v).ok());
        if let Some(c) = i.trigger_contract.as_deref() {
            by_contract.entry(c).or_default().push((i, req));
        }
    }
    let now = Utc::now();
    let mut rows = Vec::new();
    for ev in events {
        let Some(candidates) = by_contract.get(ev.contract) else {
            continue;
        };
        let version = semver::Version::parse(ev.version).ok();
        for (inst, req) in candidates {
            let matches = match (req, &version) {
                (Some(req), Some(v)) => req.matches(v),
                (None, _) => true,
                (Some(_), None) => false,
            };
            if matches {
                let job = Job::V1(JobV1::Run {
                    instance_id: inst.id,
                    event_id: ev.id.to_string(),
                    from_step: None,
                });
                rows.push(row(&job, now));
            }
        }
    }
    let n = rows.len();
    stage(tx, rows).await?;
    Ok(n)
}
