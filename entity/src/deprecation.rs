//! A deprecation notice on a catalog version: when it was announced, when it sunsets, what
//! replaces it and how to migrate. After the sunset new instantiations are refused.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deprecations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `connector`, `template` or `contract`.
    pub kind: String,
    pub key: String,
    pub version: String,
    pub announced_at: String,
    /// RFC 3339 date-time.
    pub sunset_at: String,
    /// E.g. `lead-capture 2.0.0`.
    pub replacement: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub notes: String,
    pub created_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
