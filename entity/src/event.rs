//! One row per accepted (or flagged) event. The primary key is the event's own id, so re-sending
//! an event is a no-op. `payload` is the JSON text as received.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The contract name (`event.form_submitted`).
    pub event_type: String,
    pub contract_version_id: i64,
    pub version: String,
    pub occurred_at: String,
    pub received_at: String,
    pub source: Option<String>,
    pub write_key_id: Option<i64>,
    /// `accepted`, or `flagged` when it violated a contract in `flag` mode.
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// SHA-256 (hex) of the lower-cased email the payload carries, if any: where a data-subject
    /// question starts (`subject_of`).
    pub subject: Option<String>,
    /// The run whose `emit` step emitted this event (workflows starting workflows).
    pub parent_run_id: Option<i64>,
    /// JSON array of the workflow instances the event's chain went through, oldest first
    /// (`[3, 7]`: instance 3's run started instance 7's, which emitted this). Absent for events
    /// from outside.
    pub chain: Option<String>,
}

impl Model {
    /// The instances this event's chain went through, oldest first (empty from outside).
    pub fn chain(&self) -> Vec<i64> {
        self.chain
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default()
    }
}

/// The `subject` of a payload: SHA-256 of its lower-cased, trimmed `email`.
pub fn subject_of(payload: &serde_json::Value) -> Option<String> {
    let email = payload.get("email")?.as_str()?.trim().to_lowercase();
    (!email.is_empty()).then(|| crate::chain::sha256_hex(email.as_bytes()))
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
