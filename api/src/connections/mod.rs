//! Connections: a connector configured for use ("EMEA HubSpot"). Settings are validated against
//! the connector's settings schema; the fields it marks `x-secret` are sealed at rest, never
//! returned (masked as `********`), never written to the audit log, and rotatable.
//!
//! A connection is owned by the person who created it and their team. Creating one needs
//! `connect` on the connector; using, rotating and deleting one are decided on
//! `connection:<connector>` with the caller's relation to that owner (see `access`).

use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::catalog::{
    self,
    definitions::{ConnectorDef, Kind, typed},
};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use entity::connection;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use worker::secrets::SecretBox;

/// File in the data dir holding the generated development secret key.
pub const DEV_KEY_FILE: &str = "secret.key";

/// The box sealing connection secrets: the key from `SWITCHYARD_SECRET_KEY` (64 hex
/// characters), or, for development, one generated once into `<data-dir>/secret.key` (0600).
pub fn load_secret_box(data_dir: &std::path::Path) -> anyhow::Result<SecretBox> {
    let hex_key = match std::env::var("SWITCHYARD_SECRET_KEY") {
        Ok(k) => k,
        Err(_) => {
            let path = data_dir.join(DEV_KEY_FILE);
            if !path.exists() {
                let key: [u8; 32] = rand::random();
                crate::fsutil::write_private(&path, hex::encode(key).as_bytes())?;
            }
            std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?
        }
    };
    SecretBox::from_hex(&hex_key).map_err(|e| anyhow::anyhow!("SWITCHYARD_SECRET_KEY: {e}"))
}
use serde_json::{Map, Value};

pub const MASK: &str = "********";

/// The connector's current settings schema and the names of its secret fields.
async fn connector_schema(
    db: &DatabaseConnection,
    key: &str,
) -> ApiResult<(String, Value, Vec<String>)> {
    let item = catalog::find(db, Kind::Connector, key)
        .await?
        .ok_or_else(|| ApiError::bad_input("connector", format!("no connector named `{key}`")))?;
    let version = catalog::versions(db, item.id)
        .await?
        .into_iter()
        .find(|v| v.version == item.latest_version)
        .ok_or_else(|| ApiError::internal(format!("connector {key} has no current version")))?;
    let def: ConnectorDef = typed(&version.definition)?;
    let secrets = def
        .settings_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, s)| s.get("x-secret").and_then(Value::as_bool) == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    Ok((version.version, def.settings_schema, secrets))
}

/// Validates `settings` against `schema`; the first error names `settings.<path>` and the rule.
fn validate(schema: &Value, settings: &Value) -> ApiResult<()> {
    let validator = crate::contracts::schema::compile(schema)
        .map_err(|e| ApiError::internal(format!("connector settings schema: {e}")))?;
    if let Some(e) = validator.iter_errors(settings).next() {
        let path = e.instance_path().to_string().replace('/', ".");
        // Never echo a value: it may be a secret.
        return Err(ApiError::bad_input(
            format!("settings{path}"),
            format!(
                "breaks the `{}` rule of the connector's settings schema",
                e.kind().keyword()
            ),
        ));
    }
    Ok(())
}

/// Splits settings into (public, secret) objects.
fn split(settings: &Value, secret_fields: &[String]) -> (Map<String, Value>, Map<String, Value>) {
    let mut public = Map::new();
    let mut secret = Map::new();
    if let Some(obj) = settings.as_object() {
        for (k, v) in obj {
            if secret_fields.contains(k) {
                secret.insert(k.clone(), v.clone());
            } else {
                public.insert(k.clone(), v.clone());
            }
        }
    }
    (public, secret)
}

/// Settings as shown to people: public values, secrets masked.
pub fn masked(row: &connection::Model) -> Value {
    let mut shown: Map<String, Value> = serde_json::from_str(&row.settings).unwrap_or_default();
    let secrets: Vec<String> = serde_json::from_str(&row.secret_fields).unwrap_or_default();
    for s in secrets {
        shown.insert(s, Value::String(MASK.into()));
    }
    Value::Object(shown)
}

fn object(connector: &str, name: &str) -> (String, String) {
    (
        catalog::object(Kind::Connector, connector),
        format!("connection:{connector}:{name}"),
    )
}

/// Creates a connection. Requires `connect` on the connector.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    db: &DatabaseConnection,
    policy: &Policy,
    secrets: &SecretBox,
    net: &worker::net::NetPolicy,
    actor: &Actor,
    connector: &str,
    name: &str,
    settings: &Value,
) -> ApiResult<connection::Model> {
    let (obj, target) = object(connector, name);
    catalog::authorize(
        db,
        policy,
        actor,
        (&obj, "connect"),
        "connection.create",
        &target,
    )
    .await?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::bad_input("name", "must be 1 to 200 characters"));
    }
    let (version, schema, secret_fields) = connector_schema(db, connector).await?;
    validate(&schema, settings)?;
    // Reachability and shape at the destination: the table exists, the address is allowed.
    // Connectors without a built-in implementation (published by a platform team for later)
    // are not checked here; their deliveries fail until one exists.
    if let Err(e) = worker::connectors::check(connector, settings, net).await
        && e.field != "connector"
    {
        return Err(ApiError::bad_input(
            format!("settings.{}", e.field),
            e.message,
        ));
    }
    let (public, secret) = split(settings, &secret_fields);
    let sealed = secrets
        .seal(Value::Object(secret).to_string().as_bytes())
        .map_err(ApiError::internal)?;
    let now = audit::now_string();
    let tx = crate::db::begin_write(db).await?;
    let exists = connection::Entity::find()
        .filter(connection::Column::Connector.eq(connector))
        .filter(connection::Column::Name.eq(name))
        .one(&tx)
        .await?;
    if exists.is_some() {
        return Err(ApiError::Conflict(format!(
            "name: a {connector} connection named `{name}` exists"
        )));
    }
    let row = connection::ActiveModel {
        connector: Set(connector.to_string()),
        connector_version: Set(version),
        name: Set(name.to_string()),
        owner: Set(actor.sub.clone()),
        owner_team: Set(actor.team.clone()),
        settings: Set(Value::Object(public).to_string()),
        secret_fields: Set(serde_json::to_string(&secret_fields).map_err(ApiError::internal)?),
        secret: Set(sealed),
        created_by: Set(actor.sub.clone()),
        created_at: Set(now.clone()),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let change = Change {
        action: "connection.create".into(),
        target,
        before: None,
        after: Some(masked(&row)),
    };
    audit::record(&tx, actor, change).await?;
    tx.commit().await?;
    Ok(row)
}

/// Replaces the secret settings of connection `id` (all secret fields must be given).
pub async fn rotate(
    db: &DatabaseConnection,
    policy: &Policy,
    secrets: &SecretBox,
    actor: &Actor,
    id: i64,
    new_secrets: &Value,
) -> ApiResult<connection::Model> {
    let row = find(db, id).await?;
    let (_, target) = object(&row.connector, &row.name);
    let owner = access::connection_owner(&row);
    let obj = access::connection_object(&row.connector);
    access::authorize(
        db,
        policy,
        actor,
        Ask::owned(&obj, "rotate", &owner),
        ("connection.rotate", &target),
    )
    .await?;
    let (_, schema, secret_fields) = connector_schema(db, &row.connector).await?;
    let mut merged: Map<String, Value> = serde_json::from_str(&row.settings).unwrap_or_default();
    if let Some(given) = new_secrets.as_object() {
        for (k, v) in given {
            if !secret_fields.contains(k) {
                return Err(ApiError::bad_input(
                    format!("secrets.{k}"),
                    "is not a secret setting of this connector",
                ));
            }
            merged.insert(k.clone(), v.clone());
        }
    }
    validate(&schema, &Value::Object(merged.clone()))?;
    let (_, secret) = split(&Value::Object(merged), &secret_fields);
    let sealed = secrets
        .seal(Value::Object(secret).to_string().as_bytes())
        .map_err(ApiError::internal)?;
    let tx = crate::db::begin_write(db).await?;
    let mut active: connection::ActiveModel = row.into();
    active.secret = Set(sealed);
    active.updated_at = Set(audit::now_string());
    let updated = active.update(&tx).await?;
    let change = Change {
        action: "connection.rotate".into(),
        target,
        before: None,
        after: Some(serde_json::json!({ "rotated": secret_fields })),
    };
    audit::record(&tx, actor, change).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Connections of `connector` (all when `None`) the caller may use, newest first.
pub async fn list(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    connector: Option<&str>,
) -> ApiResult<Vec<connection::Model>> {
    let mut q = connection::Entity::find();
    if let Some(c) = connector {
        q = q.filter(connection::Column::Connector.eq(c));
    }
    let rows = q.order_by_desc(connection::Column::Id).all(db).await?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            let owner = access::connection_owner(r);
            let obj = access::connection_object(&r.connector);
            access::allows(policy, actor, Ask::owned(&obj, "use", &owner))
        })
        .collect())
}

/// Connection `id`, or `NOT_FOUND` naming it.
pub async fn find(db: &DatabaseConnection, id: i64) -> ApiResult<connection::Model> {
    connection::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("id: no connection {id}")))
}

/// Deletes connection `id`: needs `delete` on it; refused with `CONFLICT` naming the workflows
/// while live (not retired) instances are bound to it. Audited with what was removed.
pub async fn delete(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    id: i64,
) -> ApiResult<connection::Model> {
    let row = find(db, id).await?;
    let (_, target) = object(&row.connector, &row.name);
    let owner = access::connection_owner(&row);
    let obj = access::connection_object(&row.connector);
    access::authorize(
        db,
        policy,
        actor,
        Ask::owned(&obj, "delete", &owner),
        ("connection.delete", &target),
    )
    .await?;
    let tx = crate::db::begin_write(db).await?;
    // Checked inside the write transaction, so no binding slips in between.
    let users = bound_instances(&tx, id).await?;
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "id: connection {id} is bound to live workflows: {}; retire them or bind another connection first",
            users.join(", ")
        )));
    }
    connection::Entity::delete_by_id(id).exec(&tx).await?;
    let change = Change {
        action: "connection.delete".into(),
        target,
        before: Some(masked(&row)),
        after: None,
    };
    audit::record(&tx, actor, change).await?;
    tx.commit().await?;
    Ok(row)
}

/// Live instances bound to connection `id`, as `name (template, #id)`.
async fn bound_instances<C: sea_orm::ConnectionTrait>(db: &C, id: i64) -> ApiResult<Vec<String>> {
    let live = entity::instance::Entity::find()
        .filter(entity::instance::Column::Status.ne("retired"))
        .order_by_asc(entity::instance::Column::Id)
        .all(db)
        .await?;
    Ok(live
        .into_iter()
        .filter(|i| {
            serde_json::from_str::<std::collections::BTreeMap<String, i64>>(&i.bindings)
                .is_ok_and(|b| b.values().any(|c| *c == id))
        })
        .map(|i| format!("`{}` ({}, #{})", i.name, i.template, i.id))
        .collect())
}
