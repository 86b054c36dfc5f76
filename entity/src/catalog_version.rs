//! One row per version of a catalog item. A version's definition document never changes once the
//! version leaves `draft`; only its lifecycle moves forward (published → deprecated → retired).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub item_id: i64,
    /// Semantic version as written (`1.2.0`).
    pub version: String,
    /// Numeric parts of `version`, so versions sort correctly in SQL.
    pub major: i64,
    pub minor: i64,
    pub patch: i64,
    pub lifecycle: String,
    pub owner: String,
    /// The kind-specific definition document (settings schema, JSON Schema, steps…).
    pub definition: Json,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::catalog_item::Entity",
        from = "Column::ItemId",
        to = "super::catalog_item::Column::Id"
    )]
    Item,
}

impl Related<super::catalog_item::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Item.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
