//! Drift counters: how often events broke which rule of which contract version, at which place.
//! One row per (contract, version, rule, pointer) with array indices folded, so the table stays
//! bounded however many events arrive.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contract_drift")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub contract: String,
    pub version: String,
    pub rule: String,
    pub pointer: String,
    pub count: i64,
    pub first_seen_at: String,
    pub last_seen_at: String,
    #[sea_orm(column_type = "Text")]
    pub last_message: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
