//! One unit of work for one instance: an event it handled or a schedule tick. Unique per
//! (instance, trigger key), so a re-run after a crash continues the same run.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub instance_id: i64,
    pub event_id: Option<String>,
    /// The event id, or `tick:<time>` for scheduled runs.
    pub trigger_key: String,
    pub status: crate::status::RunStatus,
    /// Last step reached.
    pub step: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub latency_ms: Option<i64>,
    /// The decision record (`documents::record::RunRecord`, JSON): each step's decision.
    #[sea_orm(column_type = "Text", nullable)]
    pub decisions: Option<String>,
    /// Input of a manual start (JSON), or the tick of a scheduled run.
    #[sea_orm(column_type = "Text", nullable)]
    pub input: Option<String>,
    /// A parked run's deadline (approval timeout), as stored time.
    pub deadline_at: Option<String>,
    /// Who started a manual run (`startRun`); nobody for event and scheduled runs. Never the
    /// one who approves it (four eyes).
    pub started_by: Option<String>,
    /// The template version the run started on: a run in flight when its workflow moves to a
    /// newer version finishes on this one.
    pub template_version: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
