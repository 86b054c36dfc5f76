//! Connections: configured connectors. Secret settings go in and never come back out.

use super::{actor, state};
use crate::connections;
use async_graphql::{Context, Object, Result, SimpleObject};
use serde_json::Value;

#[derive(SimpleObject)]
pub struct Connection {
    pub id: i64,
    /// Connector key (`hubspot`).
    pub connector: String,
    pub connector_version: String,
    pub name: String,
    pub owner: String,
    /// The owner's team, when they had one.
    pub owner_team: Option<String>,
    /// Settings with every secret field shown as `********`.
    pub settings: Value,
    /// Names of the settings stored encrypted.
    pub secret_fields: Vec<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<entity::connection::Model> for Connection {
    fn from(m: entity::connection::Model) -> Self {
        Self {
            settings: connections::masked(&m),
            secret_fields: serde_json::from_str(&m.secret_fields).unwrap_or_default(),
            id: m.id,
            connector: m.connector,
            connector_version: m.connector_version,
            name: m.name,
            owner: m.owner,
            owner_team: m.owner_team,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Default)]
pub struct ConnectionQuery;

#[Object]
impl ConnectionQuery {
    /// Connections the caller may use (`use` on `connection:<connector>` for its owner),
    /// optionally of one connector.
    async fn connections(
        &self,
        ctx: &Context<'_>,
        connector: Option<String>,
    ) -> Result<Vec<Connection>> {
        let st = state(ctx)?;
        let rows = connections::list(&st.db, &st.policy, actor(ctx)?, connector.as_deref()).await?;
        Ok(rows.into_iter().map(Connection::from).collect())
    }
}

#[derive(Default)]
pub struct ConnectionMutation;

#[Object]
impl ConnectionMutation {
    /// Configures a connector. `settings` are checked against its settings schema; secret
    /// fields are encrypted at rest and never returned. Requires `connect` on the connector.
    async fn create_connection(
        &self,
        ctx: &Context<'_>,
        connector: String,
        name: String,
        settings: Value,
    ) -> Result<Connection> {
        let st = state(ctx)?;
        let row = connections::create(
            &st.db,
            &st.policy,
            &st.secrets,
            &st.net,
            actor(ctx)?,
            &connector,
            &name,
            &settings,
        )
        .await?;
        Ok(row.into())
    }

    /// Replaces secret settings (e.g. a rotated API token) of a connection. Needs `rotate` on
    /// `connection:<connector>` for its owner.
    async fn rotate_connection_secrets(
        &self,
        ctx: &Context<'_>,
        id: i64,
        secrets: Value,
    ) -> Result<Connection> {
        let st = state(ctx)?;
        let row =
            connections::rotate(&st.db, &st.policy, &st.secrets, actor(ctx)?, id, &secrets).await?;
        // This process's workers drop the connector built with the old secrets now; others
        // notice the changed connection within seconds.
        if let Some(engine) = &st.engine {
            engine.connectors.forget(id);
        }
        Ok(row.into())
    }

    /// Deletes a connection. Needs `delete` on `connection:<connector>` for its owner; refused
    /// (`CONFLICT`, naming them) while live workflows are bound to it. Returns it as it was.
    async fn delete_connection(&self, ctx: &Context<'_>, id: i64) -> Result<Connection> {
        let st = state(ctx)?;
        let row = connections::delete(&st.db, &st.policy, actor(ctx)?, id).await?;
        Ok(row.into())
    }
}
