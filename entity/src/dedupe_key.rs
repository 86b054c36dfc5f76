//! Keys a `dedupe` step has seen, per instance, with the run that first saw them (so a
//! re-run of that same run is not mistaken for a duplicate).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dedupe_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub instance_id: i64,
    /// SHA-256 of the step id and key field values.
    pub key_hash: String,
    pub run_id: i64,
    pub seen_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
