//! Catalog documents: the YAML/JSON shape of a connector, contract or template version, and
//! the rules a document must satisfy before it is stored. Checks here are pure (no database);
//! cross-item references are checked by `catalog::references`.
//!
//! Every error names the offending field as a path (`definition.steps[2].type`) and the rule.

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Connector,
    Contract,
    Template,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Connector => "connector",
            Kind::Contract => "contract",
            Kind::Template => "template",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "connector" => Some(Kind::Connector),
            "contract" => Some(Kind::Contract),
            "template" => Some(Kind::Template),
            _ => None,
        }
    }

    /// Categories an item of this kind may have.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Kind::Connector => CONNECTOR_CATEGORIES,
            Kind::Contract => &["entity", "event"],
            Kind::Template => &[
                "lead-management",
                "audience",
                "messaging",
                "approvals",
                "reporting",
                "monitoring",
            ],
        }
    }
}

pub const CONNECTOR_CATEGORIES: &[&str] = &[
    "crm",
    "map",
    "cdp",
    "warehouse",
    "ads",
    "messaging",
    "generic",
];

pub use entity::documents::template::STEP_TYPES;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, async_graphql::Enum,
)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    Draft,
    Published,
    Deprecated,
    Retired,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Draft => "draft",
            Lifecycle::Published => "published",
            Lifecycle::Deprecated => "deprecated",
            Lifecycle::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Lifecycle::Draft),
            "published" => Some(Lifecycle::Published),
            "deprecated" => Some(Lifecycle::Deprecated),
            "retired" => Some(Lifecycle::Retired),
            _ => None,
        }
    }
}

fn default_lifecycle() -> Lifecycle {
    Lifecycle::Published
}

/// One catalog document: one version of one item.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogDoc {
    pub kind: Kind,
    pub key: String,
    pub name: String,
    pub summary: String,
    pub description: String,
    pub category: String,
    pub owner: String,
    pub version: String,
    #[serde(default = "default_lifecycle")]
    pub lifecycle: Lifecycle,
    pub definition: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorDef {
    pub direction: Direction,
    pub settings_schema: Value,
    pub objects: Vec<String>,
    pub actions: Vec<String>,
    pub data_classes: Vec<PiiClass>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Source,
    Destination,
    Both,
}

pub use entity::documents::contract::{Compatibility, ContractDef, Enforcement, PiiClass};
pub use entity::documents::template::{Read, Slot, Step, StepKind, TemplateDef, Trigger};

/// Parses a document from YAML or JSON text, naming the field of any shape error.
pub fn parse_doc(text: &str, source: &str) -> ApiResult<CatalogDoc> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        ApiError::bad_input(field, format!("{} ({source})", e.inner()))
    })
}

/// A template definition, typed; errors name the field (`definition.steps[2].config.window`).
pub fn template(definition: &Value) -> ApiResult<TemplateDef> {
    TemplateDef::parse(definition).map_err(|e| {
        let field = if e.path.is_empty() {
            "definition".to_string()
        } else {
            format!("definition.{}", e.path)
        };
        ApiError::bad_input(field, e.message)
    })
}

/// Deserialises a kind-specific definition, naming the field of any error.
pub fn typed<T: serde::de::DeserializeOwned>(definition: &Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(definition).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "definition".to_string()
        } else {
            format!("definition.{path}")
        };
        ApiError::bad_input(field, e.inner().to_string())
    })
}

pub use super::rules::{check_json_schema, parse_version, validate};
