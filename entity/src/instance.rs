//! A workflow instance. `flows` is the stored policy decision — per slot, the destination
//! category and the fields allowed to reach it — so workers enforce it without a policy engine.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "instances")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub template: String,
    pub template_version: String,
    pub name: String,
    pub owner: String,
    /// The owner's team when the instance was created (`None`: no team).
    pub owner_team: Option<String>,
    /// JSON object of the validated parameters.
    #[sea_orm(column_type = "Text")]
    pub params: String,
    /// JSON object: slot → connection id.
    #[sea_orm(column_type = "Text")]
    pub bindings: String,
    /// JSON object: slot → {category, fields: [allowed field names]}.
    #[sea_orm(column_type = "Text")]
    pub flows: String,
    /// `pending_approval`, `active`, `paused` or `retired`.
    pub status: String,
    pub approved_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Contract whose events start a run (event-triggered templates only).
    pub trigger_contract: Option<String>,
    /// Semver range of that contract's versions, e.g. `^1`.
    pub trigger_versions: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
