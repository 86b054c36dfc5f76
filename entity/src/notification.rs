//! A message to a person (an instance owner): e.g. a deprecation affecting their workflow.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Subject (`sub`) of the person.
    pub recipient: String,
    /// `deprecation`.
    pub topic: String,
    /// What it is about, e.g. `instance:4`.
    pub target: String,
    #[sea_orm(column_type = "Text")]
    pub message: String,
    pub created_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
