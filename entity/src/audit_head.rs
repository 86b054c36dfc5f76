//! The single row (`id = 1`) holding the audit chain's head. Every audited transaction updates it
//! first, which serialises chain appends across connections and processes (a row lock on
//! PostgreSQL, the write lock on SQLite).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_head")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Sequence number of the newest entry (0 when the log is empty).
    pub seq: i64,
    /// Hash of the newest entry (the genesis hash when the log is empty).
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
