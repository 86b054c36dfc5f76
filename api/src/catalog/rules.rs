//! The rules a catalog document must satisfy before it is stored, checked without the database
//! (cross-item references are `catalog::references`). Every error names the field as a path
//! (`definition.steps[2].type`) and the rule it broke.

use super::definitions::{
    CONNECTOR_CATEGORIES, CatalogDoc, ConnectorDef, ContractDef, Kind, TemplateDef, Trigger, typed,
};
use crate::error::{ApiError, ApiResult};
use serde_json::Value;

/// Checks everything about a document that needs no other item.
pub fn validate(doc: &CatalogDoc) -> ApiResult<()> {
    check_ident("key", &doc.key, 128)?;
    check_text("name", &doc.name, 200)?;
    check_text("summary", &doc.summary, 400)?;
    check_text("description", &doc.description, 20_000)?;
    if !doc.kind.categories().contains(&doc.category.as_str()) {
        return Err(ApiError::bad_input(
            "category",
            format!(
                "`{}` is not a {} category; use one of: {}",
                doc.category,
                doc.kind.as_str(),
                doc.kind.categories().join(", ")
            ),
        ));
    }
    check_ident("owner", &doc.owner, 64)?;
    parse_version(&doc.version)?;
    match doc.kind {
        Kind::Connector => validate_connector(&typed(&doc.definition)?),
        Kind::Contract => validate_contract(&typed(&doc.definition)?),
        Kind::Template => validate_template(&super::definitions::template(&doc.definition)?),
    }
}

/// `MAJOR.MINOR.PATCH` as three numbers.
pub fn parse_version(version: &str) -> ApiResult<(i64, i64, i64)> {
    let v = semver::Version::parse(version).map_err(|e| {
        ApiError::bad_input(
            "version",
            format!("`{version}` is not a semantic version: {e}"),
        )
    })?;
    if !v.pre.is_empty() || !v.build.is_empty() {
        return Err(ApiError::bad_input(
            "version",
            "must be MAJOR.MINOR.PATCH; pre-release and build tags are not supported",
        ));
    }
    let n = |x: u64, part: &str| {
        i64::try_from(x).map_err(|_| ApiError::bad_input("version", format!("{part} is too large")))
    };
    Ok((
        n(v.major, "major")?,
        n(v.minor, "minor")?,
        n(v.patch, "patch")?,
    ))
}

fn check_ident(field: &str, value: &str, max: usize) -> ApiResult<()> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            field,
            format!(
                "`{value}` must start with a-z and use only a-z, 0-9, `-`, `_`, `.` (at most {max} characters)"
            ),
        ))
    }
}

fn check_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.trim().is_empty() {
        return Err(ApiError::bad_input(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

const KNOWN_DRAFTS: &[&str] = &[
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2019-09/schema",
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-07/schema",
];

/// A JSON Schema must be an object valid against its meta-schema, compile (regexes, local
/// `$ref`s), and never need a network or file fetch.
pub fn check_json_schema(field: &str, schema: &Value) -> ApiResult<()> {
    let Some(obj) = schema.as_object() else {
        return Err(ApiError::bad_input(field, "must be a JSON Schema object"));
    };
    if let Some(draft) = obj.get("$schema") {
        let known = draft.as_str().is_some_and(|d| KNOWN_DRAFTS.contains(&d));
        if !known {
            return Err(ApiError::bad_input(
                format!("{field}.$schema"),
                "must be JSON Schema 2020-12, 2019-09 or draft-07",
            ));
        }
    }
    if let Err(e) = jsonschema::meta::validate(schema) {
        let at = e.instance_path().to_string();
        return Err(ApiError::bad_input(
            format!("{field}{}", pointer_to_path(&at)),
            format!("not a valid JSON Schema: {e}"),
        ));
    }
    crate::contracts::schema::compile(schema)
        .map_err(|e| ApiError::bad_input(field, format!("JSON Schema does not compile: {e}")))?;
    Ok(())
}

/// `/properties/email/type` → `.properties.email.type`.
fn pointer_to_path(pointer: &str) -> String {
    pointer
        .split('/')
        .filter(|s| !s.is_empty())
        .fold(String::new(), |mut acc, s| {
            acc.push('.');
            acc.push_str(s);
            acc
        })
}

fn validate_connector(def: &ConnectorDef) -> ApiResult<()> {
    check_json_schema("definition.settings_schema", &def.settings_schema)?;
    if def.settings_schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(ApiError::bad_input(
            "definition.settings_schema.type",
            "connection settings must be described by an object schema (`type: object`)",
        ));
    }
    if def.actions.is_empty() {
        return Err(ApiError::bad_input(
            "definition.actions",
            "list at least one action",
        ));
    }
    if def.data_classes.is_empty() {
        return Err(ApiError::bad_input(
            "definition.data_classes",
            "list the PII classes this connector may receive (none, personal, sensitive)",
        ));
    }
    Ok(())
}

fn validate_contract(def: &ContractDef) -> ApiResult<()> {
    check_json_schema("definition.schema", &def.schema)?;
    if def.freshness_sla_minutes == 0 {
        return Err(ApiError::bad_input(
            "definition.freshness_sla_minutes",
            "must be greater than 0",
        ));
    }
    let props = def.schema.get("properties").and_then(Value::as_object);
    for (i, key) in def.key_fields.iter().enumerate() {
        if !props.is_some_and(|p| p.contains_key(key)) {
            return Err(ApiError::bad_input(
                format!("definition.key_fields[{i}]"),
                format!("`{key}` is not a property of the schema"),
            ));
        }
    }
    check_pii(&def.schema, "definition.schema")
}

/// Every property, at any depth, must declare `x-pii`: none, personal or sensitive.
fn check_pii(schema: &Value, path: &str) -> ApiResult<()> {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let here = format!("{path}.properties.{name}");
            match prop.get("x-pii").and_then(Value::as_str) {
                Some("none" | "personal" | "sensitive") => {}
                Some(other) => {
                    return Err(ApiError::bad_input(
                        format!("{here}.x-pii"),
                        format!("`{other}` is not a PII class; use none, personal or sensitive"),
                    ));
                }
                None => {
                    return Err(ApiError::bad_input(
                        format!("{here}.x-pii"),
                        "every field must declare its PII class (none, personal or sensitive)",
                    ));
                }
            }
            check_pii(prop, &here)?;
        }
    }
    if let Some(items) = schema.get("items") {
        check_pii(items, &format!("{path}.items"))?;
    }
    Ok(())
}

fn validate_template(def: &TemplateDef) -> ApiResult<()> {
    check_json_schema("definition.parameters", &def.parameters)?;
    match &def.trigger {
        Trigger::Event { versions, .. } => {
            check_version_req("definition.trigger.versions", versions)?
        }
        Trigger::Schedule { cron } => {
            let n = cron.split_whitespace().count();
            if n != 6 {
                return Err(ApiError::bad_input(
                    "definition.trigger.cron",
                    format!(
                        "a cron schedule has 6 fields (sec min hour day month weekday), found {n}"
                    ),
                ));
            }
        }
        Trigger::Manual => {}
    }
    for (name, slot) in &def.slots {
        if !CONNECTOR_CATEGORIES.contains(&slot.category.as_str()) {
            return Err(ApiError::bad_input(
                format!("definition.slots.{name}.category"),
                format!(
                    "`{}` is not a connector category; use one of: {}",
                    slot.category,
                    CONNECTOR_CATEGORIES.join(", ")
                ),
            ));
        }
    }
    let readable: Vec<&String> = def.reads.iter().flat_map(|r| &r.fields).collect();
    for (i, r) in def.reads.iter().enumerate() {
        check_version_req(&format!("definition.reads[{i}].versions"), &r.versions)?;
    }
    if def.steps.is_empty() {
        return Err(ApiError::bad_input(
            "definition.steps",
            "a template needs at least one step",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, step) in def.steps.iter().enumerate() {
        let at = format!("definition.steps[{i}]");
        check_ident(&format!("{at}.id"), &step.id, 64)?;
        if !seen.insert(step.id.as_str()) {
            return Err(ApiError::bad_input(
                format!("{at}.id"),
                format!("`{}` is used by an earlier step", step.id),
            ));
        }
        for (j, field) in step.reads.iter().enumerate() {
            if !readable.contains(&field) {
                return Err(ApiError::bad_input(
                    format!("{at}.reads[{j}]"),
                    format!(
                        "`{field}` is not among the fields the template reads (definition.reads)"
                    ),
                ));
            }
        }
        if let entity::documents::template::StepKind::Sla(cfg) = &step.kind {
            let earlier = def.steps[..i].iter().any(|s| {
                s.id == cfg.watch
                    && matches!(s.kind, entity::documents::template::StepKind::Deliver(_))
            });
            if !earlier {
                return Err(ApiError::bad_input(
                    format!("{at}.config.watch"),
                    format!("`{}` is not an earlier deliver step", cfg.watch),
                ));
            }
        }
        if let entity::documents::template::StepKind::Emit(cfg) = &step.kind {
            if let Trigger::Event { contract, .. } = &def.trigger
                && *contract == cfg.contract
            {
                return Err(ApiError::bad_input(
                    format!("{at}.config.contract"),
                    format!(
                        "`{contract}` is the event that starts this workflow: emitting it would start the workflow again (a loop)"
                    ),
                ));
            }
            if let Some(v) = &cfg.version {
                semver::Version::parse(v).map_err(|e| {
                    ApiError::bad_input(
                        format!("{at}.config.version"),
                        format!("`{v}` is not a version: {e}"),
                    )
                })?;
            }
        }
        if let Some(s) = step.kind.slot()
            && !def.slots.contains_key(s)
        {
            return Err(ApiError::bad_input(
                format!("{at}.config.slot"),
                format!("`{s}` is not a slot of this template"),
            ));
        }
    }
    for (field, source) in def.expressions() {
        super::expressions::check(&format!("definition.{field}"), source)?;
    }
    Ok(())
}

fn check_version_req(field: &str, req: &str) -> ApiResult<()> {
    semver::VersionReq::parse(req)
        .map(|_| ())
        .map_err(|e| ApiError::bad_input(field, format!("`{req}` is not a version range: {e}")))
}
