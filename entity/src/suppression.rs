//! Suppression lists (e.g. `global-unsubscribes`): emails a `suppress` step drops.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "suppressions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub list: String,
    pub email: String,
    pub reason: Option<String>,
    pub created_at: String,
    /// `graphql` (a person, `added_by`) or `ingest` (an unsubscribe or consent withdrawal).
    pub source: Option<String>,
    pub added_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
