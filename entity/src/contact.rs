//! The canonical contact store, upserted by Segment-style `identify` calls (keyed by userId, or
//! anonymousId when there is none).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub external_id: String,
    pub email: Option<String>,
    /// JSON object of the merged traits.
    #[sea_orm(column_type = "Text")]
    pub traits: String,
    pub updated_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
