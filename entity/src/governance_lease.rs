//! A lease on one piece of scheduled governance work (`retention.purge`), so that of several
//! API processes only one does it per interval: taken by compare-and-set on `until_ms`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "governance_leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub holder: String,
    /// The lease runs until this time (epoch ms); the work is due again after it.
    pub until_ms: i64,
    pub last_run_at: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
