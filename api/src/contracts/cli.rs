//! `switchyard contract check` and `contract show`: the registry's compatibility check for CI
//! pipelines, against a running server (GraphQL, token from `SWITCHYARD_TOKEN`) or straight
//! against the database. Exit 0 compatible, 1 breaking, 2 bad input.

use super::registry::{self, Report};
use crate::catalog::{
    self,
    definitions::{self, CatalogDoc, Kind, Lifecycle},
};
use crate::config::Config;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;

/// Output format of `contract check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// A failure that maps to exit code 2.
pub struct BadInput(pub String);

impl From<crate::error::ApiError> for BadInput {
    /// The operator runs the command: an internal error shows its detail here.
    fn from(e: crate::error::ApiError) -> Self {
        match e {
            crate::error::ApiError::Internal(detail) => {
                BadInput(format!("internal error: {detail}"))
            }
            other => BadInput(other.to_string()),
        }
    }
}

/// Reads a contract document: the catalog's full format (`kind: contract`, `key`, …,
/// `definition.schema`) or a short one (`name`, `version`, `schema`, optional `compatibility`).
pub fn read_doc(path: &Path) -> Result<(CatalogDoc, bool), BadInput> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    let value: Value = serde_yaml::from_str(&text)
        .map_err(|e| BadInput(format!("{}: not YAML or JSON: {e}", path.display())))?;
    if value.get("kind").is_some() {
        let doc = definitions::parse_doc(&text, &path.display().to_string())
            .map_err(|e| BadInput(e.to_string()))?;
        definitions::validate(&doc).map_err(|e| BadInput(e.to_string()))?;
        return Ok((doc, true));
    }
    let field = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    let name =
        field("name").ok_or_else(|| BadInput("name: required (the contract name)".into()))?;
    let version = field("version").ok_or_else(|| BadInput("version: required".into()))?;
    let schema = value
        .get("schema")
        .cloned()
        .ok_or_else(|| BadInput("schema: required (a JSON Schema)".into()))?;
    definitions::check_json_schema("schema", &schema).map_err(|e| BadInput(e.to_string()))?;
    definitions::parse_version(&version).map_err(|e| BadInput(e.to_string()))?;
    let doc = CatalogDoc {
        kind: Kind::Contract,
        key: name.clone(),
        name,
        summary: "proposed version".into(),
        description: "proposed version".into(),
        category: "entity".into(),
        owner: "unknown".into(),
        version,
        lifecycle: Lifecycle::Published,
        definition: json!({
            "compatibility": value.get("compatibility").cloned().unwrap_or(json!("BACKWARD")),
            "freshness_sla_minutes": 60,
            "enforcement": "block",
            "schema": schema,
        }),
    };
    Ok((doc, false))
}

/// Checks against the database named by `config`.
pub async fn check_db(config: &Config, doc: &CatalogDoc) -> Result<Report, BadInput> {
    let db = crate::db::open_existing(&config.database_url)
        .await
        .map_err(BadInput)?;
    if catalog::find(&db, Kind::Contract, &doc.key)
        .await
        .map_err(BadInput::from)?
        .is_none()
    {
        return Err(BadInput(format!(
            "name: no contract named `{}` is registered",
            doc.key
        )));
    }
    registry::check(&db, doc).await.map_err(BadInput::from)
}

/// Checks through a running server's GraphQL API.
pub async fn check_remote(url: &str, doc: &CatalogDoc) -> Result<Report, BadInput> {
    let token = std::env::var("SWITCHYARD_TOKEN")
        .map_err(|_| BadInput("SWITCHYARD_TOKEN: set it to a token (switchyard token …)".into()))?;
    let query = "query($input: PublishInput!) { checkContractCompatibility(input: $input) { \
        contract proposedVersion mode againstVersion compatible \
        changes { kind pointer message compatible } \
        breaking { againstVersion direction kind pointer message } \
        consumers { kind key version fields steps { id fields } broken brokenBy } } }";
    let input = json!({
        "key": doc.key, "name": doc.name, "summary": doc.summary, "description": doc.description,
        "category": doc.category, "owner": doc.owner, "version": doc.version,
        "definition": doc.definition,
    });
    let endpoint = format!("{}/graphql", url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": { "input": input } }))
        .send()
        .await
        .map_err(|e| BadInput(format!("--against {url}: {e}")))?;
    let body: Value = resp
        .json()
        .await
        .map_err(|e| BadInput(format!("--against {url}: not a GraphQL response: {e}")))?;
    if let Some(err) = body.pointer("/errors/0/message").and_then(Value::as_str) {
        return Err(BadInput(format!("--against {url}: {err}")));
    }
    let report = body
        .pointer("/data/checkContractCompatibility")
        .cloned()
        .ok_or_else(|| BadInput(format!("--against {url}: empty response")))?;
    serde_json::from_value(report).map_err(|e| BadInput(format!("--against {url}: {e}")))
}

/// Prints the report and returns the exit code (0 compatible, 1 breaking).
pub fn print(report: &Report, format: Format) -> ExitCode {
    match format {
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: {e}"),
        },
        Format::Text => print_text(report),
    }
    if report.compatible {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_text(r: &Report) {
    let against = r
        .against_version
        .as_deref()
        .unwrap_or("nothing (first version)");
    if r.compatible {
        println!(
            "compatible: {} {} against {against} under {} ({} changes)",
            r.contract,
            r.proposed_version,
            r.mode,
            r.changes.len()
        );
    } else {
        println!(
            "BREAKING: {} {} against {against} under {}",
            r.contract, r.proposed_version, r.mode
        );
    }
    for b in &r.breaking {
        let hit: Vec<String> = r
            .consumers
            .iter()
            .filter(|c| c.broken_by.contains(&b.pointer))
            .map(|c| {
                // Name the steps that read the changed field (all of them for a root change).
                let field = registry::field_of(&b.pointer);
                let steps: Vec<&str> = c
                    .steps
                    .iter()
                    .filter(|s| field.is_none_or(|f| s.fields.iter().any(|x| x == f)))
                    .map(|s| s.id.as_str())
                    .collect();
                format!("{} {}@{} [{}]", c.kind, c.key, c.version, steps.join(", "))
            })
            .collect();
        println!(
            "{}\t{} ({} vs {}): {}\tconsumers affected: {}",
            b.pointer,
            b.kind,
            b.direction,
            b.against_version,
            b.message,
            if hit.is_empty() {
                "none".to_string()
            } else {
                hit.join(", ")
            }
        );
    }
    if r.compatible {
        for c in &r.changes {
            println!("{}\t{}: {}", c.pointer, c.kind, c.message);
        }
    }
}

/// `contract show NAME [--version V]`: the stored version as a catalog document (YAML).
pub async fn show(config: &Config, name: &str, version: Option<&str>) -> Result<String, BadInput> {
    let db = crate::db::open_existing(&config.database_url)
        .await
        .map_err(BadInput)?;
    let item = catalog::find(&db, Kind::Contract, name)
        .await
        .map_err(BadInput::from)?
        .ok_or_else(|| BadInput(format!("NAME: no contract named `{name}`")))?;
    let wanted = version.unwrap_or(&item.latest_version);
    let row = catalog::versions(&db, item.id)
        .await
        .map_err(BadInput::from)?
        .into_iter()
        .find(|v| v.version == wanted)
        .ok_or_else(|| BadInput(format!("--version: `{name}` has no version {wanted}")))?;
    let doc = CatalogDoc {
        kind: Kind::Contract,
        key: item.key,
        name: item.name,
        summary: item.summary,
        description: item.description,
        category: item.category,
        owner: row.owner,
        version: row.version,
        lifecycle: Lifecycle::parse(&row.lifecycle).unwrap_or(Lifecycle::Published),
        definition: row.definition,
    };
    serde_yaml::to_string(&doc).map_err(|e| BadInput(e.to_string()))
}
