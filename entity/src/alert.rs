//! An alert: a rule firing for a workflow, in words that name the business consequence. Open
//! while the condition holds, `resolved` when it clears; people acknowledge or snooze it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `freshness`, `failure_rate`, `dead_letters`, `latency`, `drift`, `auth`, `sunset`,
    /// `silent`.
    pub rule: String,
    pub instance_id: i64,
    /// `<rule>:<instance>`: one unresolved alert per rule and workflow.
    pub dedupe_key: String,
    /// `info`, `warning`, `critical`.
    pub severity: String,
    /// `open`, `acknowledged`, `snoozed`, `resolved`.
    pub status: String,
    /// Escalation level: 0 when raised, 1 after an hour, 2 after four.
    pub level: i32,
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// The counts the message was made from (JSON).
    #[sea_orm(column_type = "Text")]
    pub facts: String,
    pub owner: String,
    pub owner_team: Option<String>,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub resolved_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub snoozed_until: Option<String>,
    pub updated_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
