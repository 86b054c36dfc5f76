//! Policy versions in the database: which version is in force (the newest row of
//! `policy_versions`), activating one, and the history `policyVersions` lists. Every process
//! reads the version in force from here, so API and worker processes agree within a poll.

use entity::policy_version;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QueryOrder, QuerySelect, Set,
};

/// The version in force (the newest activation), if any policy was ever activated.
pub async fn active_version<C: ConnectionTrait>(db: &C) -> Result<Option<String>, DbErr> {
    policy_version::Entity::find()
        .select_only()
        .column(policy_version::Column::Version)
        .order_by_desc(policy_version::Column::Id)
        .into_tuple::<String>()
        .one(db)
        .await
}

/// The id and content hash of the newest activation (cheap: no texts).
pub async fn newest_hash<C: ConnectionTrait>(db: &C) -> Result<Option<(i64, String)>, DbErr> {
    policy_version::Entity::find()
        .select_only()
        .column(policy_version::Column::Id)
        .column(policy_version::Column::Hash)
        .order_by_desc(policy_version::Column::Id)
        .into_tuple::<(i64, String)>()
        .one(db)
        .await
}

/// The newest activation with its texts.
pub async fn newest<C: ConnectionTrait>(db: &C) -> Result<Option<policy_version::Model>, DbErr> {
    policy_version::Entity::find()
        .order_by_desc(policy_version::Column::Id)
        .one(db)
        .await
}

/// Every activation, newest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<Vec<policy_version::Model>, DbErr> {
    policy_version::Entity::find()
        .order_by_desc(policy_version::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// What an activation records.
pub struct NewVersion<'a> {
    pub version: &'a str,
    pub hash: &'a str,
    pub model: &'a str,
    pub policy: &'a str,
    pub activated_by: &'a str,
    pub source: &'a str,
    pub previous: Option<&'a str>,
    pub summary: Option<serde_json::Value>,
}

/// Records that `v` is in force from now on.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    v: NewVersion<'_>,
) -> Result<policy_version::Model, DbErr> {
    policy_version::ActiveModel {
        version: Set(v.version.to_string()),
        hash: Set(v.hash.to_string()),
        model: Set(v.model.to_string()),
        policy: Set(v.policy.to_string()),
        activated_at: Set(entity::clock::now_string()),
        activated_by: Set(v.activated_by.chars().take(200).collect()),
        source: Set(v.source.chars().take(500).collect()),
        previous: Set(v.previous.map(str::to_string)),
        summary: Set(v.summary.map(|s| s.to_string())),
        ..Default::default()
    }
    .insert(db)
    .await
}
