//! One row per catalog item: a connector, a data contract or a workflow template.
//!
//! Connectors, contracts and templates share one versioned shape (key, owner, lifecycle, versions
//! holding a definition document), so they share these two tables; `kind` says which one a row is.
//! `lifecycle` and `latest_version` mirror the newest non-draft version so the catalog can be
//! filtered without a join.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `connector`, `contract` or `template`.
    pub kind: String,
    /// Stable identifier, unique per kind (`webhook`, `event.form_submitted`, `lead-capture`).
    pub key: String,
    pub name: String,
    pub summary: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub category: String,
    /// Owner team of the item (the newest version's owner).
    pub owner: String,
    /// Lifecycle of the current version: `draft`, `published`, `deprecated` or `retired`.
    pub lifecycle: String,
    /// The current version: the highest non-draft version, or the highest draft if none is published.
    pub latest_version: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::catalog_version::Entity")]
    Versions,
}

impl Related<super::catalog_version::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Versions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
