//! The catalog: connectors, data contracts and workflow templates, each a versioned item.
//!
//! Every write goes through this module in one order: authorize → validate → load → check
//! invariants → one transaction { change, audit entry } → result. A version's definition never
//! changes after it is written; lifecycles only move forward.

pub mod definitions;
pub mod expressions;
pub mod pages;
pub mod references;
pub mod rules;
pub mod seed;

use crate::audit::{self, Actor, Change};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use definitions::{CatalogDoc, Kind, Lifecycle};
use entity::{catalog_item, catalog_version};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};

/// Bumped after every catalog write in this process, so caches of what the catalog resolves
/// to (the contract version events are checked against, the listing pages of [`pages`]) drop
/// their entries at once here, and within their short lifetime in other processes.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The catalog's write generation in this process (see [`changed`]).
pub fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// Marks the catalog as changed: call after a committed catalog write.
pub fn changed() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Policy object name of an item: `catalog:template:lead-capture`.
pub fn object(kind: Kind, key: &str) -> String {
    format!("catalog:{}:{key}", kind.as_str())
}

/// Audit target of a version: `template:lead-capture@1.0.0`.
pub fn target(kind: Kind, key: &str, version: &str) -> String {
    format!("{}:{key}@{version}", kind.as_str())
}

/// Longest search text, in characters: SQLite refuses LIKE patterns over 50,000 bytes, and no
/// catalog text worth finding is longer.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Filters for listing the catalog.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Case-insensitive text search over key, name, summary and description.
    pub search: Option<String>,
    pub category: Option<String>,
    pub lifecycle: Option<Lifecycle>,
    pub owner: Option<String>,
}

/// Items of `kind` matching `filter`, ordered by key, after the cursor key; `limit + 1` rows are
/// read so the caller knows whether there is a next page.
pub async fn list(
    db: &DatabaseConnection,
    kind: Kind,
    filter: &ListFilter,
    after_key: Option<&str>,
    limit: u64,
) -> ApiResult<(Vec<catalog_item::Model>, bool)> {
    let mut q = catalog_item::Entity::find().filter(catalog_item::Column::Kind.eq(kind.as_str()));
    if let Some(after) = after_key {
        q = q.filter(catalog_item::Column::Key.gt(after));
    }
    if let Some(text) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(ApiError::bad_input(
                "search",
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        let like = |col: catalog_item::Column| {
            Expr::expr(Func::lower(Expr::col((catalog_item::Entity, col))))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        q = q.filter(
            Condition::any()
                .add(like(catalog_item::Column::Key))
                .add(like(catalog_item::Column::Name))
                .add(like(catalog_item::Column::Summary))
                .add(like(catalog_item::Column::Description)),
        );
    }
    if let Some(c) = &filter.category {
        q = q.filter(catalog_item::Column::Category.eq(c.as_str()));
    }
    if let Some(l) = filter.lifecycle {
        q = q.filter(catalog_item::Column::Lifecycle.eq(l.as_str()));
    }
    if let Some(o) = &filter.owner {
        q = q.filter(catalog_item::Column::Owner.eq(o.as_str()));
    }
    let mut rows = q
        .order_by_asc(catalog_item::Column::Key)
        .limit(limit + 1)
        .all(db)
        .await?;
    let has_next = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, has_next))
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn find(
    db: &impl ConnectionTrait,
    kind: Kind,
    key: &str,
) -> ApiResult<Option<catalog_item::Model>> {
    Ok(catalog_item::Entity::find()
        .filter(catalog_item::Column::Kind.eq(kind.as_str()))
        .filter(catalog_item::Column::Key.eq(key))
        .one(db)
        .await?)
}

/// Version `version` of item `key`, when both exist.
pub async fn version(
    db: &impl ConnectionTrait,
    kind: Kind,
    key: &str,
    version: &str,
) -> ApiResult<Option<catalog_version::Model>> {
    let Some(item) = find(db, kind, key).await? else {
        return Ok(None);
    };
    Ok(catalog_version::Entity::find()
        .filter(catalog_version::Column::ItemId.eq(item.id))
        .filter(catalog_version::Column::Version.eq(version))
        .one(db)
        .await?)
}

/// The current (latest published) version of item `key`, when it exists.
pub async fn current(
    db: &impl ConnectionTrait,
    kind: Kind,
    key: &str,
) -> ApiResult<Option<catalog_version::Model>> {
    let Some(item) = find(db, kind, key).await? else {
        return Ok(None);
    };
    Ok(catalog_version::Entity::find()
        .filter(catalog_version::Column::ItemId.eq(item.id))
        .filter(catalog_version::Column::Version.eq(item.latest_version.as_str()))
        .one(db)
        .await?)
}

/// All versions of an item, newest first.
pub async fn versions(
    db: &impl ConnectionTrait,
    item_id: i64,
) -> ApiResult<Vec<catalog_version::Model>> {
    Ok(catalog_version::Entity::find()
        .filter(catalog_version::Column::ItemId.eq(item_id))
        .order_by_desc(catalog_version::Column::Major)
        .order_by_desc(catalog_version::Column::Minor)
        .order_by_desc(catalog_version::Column::Patch)
        .all(db)
        .await?)
}

/// Authorizes `act` on `obj`, an object nobody owns (a catalog item, write keys): denies with
/// an audit entry, or passes. Goes through [`crate::access::authorize`], the one door.
pub async fn authorize(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    (obj, act): (&str, &str),
    audit_action: &str,
    audit_target: &str,
) -> ApiResult<()> {
    crate::access::authorize(
        db,
        policy,
        actor,
        crate::access::Ask::unowned(obj, act),
        (audit_action, audit_target),
    )
    .await
    .map(|_| ())
}

/// Publishes a new version of a connector, contract or template.
pub async fn publish(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    doc: CatalogDoc,
) -> ApiResult<catalog_version::Model> {
    let kind = doc.kind;
    authorize(
        db,
        policy,
        actor,
        (&object(kind, &doc.key), "publish"),
        &format!("{}.publish", kind.as_str()),
        &target(kind, &doc.key, &doc.version),
    )
    .await?;
    definitions::validate(&doc)?;
    references::check(db, &doc, &[]).await?;
    let tx = crate::db::begin_write(db).await?;
    if kind == Kind::Contract {
        // Checked inside the write transaction, so no other version slips in between.
        let report = crate::contracts::registry::check(&tx, &doc).await?;
        if !report.compatible {
            return Err(ApiError::Incompatible(Box::new(report)));
        }
    }
    let version = write_version(&tx, actor, &doc).await?;
    tx.commit().await?;
    changed();
    Ok(version)
}

/// Inserts the version (and the item if new) and its audit entry, inside `tx`.
pub(crate) async fn write_version(
    tx: &sea_orm::DatabaseTransaction,
    actor: &Actor,
    doc: &CatalogDoc,
) -> ApiResult<catalog_version::Model> {
    let kind = doc.kind;
    let (major, minor, patch) = definitions::parse_version(&doc.version)?;
    let now = chrono::Utc::now();
    let item = match find(tx, kind, &doc.key).await? {
        Some(item) => item,
        None => {
            catalog_item::ActiveModel {
                kind: Set(kind.as_str().to_string()),
                key: Set(doc.key.clone()),
                name: Set(doc.name.clone()),
                summary: Set(doc.summary.clone()),
                description: Set(doc.description.clone()),
                category: Set(doc.category.clone()),
                owner: Set(doc.owner.clone()),
                lifecycle: Set(doc.lifecycle.as_str().to_string()),
                latest_version: Set(doc.version.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(tx)
            .await?
        }
    };
    let existing = versions(tx, item.id).await?;
    if existing.iter().any(|v| v.version == doc.version) {
        return Err(ApiError::Conflict(format!(
            "version: {} {} {} already exists and versions are immutable; publish a higher version",
            kind.as_str(),
            doc.key,
            doc.version
        )));
    }
    if let Some(newest) = existing.first()
        && (newest.major, newest.minor, newest.patch) > (major, minor, patch)
    {
        return Err(ApiError::Conflict(format!(
            "version: {} must be higher than the newest version {} of {} {}",
            doc.version,
            newest.version,
            kind.as_str(),
            doc.key
        )));
    }
    let version = catalog_version::ActiveModel {
        item_id: Set(item.id),
        version: Set(doc.version.clone()),
        major: Set(major),
        minor: Set(minor),
        patch: Set(patch),
        lifecycle: Set(doc.lifecycle.as_str().to_string()),
        owner: Set(doc.owner.clone()),
        definition: Set(doc.definition.clone()),
        created_by: Set(actor.sub.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    let mut active: catalog_item::ActiveModel = item.into();
    active.name = Set(doc.name.clone());
    active.summary = Set(doc.summary.clone());
    active.description = Set(doc.description.clone());
    active.category = Set(doc.category.clone());
    active.owner = Set(doc.owner.clone());
    let item = active.update(tx).await?;
    refresh_current(tx, item).await?;
    audit::record(
        tx,
        actor,
        Change {
            action: format!("{}.publish", kind.as_str()),
            target: target(kind, &doc.key, &doc.version),
            before: None,
            after: Some(serde_json::to_value(doc).map_err(ApiError::internal)?),
        },
    )
    .await?;
    Ok(version)
}

/// Points the item at its current version: the newest non-draft one, else the newest draft.
pub(crate) async fn refresh_current(
    tx: &sea_orm::DatabaseTransaction,
    item: catalog_item::Model,
) -> ApiResult<()> {
    let all = versions(tx, item.id).await?;
    let current = all
        .iter()
        .find(|v| v.lifecycle != Lifecycle::Draft.as_str())
        .or(all.first());
    if let Some(v) = current {
        let mut active: catalog_item::ActiveModel = item.into();
        active.latest_version = Set(v.version.clone());
        active.lifecycle = Set(v.lifecycle.clone());
        active.updated_at = Set(chrono::Utc::now());
        active.update(tx).await?;
    }
    Ok(())
}

/// Moves a version's lifecycle forward (draft → published → deprecated → retired).
pub async fn set_lifecycle(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    kind: Kind,
    key: &str,
    version: &str,
    lifecycle: Lifecycle,
) -> ApiResult<catalog_version::Model> {
    let audit_target = target(kind, key, version);
    let action = format!("{}.lifecycle", kind.as_str());
    let obj = object(kind, key);
    authorize(
        db,
        policy,
        actor,
        (&obj, "lifecycle"),
        &action,
        &audit_target,
    )
    .await?;
    let tx = crate::db::begin_write(db).await?;
    let item = find(&tx, kind, key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("key: no {} `{key}`", kind.as_str())))?;
    let row = versions(&tx, item.id)
        .await?
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "version: {} `{key}` has no version {version}",
                kind.as_str()
            ))
        })?;
    let from = Lifecycle::parse(&row.lifecycle)
        .ok_or_else(|| ApiError::internal(format!("stored lifecycle `{}`", row.lifecycle)))?;
    if lifecycle <= from {
        return Err(ApiError::Conflict(format!(
            "lifecycle: {} {key} {version} is {}; lifecycles only move forward (draft → published → deprecated → retired)",
            kind.as_str(),
            from.as_str()
        )));
    }
    let mut active: catalog_version::ActiveModel = row.into();
    active.lifecycle = Set(lifecycle.as_str().to_string());
    active.updated_at = Set(chrono::Utc::now());
    let updated = active.update(&tx).await?;
    refresh_current(&tx, item).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action,
            target: audit_target,
            before: Some(serde_json::json!({ "lifecycle": from.as_str() })),
            after: Some(serde_json::json!({ "lifecycle": lifecycle.as_str() })),
        },
    )
    .await?;
    tx.commit().await?;
    changed();
    Ok(updated)
}
