//! How long one data class is kept (`events`, `runs`, `contacts`, `dead_letters`), in days, as
//! set through the API; classes without a row use the configured default.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "retention_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub data_class: String,
    pub days: i32,
    pub updated_by: String,
    pub updated_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
