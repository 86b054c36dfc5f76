//! One record sent (or to be sent) to one destination, with every attempt. The idempotency key
//! is unique: the same event, step and business key never make a second delivery row.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    pub instance_id: i64,
    pub step_id: String,
    pub slot: String,
    pub connection_id: i64,
    pub connector: String,
    #[sea_orm(unique)]
    pub idempotency_key: String,
    pub business_key: String,
    pub object: String,
    /// `upsert`, `remove`, `message`, `append`.
    pub action: String,
    /// JSON object: the record as sent (already limited to the fields allowed to flow).
    #[sea_orm(column_type = "Text")]
    pub record: String,
    pub status: crate::status::DeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// Time from the event being accepted to this delivery succeeding.
    pub latency_ms: Option<i64>,
    /// JSON array of attempts: {attempt, at, status_code, error, duration_ms}.
    #[sea_orm(column_type = "Text")]
    pub history: String,
    /// When the triggering event was accepted (latency baseline).
    pub accepted_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub next_attempt_at: Option<String>,
    pub replays: i32,
    /// Fields sent and withheld (`documents::record::DeliveryFields`, JSON).
    #[sea_orm(column_type = "Text", nullable)]
    pub fields: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
