//! Signed checkpoints of the audit chain: (seq, head hash) signed with an Ed25519 key that is
//! kept outside the database. A copy stored elsewhere lets `audit verify --checkpoint` detect a
//! truncated or wholly recomputed chain, which a hash chain alone cannot see.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_checkpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub seq: i64,
    pub hash: String,
    pub signed_at: String,
    /// Hex of the first 8 bytes of SHA-256 of the public key.
    pub key_id: String,
    /// Base64 Ed25519 signature over `chain::checkpoint_message`.
    pub signature: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
