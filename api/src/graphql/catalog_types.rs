//! GraphQL types of the catalog: the fields every item and version share (`ItemFields`,
//! `VersionFields`, written once) and each kind's typed view of its definition document.

use super::state;
use crate::catalog::definitions::Lifecycle;
use async_graphql::{Context, MergedObject, Object, Result, SimpleObject};
use entity::{catalog_item, catalog_version};
use serde_json::Value;

/// Fields every catalog item has.
pub struct ItemFields(pub(super) catalog_item::Model);

#[Object]
impl ItemFields {
    /// Stable identifier (`lead-capture`, `event.form_submitted`).
    async fn key(&self) -> &str {
        &self.0.key
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// One sentence a business user understands.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// What it does, what data it moves from where to where.
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn category(&self) -> &str {
        &self.0.category
    }
    /// Owner team.
    async fn owner(&self) -> &str {
        &self.0.owner
    }
    /// Lifecycle of the current version.
    async fn lifecycle(&self) -> Lifecycle {
        Lifecycle::parse(&self.0.lifecycle).unwrap_or(Lifecycle::Draft)
    }
    /// The current version: the newest that is not a draft.
    async fn latest_version(&self) -> &str {
        &self.0.latest_version
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
}

/// Fields every version has.
pub struct VersionFields(pub(super) catalog_version::Model);

#[Object]
impl VersionFields {
    async fn version(&self) -> &str {
        &self.0.version
    }
    async fn lifecycle(&self) -> Lifecycle {
        Lifecycle::parse(&self.0.lifecycle).unwrap_or(Lifecycle::Draft)
    }
    async fn owner(&self) -> &str {
        &self.0.owner
    }
    /// The whole definition document.
    async fn definition(&self) -> &Value {
        &self.0.definition
    }
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
}

fn def_field<'a>(v: &'a catalog_version::Model, name: &str) -> Option<&'a Value> {
    v.definition.get(name)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Connector-specific view of a version.
pub struct ConnectorDetails(catalog_version::Model);

#[Object]
impl ConnectorDetails {
    /// `source`, `destination` or `both`.
    async fn direction(&self) -> Option<&str> {
        def_field(&self.0, "direction").and_then(Value::as_str)
    }
    /// JSON Schema of a connection's settings; fields marked `x-secret` are never returned.
    async fn settings_schema(&self) -> Option<&Value> {
        def_field(&self.0, "settings_schema")
    }
    /// Canonical objects (contracts) it can carry.
    async fn objects(&self) -> Vec<String> {
        strings(def_field(&self.0, "objects"))
    }
    async fn actions(&self) -> Vec<String> {
        strings(def_field(&self.0, "actions"))
    }
    /// PII classes it may receive.
    async fn data_classes(&self) -> Vec<String> {
        strings(def_field(&self.0, "data_classes"))
    }
}

/// One field of a contract, for people.
#[derive(SimpleObject)]
pub struct ContractField {
    name: String,
    r#type: String,
    required: bool,
    /// `none`, `personal` or `sensitive`.
    pii: String,
    description: String,
}

/// Contract-specific view of a version.
pub struct ContractDetails(catalog_version::Model);

#[Object]
impl ContractDetails {
    /// Compatibility mode (Confluent Schema Registry semantics).
    async fn compatibility(&self) -> Option<&str> {
        def_field(&self.0, "compatibility").and_then(Value::as_str)
    }
    async fn freshness_sla_minutes(&self) -> Option<i64> {
        def_field(&self.0, "freshness_sla_minutes").and_then(Value::as_i64)
    }
    /// `block` rejects violating events, `flag` accepts and records them.
    async fn enforcement(&self) -> Option<&str> {
        def_field(&self.0, "enforcement").and_then(Value::as_str)
    }
    async fn key_fields(&self) -> Vec<String> {
        strings(def_field(&self.0, "key_fields"))
    }
    /// The JSON Schema.
    async fn schema(&self) -> Option<&Value> {
        def_field(&self.0, "schema")
    }
    /// Top-level fields with type, PII class and description.
    async fn fields(&self) -> Vec<ContractField> {
        let schema = def_field(&self.0, "schema");
        let required = strings(schema.and_then(|s| s.get("required")));
        let Some(props) = schema
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        else {
            return Vec::new();
        };
        props
            .iter()
            .map(|(name, p)| ContractField {
                name: name.clone(),
                r#type: match p.get("type") {
                    Some(Value::String(t)) => t.clone(),
                    Some(other) => other.to_string(),
                    None => "any".into(),
                },
                required: required.contains(name),
                pii: p
                    .get("x-pii")
                    .and_then(Value::as_str)
                    .unwrap_or("none")
                    .into(),
                description: p
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
            })
            .collect()
    }
}

/// Template-specific view of a version.
pub struct TemplateDetails(catalog_version::Model);

#[Object]
impl TemplateDetails {
    /// Instances need a second person's approval before they run.
    async fn sensitive(&self) -> bool {
        def_field(&self.0, "sensitive")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    /// JSON Schema of the parameters (the instantiate form).
    async fn parameters(&self) -> Option<&Value> {
        def_field(&self.0, "parameters")
    }
    /// What starts a run: an event contract, a schedule, or a person.
    async fn trigger(&self) -> Option<&Value> {
        def_field(&self.0, "trigger")
    }
    /// Connector slots an instance binds connections to.
    async fn slots(&self) -> Option<&Value> {
        def_field(&self.0, "slots")
    }
    /// Contracts read, and which fields.
    async fn reads(&self) -> Option<&Value> {
        def_field(&self.0, "reads")
    }
    /// The ordered steps.
    async fn steps(&self) -> Option<&Value> {
        def_field(&self.0, "steps")
    }
}

#[derive(MergedObject)]
pub struct ConnectorVersion(VersionFields, ConnectorDetails);
#[derive(MergedObject)]
pub struct ContractVersion(VersionFields, ContractDetails);
#[derive(MergedObject)]
pub struct TemplateVersion(VersionFields, TemplateDetails);

/// A version of any kind, as returned by `setLifecycle`.
#[derive(MergedObject)]
pub struct CatalogVersion(pub(super) VersionFields);

impl From<catalog_version::Model> for ConnectorVersion {
    fn from(v: catalog_version::Model) -> Self {
        Self(VersionFields(v.clone()), ConnectorDetails(v))
    }
}
impl From<catalog_version::Model> for ContractVersion {
    fn from(v: catalog_version::Model) -> Self {
        Self(VersionFields(v.clone()), ContractDetails(v))
    }
}
impl From<catalog_version::Model> for TemplateVersion {
    fn from(v: catalog_version::Model) -> Self {
        Self(VersionFields(v.clone()), TemplateDetails(v))
    }
}

/// Versions of an item, resolved on demand.
pub struct Versions<V> {
    item_id: i64,
    _kind: std::marker::PhantomData<V>,
}

#[Object(name = "ConnectorVersions")]
impl Versions<ConnectorVersion> {
    /// All versions, newest first.
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<ConnectorVersion>> {
        load_versions(ctx, self.item_id).await
    }
    /// One version by its semver string.
    async fn version(
        &self,
        ctx: &Context<'_>,
        version: String,
    ) -> Result<Option<ConnectorVersion>> {
        load_version(ctx, self.item_id, &version).await
    }
}

#[Object(name = "ContractVersions")]
impl Versions<ContractVersion> {
    /// All versions, newest first.
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<ContractVersion>> {
        load_versions(ctx, self.item_id).await
    }
    /// One version by its semver string.
    async fn version(&self, ctx: &Context<'_>, version: String) -> Result<Option<ContractVersion>> {
        load_version(ctx, self.item_id, &version).await
    }
}

#[Object(name = "TemplateVersions")]
impl Versions<TemplateVersion> {
    /// All versions, newest first.
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<TemplateVersion>> {
        load_versions(ctx, self.item_id).await
    }
    /// One version by its semver string.
    async fn version(&self, ctx: &Context<'_>, version: String) -> Result<Option<TemplateVersion>> {
        load_version(ctx, self.item_id, &version).await
    }
}

async fn load_versions<V: From<catalog_version::Model>>(
    ctx: &Context<'_>,
    item_id: i64,
) -> Result<Vec<V>> {
    let st = state(ctx)?;
    Ok(st
        .catalog
        .versions(&st.db, item_id)
        .await?
        .into_iter()
        .map(V::from)
        .collect())
}

async fn load_version<V: From<catalog_version::Model>>(
    ctx: &Context<'_>,
    item_id: i64,
    version: &str,
) -> Result<Option<V>> {
    let st = state(ctx)?;
    Ok(st
        .catalog
        .versions(&st.db, item_id)
        .await?
        .into_iter()
        .find(|v| v.version == version)
        .map(V::from))
}

#[derive(MergedObject)]
pub struct Connector(ItemFields, Versions<ConnectorVersion>);
#[derive(MergedObject)]
pub struct Contract(ItemFields, Versions<ContractVersion>);
#[derive(MergedObject)]
pub struct Template(ItemFields, Versions<TemplateVersion>);

fn versions_of<V>(item_id: i64) -> Versions<V> {
    Versions {
        item_id,
        _kind: std::marker::PhantomData,
    }
}

impl From<catalog_item::Model> for Connector {
    fn from(m: catalog_item::Model) -> Self {
        let id = m.id;
        Self(ItemFields(m), versions_of(id))
    }
}
impl From<catalog_item::Model> for Contract {
    fn from(m: catalog_item::Model) -> Self {
        let id = m.id;
        Self(ItemFields(m), versions_of(id))
    }
}
impl From<catalog_item::Model> for Template {
    fn from(m: catalog_item::Model) -> Self {
        let id = m.id;
        Self(ItemFields(m), versions_of(id))
    }
}
