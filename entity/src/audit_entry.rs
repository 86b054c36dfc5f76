//! The audit log: one row per mutation attempt, allowed or denied, chained by SHA-256.
//!
//! Rows are written only through `api::audit`, inside the transaction of the change they
//! describe. `before`/`after` hold canonical JSON text (not a JSON column) so the bytes that were
//! hashed are the bytes that are stored, on SQLite and PostgreSQL alike.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entries")]
pub struct Model {
    /// Gapless sequence number, 1-based, assigned under the chain-head lock.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// RFC 3339 UTC timestamp with microseconds (`2026-11-27T03:23:06.123456Z`).
    pub at: String,
    pub actor: String,
    /// JSON array of the actor's roles at the time.
    pub roles: String,
    pub action: String,
    pub target: String,
    /// `allowed` or `denied`.
    pub outcome: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub before: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub after: Option<String>,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
    /// The policy version in force when the entry was written (`None`: written before policy
    /// versions were recorded). Covered by the hash when present.
    pub policy_version: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
