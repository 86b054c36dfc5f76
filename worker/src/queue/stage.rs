//! Staging jobs: a job is a `work_queue` row written in the same transaction as the change
//! that causes it (an accepted event matching an active instance, a run that made deliveries, a
//! failed attempt, a replay), so there is no moment at which the change is committed and its job
//! is not. A row whose dedupe key is already waiting is skipped.
//!
//! A process that will run the job itself stages it already claimed ([`NewJob::claimed_by`])
//! and hands it to its own consumer after the commit: no other process sees it until the lease
//! runs out, and no claim query is needed. Unclaimed rows wake other processes' consumers
//! (PostgreSQL `NOTIFY`, delivered at commit).

use crate::jobs::{Job, JobV1, Kind};
use chrono::{DateTime, Utc};
use entity::work_queue;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use std::collections::HashMap;

/// PostgreSQL channel other processes' consumers listen on.
pub const PG_CHANNEL: &str = "switchyard_work";

/// The lane of a run job.
pub const RUN_LANE: &str = "run";

/// The lane of deliveries to `connection_id`.
pub fn connection_lane(connection_id: i64) -> String {
    format!("c:{connection_id}")
}

/// A job to stage.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job: Job,
    pub run_at: DateTime<Utc>,
    pub lane: String,
    /// Staged already claimed by this process until `lease_until` (epoch ms).
    pub claimed_by: Option<(String, i64)>,
    /// W3C `traceparent` of the request that caused the job.
    pub trace: Option<String>,
}

impl NewJob {
    /// A steps job (event run, tick, start, resume, expiry), due at `run_at`.
    pub fn run(job: Job, run_at: DateTime<Utc>) -> Self {
        Self {
            job,
            run_at,
            lane: RUN_LANE.into(),
            claimed_by: None,
            trace: None,
        }
    }

    /// Attempt `attempt` of delivery `delivery_id` to `connection_id`, due at `run_at`.
    pub fn deliver(
        delivery_id: i64,
        attempt: u32,
        connection_id: i64,
        run_at: DateTime<Utc>,
    ) -> Self {
        Self {
            job: Job::V1(JobV1::Deliver {
                delivery_id,
                attempt,
            }),
            run_at,
            lane: connection_lane(connection_id),
            claimed_by: None,
            trace: None,
        }
    }

    /// Staged claimed by `node` until `lease_until_ms`.
    pub fn claimed(mut self, node: &str, lease_until_ms: i64) -> Self {
        self.claimed_by = Some((node.to_string(), lease_until_ms));
        self
    }

    pub fn traced(mut self, trace: Option<String>) -> Self {
        self.trace = trace;
        self
    }

    fn row(&self, now_ms: i64) -> work_queue::ActiveModel {
        let (claimed_by, run_at, claims) = match &self.claimed_by {
            Some((node, until)) => (Some(node.clone()), *until, 1),
            None => (None, entity::clock::epoch_ms(self.run_at), 0),
        };
        work_queue::ActiveModel {
            kind: Set(self.job.kind().as_str().to_string()),
            lane: Set(self.lane.clone()),
            job: Set(serde_json::to_string(&self.job).unwrap_or_default()),
            dedupe_key: Set(self.job.idempotency_key()),
            run_at: Set(run_at),
            claimed_by: Set(claimed_by),
            claims: Set(claims),
            created_at: Set(now_ms),
            trace: Set(self.trace.clone()),
            ..Default::default()
        }
    }
}

/// A staged row: what a consumer needs to run it without reading it back.
#[derive(Debug, Clone)]
pub struct Staged {
    pub id: i64,
    pub job: Job,
    pub lane: String,
    pub claims: i32,
    pub trace: Option<String>,
}

/// Stages `jobs` in `tx`. Returns the rows staged *claimed* (a job already waiting is not
/// staged again and not returned), for the caller to hand to its own consumer after commit.
pub async fn stage<C: ConnectionTrait>(tx: &C, jobs: Vec<NewJob>) -> Result<Vec<Staged>, DbErr> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let now = entity::clock::now_ms();
    let unclaimed = jobs.iter().any(|j| j.claimed_by.is_none());
    let mut claimed = Vec::new();
    for chunk in jobs.chunks(500) {
        let rows: Vec<_> = chunk.iter().map(|j| j.row(now)).collect();
        let insert = work_queue::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([work_queue::Column::DedupeKey]);
        if chunk.iter().all(|j| j.claimed_by.is_none()) {
            insert.exec_without_returning(tx).await?;
            continue;
        }
        let inserted = match insert.exec_with_returning_many(tx).await? {
            sea_orm::TryInsertResult::Inserted(rows) => rows,
            _ => Vec::new(),
        };
        let by_key: HashMap<String, &NewJob> =
            chunk.iter().map(|j| (j.job.idempotency_key(), j)).collect();
        for row in inserted {
            if row.claimed_by.is_none() {
                continue;
            }
            if let Some(j) = by_key.get(row.dedupe_key.as_str()) {
                claimed.push(Staged {
                    id: row.id,
                    job: j.job.clone(),
                    lane: row.lane,
                    claims: row.claims,
                    trace: row.trace,
                });
            }
        }
    }
    if unclaimed && crate::db::is_postgres(tx) {
        tx.execute_unprepared(&format!("NOTIFY {PG_CHANNEL}"))
            .await?;
    }
    Ok(claimed)
}

/// Removes waiting jobs of `kind` whose dedupe key starts with `prefix` (a retired instance's
/// pending work, a run's resume after a person rejected it).
pub async fn cancel<C: ConnectionTrait>(tx: &C, kind: Kind, prefix: &str) -> Result<u64, DbErr> {
    let res = work_queue::Entity::delete_many()
        .filter(work_queue::Column::Kind.eq(kind.as_str()))
        .filter(work_queue::Column::DedupeKey.starts_with(prefix))
        .filter(work_queue::Column::ClaimedBy.is_null())
        .exec(tx)
        .await?;
    Ok(res.rows_affected)
}
