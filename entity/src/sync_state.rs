//! Last successful scheduled sync of an instance: when, and the audience size.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub instance_id: i64,
    pub last_success_at: Option<String>,
    pub audience_size: i64,
    pub last_run_id: Option<i64>,
    pub updated_at: String,
    /// Audience sync: the last delivered segment delivery whose adds and removes were applied
    /// to `audience_members`.
    pub applied_through: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
