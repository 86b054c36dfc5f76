//! Reading catalog versions: the definition of one version of one item. Published versions
//! never change, so callers may cache what they read.

use entity::{catalog_item, catalog_version};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Version `version` of item `key` of `kind` (`template`, `contract`, `connector`).
pub async fn version(
    db: &impl ConnectionTrait,
    kind: &str,
    key: &str,
    version: &str,
) -> Result<Option<catalog_version::Model>, DbErr> {
    let Some(item) = item(db, kind, key).await? else {
        return Ok(None);
    };
    catalog_version::Entity::find()
        .filter(catalog_version::Column::ItemId.eq(item.id))
        .filter(catalog_version::Column::Version.eq(version))
        .one(db)
        .await
}

/// The current version of item `key` of `kind`.
pub async fn current(
    db: &impl ConnectionTrait,
    kind: &str,
    key: &str,
) -> Result<Option<catalog_version::Model>, DbErr> {
    let Some(item) = item(db, kind, key).await? else {
        return Ok(None);
    };
    catalog_version::Entity::find()
        .filter(catalog_version::Column::ItemId.eq(item.id))
        .filter(catalog_version::Column::Version.eq(item.latest_version.as_str()))
        .one(db)
        .await
}

/// Item `key` of `kind`.
pub async fn item(
    db: &impl ConnectionTrait,
    kind: &str,
    key: &str,
) -> Result<Option<catalog_item::Model>, DbErr> {
    catalog_item::Entity::find()
        .filter(catalog_item::Column::Kind.eq(kind))
        .filter(catalog_item::Column::Key.eq(key))
        .one(db)
        .await
}
