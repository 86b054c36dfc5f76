//! Jobs waiting to enter the apalis queue. A row is written in the same transaction as the
//! change that causes the job (an accepted event, a failed attempt, a replay), so a crash can
//! never lose the job; the dispatcher pushes it with the row's dedupe key as apalis's
//! idempotency key and stamps `dispatched_at`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The job, as JSON (`worker::jobs::Job`).
    #[sea_orm(column_type = "Text")]
    pub job: String,
    /// Unique: the same job is staged once.
    #[sea_orm(unique)]
    pub dedupe_key: String,
    /// Not before this time (RFC 3339): retries wait here.
    pub run_at: String,
    pub created_at: String,
    pub dispatched_at: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
