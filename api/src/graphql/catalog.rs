//! Catalog queries and mutations: connectors, templates and contracts with their versions
//! (types in `catalog_types`).

use super::catalog_types::{
    CatalogVersion, Connector, ConnectorVersion, Contract, ContractVersion, Template,
    TemplateVersion, VersionFields,
};
use super::{actor, decode_cursor, encode_cursor, page_size, state};
use crate::catalog::{
    self, ListFilter,
    definitions::{CatalogDoc, Kind, Lifecycle},
};
use crate::error::ApiError;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputObject, Object, Result};
use entity::{catalog_item, catalog_version};
use serde_json::Value;

/// Lists items of `kind` the caller may read.
async fn list<T: From<catalog_item::Model> + async_graphql::OutputType>(
    ctx: &Context<'_>,
    kind: Kind,
    filter: ListFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, T>> {
    let st = state(ctx)?;
    let subject = actor(ctx)?.subject();
    let limit = page_size(first)?;
    let after_key = after.as_deref().map(decode_cursor).transpose()?;
    let (rows, has_next) = st
        .catalog
        .list(&st.db, kind, &filter, after_key.as_deref(), limit)
        .await?;
    let mut conn = Connection::new(after_key.is_some(), has_next);
    for row in rows {
        if st
            .policy
            .decide(&subject, &catalog::object(kind, &row.key), "read")
            .allowed
        {
            conn.edges
                .push(Edge::new(encode_cursor(&row.key), T::from(row)));
        }
    }
    Ok(conn)
}

/// One item the caller may read; FORBIDDEN otherwise.
async fn one<T: From<catalog_item::Model>>(
    ctx: &Context<'_>,
    kind: Kind,
    key: &str,
) -> Result<Option<T>> {
    let st = state(ctx)?;
    st.policy
        .authorize(&actor(ctx)?.subject(), &catalog::object(kind, key), "read")?;
    Ok(catalog::find(&st.db, kind, key).await?.map(T::from))
}

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// Connectors: kinds of external systems.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn connectors(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
        category: Option<String>,
        lifecycle: Option<Lifecycle>,
        owner: Option<String>,
    ) -> Result<Connection<String, Connector>> {
        list(
            ctx,
            Kind::Connector,
            ListFilter {
                search,
                category,
                lifecycle,
                owner,
            },
            first,
            after,
        )
        .await
    }

    /// Workflow templates business users instantiate.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn templates(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
        category: Option<String>,
        lifecycle: Option<Lifecycle>,
        owner: Option<String>,
    ) -> Result<Connection<String, Template>> {
        list(
            ctx,
            Kind::Template,
            ListFilter {
                search,
                category,
                lifecycle,
                owner,
            },
            first,
            after,
        )
        .await
    }

    /// Data contracts.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn contracts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
        category: Option<String>,
        lifecycle: Option<Lifecycle>,
        owner: Option<String>,
    ) -> Result<Connection<String, Contract>> {
        list(
            ctx,
            Kind::Contract,
            ListFilter {
                search,
                category,
                lifecycle,
                owner,
            },
            first,
            after,
        )
        .await
    }

    async fn connector(&self, ctx: &Context<'_>, key: String) -> Result<Option<Connector>> {
        one(ctx, Kind::Connector, &key).await
    }

    async fn template(&self, ctx: &Context<'_>, key: String) -> Result<Option<Template>> {
        one(ctx, Kind::Template, &key).await
    }

    /// A contract by its name (`event.form_submitted`).
    async fn contract(&self, ctx: &Context<'_>, name: String) -> Result<Option<Contract>> {
        one(ctx, Kind::Contract, &name).await
    }
}

/// A new version of a catalog item.
#[derive(InputObject)]
pub struct PublishInput {
    pub key: String,
    pub name: String,
    pub summary: String,
    pub description: String,
    pub category: String,
    pub owner: String,
    /// MAJOR.MINOR.PATCH, higher than every existing version.
    pub version: String,
    #[graphql(default_with = "Lifecycle::Published")]
    pub lifecycle: Lifecycle,
    /// The kind-specific definition document.
    pub definition: Value,
}

impl PublishInput {
    pub(crate) fn into_doc(self, kind: Kind) -> CatalogDoc {
        CatalogDoc {
            kind,
            key: self.key,
            name: self.name,
            summary: self.summary,
            description: self.description,
            category: self.category,
            owner: self.owner,
            version: self.version,
            lifecycle: self.lifecycle,
            definition: self.definition,
        }
    }
}

async fn publish(
    ctx: &Context<'_>,
    kind: Kind,
    input: PublishInput,
) -> Result<catalog_version::Model> {
    let st = state(ctx)?;
    let a = actor(ctx)?;
    catalog::publish(&st.db, &st.policy, a, input.into_doc(kind))
        .await
        .map_err(|e: ApiError| e.within("input").into())
}

#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Publishes a connector version. Requires `publish` on `catalog:connector:<key>`.
    async fn publish_connector_version(
        &self,
        ctx: &Context<'_>,
        input: PublishInput,
    ) -> Result<ConnectorVersion> {
        Ok(publish(ctx, Kind::Connector, input).await?.into())
    }

    /// Publishes a template version. Requires `publish` on `catalog:template:<key>`.
    async fn publish_template_version(
        &self,
        ctx: &Context<'_>,
        input: PublishInput,
    ) -> Result<TemplateVersion> {
        Ok(publish(ctx, Kind::Template, input).await?.into())
    }

    /// Publishes a contract version; its schema must be valid JSON Schema. Requires `publish` on
    /// `catalog:contract:<name>`.
    async fn publish_contract_version(
        &self,
        ctx: &Context<'_>,
        input: PublishInput,
    ) -> Result<ContractVersion> {
        Ok(publish(ctx, Kind::Contract, input).await?.into())
    }

    /// Moves a version forward: draft → published → deprecated → retired. Requires `lifecycle`
    /// on the item.
    async fn set_lifecycle(
        &self,
        ctx: &Context<'_>,
        kind: Kind,
        key: String,
        version: String,
        lifecycle: Lifecycle,
    ) -> Result<CatalogVersion> {
        let st = state(ctx)?;
        let a = actor(ctx)?;
        let v =
            catalog::set_lifecycle(&st.db, &st.policy, a, kind, &key, &version, lifecycle).await?;
        Ok(CatalogVersion(VersionFields(v)))
    }
}
