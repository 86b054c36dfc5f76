//! An approval the policy required for a workflow instance: which requirement (the policy
//! object, e.g. `approval:flow:personal:ads`), the rule that required it, who approved, when it
//! expires, and the inputs it approved (destinations, fields, template version) with their
//! hash. `valid` until it expires or is revoked because the rule or the inputs changed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "approvals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub instance_id: i64,
    /// The policy object the requirement is about (`approval:sensitive:audience-sync`).
    pub requirement: String,
    /// The rule that required it (`policy.csv:NN: p, role:compliance, …`).
    #[sea_orm(column_type = "Text")]
    pub rule: String,
    /// JSON array of the roles that could approve it.
    #[sea_orm(column_type = "Text")]
    pub approver_roles: String,
    pub approved_by: String,
    pub approved_at: String,
    pub expires_at: Option<String>,
    /// JSON: what was approved (template version, destinations, fields).
    #[sea_orm(column_type = "Text")]
    pub inputs: String,
    pub inputs_hash: String,
    pub policy_version: String,
    /// `valid`, `revoked`, `expired` or `released` (no longer required).
    pub status: String,
    pub ended_at: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub end_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
