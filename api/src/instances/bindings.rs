//! What a template's slots are bound to, and what the data it reads is: the destinations behind
//! an instance's connections (category, accepted data classes) and the PII class of every field
//! of the contracts it reads. Used when deciding flows at instantiation and again at replay.
//!
//! At instantiation the person binding the connections must be allowed to `use` each one
//! (decided with their relation to its owner); re-deciding an existing instance's flows does not
//! ask again, since the binding was authorized when it was made.

use super::flows;
use crate::access::{self, Ask};
use crate::audit::Actor;
use crate::catalog::{
    self,
    definitions::{ConnectorDef, ContractDef, Kind, TemplateDef, typed},
};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use entity::connection;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Who binds the connections: checked for `use` on each; a denial is audited as
/// `instance.create` on `audit_target`.
#[derive(Clone, Copy)]
pub struct Binder<'a> {
    pub actor: &'a Actor,
    pub audit_target: &'a str,
}

/// PII class of every field of the contracts the template reads.
pub(crate) async fn pii_classes(
    db: &DatabaseConnection,
    def: &TemplateDef,
) -> ApiResult<HashMap<String, String>> {
    let mut out = HashMap::new();
    for read in &def.reads {
        let Some(item) = catalog::find(db, Kind::Contract, &read.contract).await? else {
            continue;
        };
        let versions = catalog::versions(db, item.id).await?;
        let Some(current) = versions.iter().find(|v| v.version == item.latest_version) else {
            continue;
        };
        let contract: ContractDef = typed(&current.definition)?;
        if let Some(props) = contract.schema.get("properties").and_then(Value::as_object) {
            for (name, p) in props {
                let class = p.get("x-pii").and_then(Value::as_str).unwrap_or("none");
                out.insert(name.clone(), class.to_string());
            }
        }
    }
    Ok(out)
}

/// Resolves and checks every slot binding; with a `binder`, each connection must be one they
/// may `use`.
pub(crate) async fn destinations(
    db: &DatabaseConnection,
    policy: &Policy,
    binder: Option<Binder<'_>>,
    def: &TemplateDef,
    bindings: &BTreeMap<String, i64>,
) -> ApiResult<HashMap<String, flows::Destination>> {
    for slot in bindings.keys() {
        if !def.slots.contains_key(slot) {
            return Err(ApiError::bad_input(
                format!("connections.{slot}"),
                "is not a slot of this template",
            ));
        }
    }
    let mut out = HashMap::new();
    for (slot, spec) in &def.slots {
        let field = format!("connections.{slot}");
        let id = bindings.get(slot).ok_or_else(|| {
            ApiError::bad_input(
                &field,
                format!("bind a connection of category `{}`", spec.category),
            )
        })?;
        let conn = connection::Entity::find_by_id(*id)
            .one(db)
            .await?
            .ok_or_else(|| ApiError::bad_input(&field, format!("no connection {id}")))?;
        if let Some(b) = binder {
            let owner = access::connection_owner(&conn);
            let obj = access::connection_object(&conn.connector);
            access::authorize(
                db,
                policy,
                b.actor,
                Ask::owned(&obj, "use", &owner),
                ("instance.create", b.audit_target),
            )
            .await
            .map_err(|e| ApiError::Forbidden(format!("{field}: {e}")))?;
        }
        out.insert(
            slot.clone(),
            destination(db, &field, &conn, &spec.category).await?,
        );
    }
    Ok(out)
}

/// The destination behind `conn`, which must be of `category`.
async fn destination(
    db: &DatabaseConnection,
    field: &str,
    conn: &connection::Model,
    category: &str,
) -> ApiResult<flows::Destination> {
    let item = catalog::find(db, Kind::Connector, &conn.connector)
        .await?
        .ok_or_else(|| ApiError::internal(format!("connector {} vanished", conn.connector)))?;
    if item.category != category {
        return Err(ApiError::bad_input(
            field,
            format!(
                "connection `{}` is a {} connector; this slot needs category `{category}`",
                conn.name, item.category
            ),
        ));
    }
    let version = catalog::versions(db, item.id)
        .await?
        .into_iter()
        .find(|v| v.version == conn.connector_version);
    let data_classes = version
        .and_then(|v| typed::<ConnectorDef>(&v.definition).ok())
        .map(|d| {
            d.data_classes
                .iter()
                .map(|c| format!("{c:?}").to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    Ok(flows::Destination {
        category: item.category,
        data_classes,
        connection: conn.id,
        connector: conn.connector.clone(),
    })
}
