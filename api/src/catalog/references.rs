//! Cross-item rules: a template may only read (and `emit`) contracts and fields that exist, and a
//! connector may only name canonical objects that are contracts. `batch` holds documents being
//! applied together (the built-in catalog), which count as existing.

use super::definitions::{CatalogDoc, ConnectorDef, Kind, Trigger, template, typed};
use crate::error::{ApiError, ApiResult};
use sea_orm::ConnectionTrait;
use serde_json::Value;

/// The schema of the current version of contract `name`, from `batch` or the database.
async fn contract_schema(
    db: &impl ConnectionTrait,
    name: &str,
    batch: &[CatalogDoc],
) -> ApiResult<Option<Value>> {
    if let Some(doc) = batch
        .iter()
        .rev()
        .find(|d| d.kind == Kind::Contract && d.key == name)
    {
        return Ok(doc.definition.get("schema").cloned());
    }
    let Some(item) = super::find(db, Kind::Contract, name).await? else {
        return Ok(None);
    };
    let versions = super::versions(db, item.id).await?;
    let current = versions
        .iter()
        .find(|v| v.version == item.latest_version)
        .or(versions.first());
    Ok(current.and_then(|v| v.definition.get("schema").cloned()))
}

/// Checks the references of `doc` against the catalog.
pub async fn check(
    db: &impl ConnectionTrait,
    doc: &CatalogDoc,
    batch: &[CatalogDoc],
) -> ApiResult<()> {
    match doc.kind {
        Kind::Contract => Ok(()),
        Kind::Connector => {
            let def: ConnectorDef = typed(&doc.definition)?;
            for (i, object) in def.objects.iter().enumerate() {
                if contract_schema(db, object, batch).await?.is_none() {
                    return Err(ApiError::bad_input(
                        format!("definition.objects[{i}]"),
                        format!("`{object}` is not a contract in the catalog"),
                    ));
                }
            }
            Ok(())
        }
        Kind::Template => {
            let def = template(&doc.definition)?;
            if let Trigger::Event { contract, .. } = &def.trigger
                && contract_schema(db, contract, batch).await?.is_none()
            {
                return Err(ApiError::bad_input(
                    "definition.trigger.contract",
                    format!("`{contract}` is not a contract in the catalog"),
                ));
            }
            for (i, step) in def.steps.iter().enumerate() {
                let entity::documents::template::StepKind::Emit(cfg) = &step.kind else {
                    continue;
                };
                let at = format!("definition.steps[{i}].config");
                let Some(schema) = contract_schema(db, &cfg.contract, batch).await? else {
                    return Err(ApiError::bad_input(
                        format!("{at}.contract"),
                        format!("`{}` is not a contract in the catalog", cfg.contract),
                    ));
                };
                let props = schema.get("properties").and_then(Value::as_object);
                for field in cfg.fields.keys().chain(cfg.computed.keys()) {
                    if !props.is_some_and(|p| p.contains_key(field)) {
                        return Err(ApiError::bad_input(
                            format!("{at}.fields.{field}"),
                            format!("`{field}` is not a field of contract `{}`", cfg.contract),
                        ));
                    }
                }
            }
            for (i, read) in def.reads.iter().enumerate() {
                let Some(schema) = contract_schema(db, &read.contract, batch).await? else {
                    return Err(ApiError::bad_input(
                        format!("definition.reads[{i}].contract"),
                        format!("`{}` is not a contract in the catalog", read.contract),
                    ));
                };
                let props = schema.get("properties").and_then(Value::as_object);
                for (j, field) in read.fields.iter().enumerate() {
                    if !props.is_some_and(|p| p.contains_key(field)) {
                        return Err(ApiError::bad_input(
                            format!("definition.reads[{i}].fields[{j}]"),
                            format!("`{field}` is not a field of contract `{}`", read.contract),
                        ));
                    }
                }
            }
            Ok(())
        }
    }
}
