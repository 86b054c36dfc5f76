//! Write keys: credentials of event sources, scoped to the event types they may send. Only the
//! SHA-256 of a key is stored; the key itself is shown once, at creation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "write_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    /// The key's last four characters, to tell keys apart in lists.
    pub key_hint: String,
    /// JSON array of allowed event types (contract names).
    pub event_types: String,
    pub created_by: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
