//! A connection: a configured connector (e.g. "EMEA HubSpot"). Non-secret settings are stored as
//! JSON; the fields the connector marks `x-secret` are sealed together with AES-256-GCM in
//! `secret` and never stored or returned in clear.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connections")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Connector key (`hubspot`).
    pub connector: String,
    pub connector_version: String,
    pub name: String,
    pub owner: String,
    /// The owner's team when the connection was created (`None`: no team).
    pub owner_team: Option<String>,
    /// JSON object of the non-secret settings.
    #[sea_orm(column_type = "Text")]
    pub settings: String,
    /// JSON array of the names of the sealed settings.
    #[sea_orm(column_type = "Text")]
    pub secret_fields: String,
    /// `v1:<base64(nonce ‖ ciphertext)>` of a JSON object of the secret settings.
    #[sea_orm(column_type = "Text")]
    pub secret: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
