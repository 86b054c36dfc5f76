//! Loading catalog documents from a directory (`connectors/`, `contracts/`, `templates/`, one
//! YAML or JSON file per item) and applying them: the built-in catalog at first start, and
//! `switchyard catalog apply DIR`.
//!
//! Applying is all or nothing: every document is validated first, then all new versions are
//! written in one transaction. A version that already exists with the same definition is left
//! alone; one that exists with a different definition is refused (versions are immutable).

use super::definitions::{self, CatalogDoc, Kind};
use crate::audit::Actor;
use crate::error::{ApiError, ApiResult};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use std::path::Path;

/// The catalog that ships inside the binary (a copy of `api/catalog`).
#[derive(rust_embed::RustEmbed)]
#[folder = "catalog/"]
struct Builtin;

/// What applying a catalog did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub created: Vec<String>,
    pub unchanged: usize,
}

/// Reads every `*.yaml`, `*.yml` and `*.json` under `dir/{connectors,contracts,templates}`.
pub fn load_dir(dir: &Path) -> ApiResult<Vec<CatalogDoc>> {
    let mut files = Vec::new();
    for sub in ["contracts", "connectors", "templates"] {
        let folder = dir.join(sub);
        if !folder.is_dir() {
            continue;
        }
        let entries = std::fs::read_dir(&folder).map_err(|e| {
            ApiError::bad_input("catalog_dir", format!("{}: {e}", folder.display()))
        })?;
        let mut names: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "yaml" | "yml" | "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ApiError::bad_input("catalog_dir", format!("{}: {e}", path.display()))
            })?;
            files.push((path.display().to_string(), text));
        }
    }
    if files.is_empty() {
        return Err(ApiError::bad_input(
            "catalog_dir",
            format!(
                "{} holds no catalog files (expected connectors/, contracts/, templates/)",
                dir.display()
            ),
        ));
    }
    parse_all(files)
}

/// The documents embedded in the binary.
pub fn builtin() -> ApiResult<Vec<CatalogDoc>> {
    let mut files: Vec<(String, String)> = Builtin::iter()
        .filter_map(|name| {
            let file = Builtin::get(&name)?;
            let text = String::from_utf8(file.data.into_owned()).ok()?;
            Some((format!("builtin:{name}"), text))
        })
        .collect();
    files.sort();
    parse_all(files)
}

fn parse_all(files: Vec<(String, String)>) -> ApiResult<Vec<CatalogDoc>> {
    let mut docs = Vec::with_capacity(files.len());
    for (source, text) in files {
        let doc = definitions::parse_doc(&text, &source)?;
        definitions::validate(&doc)
            .map_err(|e| ApiError::bad_input(source.clone(), e.to_string()))?;
        docs.push(doc);
    }
    // Contracts first, then connectors (which name contracts), then templates; the versions
    // of one item in ascending order, whatever their files are called.
    docs.sort_by_cached_key(|d| {
        let kind = match d.kind {
            Kind::Contract => 0,
            Kind::Connector => 1,
            Kind::Template => 2,
        };
        let version = definitions::parse_version(&d.version).unwrap_or_default();
        (kind, d.key.clone(), version)
    });
    Ok(docs)
}

/// Applies documents in one transaction, as `actor`.
pub async fn apply(
    db: &DatabaseConnection,
    actor: &Actor,
    docs: &[CatalogDoc],
) -> ApiResult<ApplyReport> {
    for (i, doc) in docs.iter().enumerate() {
        super::references::check(db, doc, &docs[..i])
            .await
            .map_err(|e| {
                ApiError::bad_input(format!("{} {}", doc.kind.as_str(), doc.key), e.to_string())
            })?;
    }
    let tx = crate::db::begin_write(db).await?;
    let mut report = ApplyReport::default();
    for doc in docs {
        if let Some(item) = super::find(&tx, doc.kind, &doc.key).await? {
            let versions = super::versions(&tx, item.id).await?;
            if let Some(existing) = versions.iter().find(|v| v.version == doc.version) {
                if existing.definition == doc.definition {
                    report.unchanged += 1;
                    continue;
                }
                return Err(ApiError::Conflict(format!(
                    "{} {} {}: a different definition is already stored under this version; versions are immutable, bump the version",
                    doc.kind.as_str(),
                    doc.key,
                    doc.version
                )));
            }
        }
        super::write_version(&tx, actor, doc).await?;
        report
            .created
            .push(super::target(doc.kind, &doc.key, &doc.version));
    }
    tx.commit().await?;
    crate::catalog::changed();
    Ok(report)
}

/// Seeds the catalog when the database holds no catalog item yet.
pub async fn seed_if_empty(
    db: &DatabaseConnection,
    dir: Option<&Path>,
) -> ApiResult<Option<ApplyReport>> {
    if entity::catalog_item::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let docs = match dir {
        Some(d) => load_dir(d)?,
        None => builtin()?,
    };
    apply(db, &Actor::system("seed"), &docs).await.map(Some)
}

/// What `catalog apply DIR` would do, worked out without writing (`catalog diff DIR`).
#[derive(Debug, Default, Clone)]
pub struct DiffReport {
    /// One line per finding, in apply order.
    pub lines: Vec<String>,
    pub new_versions: usize,
    pub unchanged: usize,
    pub lifecycle_changes: usize,
    /// Findings that would break something: apply would refuse, or a consumer would break.
    pub breaking: usize,
}

/// Compares `docs` with the catalog in `db`: new versions (contracts with their compatibility
/// verdict and the consumers a breaking change touches), lifecycle differences, and versions
/// whose stored definition differs (apply refuses those: versions are immutable).
pub async fn diff(db: &DatabaseConnection, docs: &[CatalogDoc]) -> ApiResult<DiffReport> {
    let mut r = DiffReport::default();
    for (i, doc) in docs.iter().enumerate() {
        let name = format!("{} {} {}", doc.kind.as_str(), doc.key, doc.version);
        if let Err(e) = super::references::check(db, doc, &docs[..i]).await {
            r.breaking += 1;
            r.lines.push(format!("BREAKING {name}: {e}"));
            continue;
        }
        let stored = match super::find(db, doc.kind, &doc.key).await? {
            Some(item) => super::versions(db, item.id)
                .await?
                .into_iter()
                .find(|v| v.version == doc.version),
            None => None,
        };
        if let Some(v) = stored {
            if v.definition != doc.definition {
                r.breaking += 1;
                r.lines.push(format!(
                    "BREAKING {name}: a different definition is stored under this version; versions are immutable, bump the version"
                ));
                continue;
            }
            if v.lifecycle != doc.lifecycle.as_str() {
                r.lifecycle_changes += 1;
                r.lines.push(format!(
                    "lifecycle {name}: stored {}, file says {} (apply keeps the stored one; change it with setLifecycle)",
                    v.lifecycle,
                    doc.lifecycle.as_str()
                ));
            } else {
                r.unchanged += 1;
            }
            continue;
        }
        r.new_versions += 1;
        if doc.kind != Kind::Contract {
            r.lines.push(format!("new {name}"));
            continue;
        }
        let report = crate::contracts::registry::check(db, doc).await?;
        let against = report
            .against_version
            .as_deref()
            .map(|v| format!(" against {v} under {}", report.mode))
            .unwrap_or_else(|| " (first version)".into());
        if report.compatible {
            r.lines.push(format!("new {name}: compatible{against}"));
            continue;
        }
        r.breaking += 1;
        r.lines.push(format!("BREAKING new {name}{against}"));
        for b in &report.breaking {
            let hit: Vec<String> = report
                .consumers
                .iter()
                .filter(|c| c.broken_by.contains(&b.pointer))
                .map(|c| {
                    let steps: Vec<&str> = c.steps.iter().map(|s| s.id.as_str()).collect();
                    format!("{} {}@{} [{}]", c.kind, c.key, c.version, steps.join(", "))
                })
                .collect();
            r.lines.push(format!(
                "  {} {}: {}; consumers affected: {}",
                b.pointer,
                b.kind,
                b.message,
                if hit.is_empty() {
                    "none".to_string()
                } else {
                    hit.join(", ")
                }
            ));
        }
    }
    Ok(r)
}
