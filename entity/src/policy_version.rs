//! A policy version that became active: the content of the policy files (model and rules) with
//! its content hash, when and by whom it was activated. The newest row is the version in force;
//! every API and worker process converges on it (`api::governance`, `worker::policy`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policy_versions")]
pub struct Model {
    /// Activation order: the highest id is the version in force.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The first 16 hex digits of `hash`: how decisions and audit entries name the version.
    pub version: String,
    /// SHA-256 (hex) of the model and the rules, as `api::policy` fingerprints them.
    pub hash: String,
    #[sea_orm(column_type = "Text")]
    pub model: String,
    #[sea_orm(column_type = "Text")]
    pub policy: String,
    pub activated_at: String,
    /// `system:policy` for a reload, or the process that activated it at start.
    pub activated_by: String,
    /// Where the files came from (the policy directory of the activating process).
    pub source: String,
    /// The version it replaced.
    pub previous: Option<String>,
    /// JSON: the rule diff and the instances the activation paused or narrowed.
    #[sea_orm(column_type = "Text", nullable)]
    pub summary: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
