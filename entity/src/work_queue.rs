//! Switchyard's job queue, written in the same transaction as whatever causes a job (an
//! accepted event, a run that made deliveries, a failed attempt, a replay), so a committed change
//! always has its job. Workers claim due rows by moving `run_at` forward by a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL); a worker that dies simply lets the lease run out and
//! the row is due again. A finished job's row is deleted in the transaction that records its
//! result, fenced on `claimed_by` and `claims`, so a worker that lost its lease records nothing.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "work_queue")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `run` (steps, schedule ticks, manual starts) or `deliver` (one delivery attempt).
    pub kind: String,
    /// Isolation lane: `run`, or `c:<connection id>` for deliveries (per-destination limits).
    pub lane: String,
    /// The job, as JSON (`worker::jobs::Job`).
    #[sea_orm(column_type = "Text")]
    pub job: String,
    /// Unique: the same job is staged once while it waits.
    #[sea_orm(unique)]
    pub dedupe_key: String,
    /// Due time in epoch milliseconds; while claimed, the end of the claim's lease.
    pub run_at: i64,
    /// The worker process holding the lease, if any.
    pub claimed_by: Option<String>,
    /// How often the row was claimed: the fencing token of the current claim.
    pub claims: i32,
    pub created_at: i64,
    /// W3C trace context of the request that caused the job.
    pub trace: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
