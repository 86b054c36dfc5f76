//! Write keys: how event sources authenticate. A key is random, shown once at creation, and
//! stored only as its SHA-256; it is scoped to the event types (contract names) it may send.
//! Creating one is a policy-checked, audited mutation.

use crate::audit::{self, Actor, Change};
use crate::catalog::{self, definitions::Kind};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use base64::Engine as _;
use entity::write_key;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub const OBJECT: &str = "ingest:write-keys";

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates a key for `event_types`; returns the stored row and the key (never stored).
pub async fn create(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    name: &str,
    event_types: &[String],
) -> ApiResult<(write_key::Model, String)> {
    catalog::authorize(
        db,
        policy,
        actor,
        (OBJECT, "create"),
        "write_key.create",
        &format!("write-key:{name}"),
    )
    .await?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::bad_input("name", "must be 1 to 200 characters"));
    }
    if event_types.is_empty() {
        return Err(ApiError::bad_input(
            "eventTypes",
            "list at least one event type (contract name)",
        ));
    }
    for (i, t) in event_types.iter().enumerate() {
        if catalog::find(db, Kind::Contract, t).await?.is_none() {
            return Err(ApiError::bad_input(
                format!("eventTypes[{i}]"),
                format!("`{t}` is not a contract"),
            ));
        }
    }
    let key = format!(
        "sy_wk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
    );
    let types = serde_json::to_string(event_types).map_err(ApiError::internal)?;
    let tx = crate::db::begin_write(db).await?;
    let row = write_key::ActiveModel {
        name: Set(name.to_string()),
        key_hash: Set(hash(&key)),
        key_hint: Set(key
            .chars()
            .rev()
            .take(4)
            .collect::<String>()
            .chars()
            .rev()
            .collect()),
        event_types: Set(types),
        created_by: Set(actor.sub.clone()),
        created_at: Set(audit::now_string()),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: "write_key.create".into(),
            target: format!("write-key:{}", row.id),
            before: None,
            after: Some(serde_json::json!({
                "name": row.name, "event_types": event_types, "key_hint": row.key_hint
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((row, key))
}

/// The write key presented as HTTP basic user (Segment style) or as a bearer token.
pub fn presented(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
        return Some(user.to_string());
    }
    None
}

/// How long a key found active is trusted without reading it again: a key revoked in the
/// database stops working within this time.
pub const KEY_TTL: Duration = Duration::from_secs(1);

/// Most keys remembered; beyond it the cache starts over.
const MAX_KEYS: usize = 10_000;

/// Active keys recently found, by hash. Unknown keys are never remembered, so guessing keys
/// cannot fill it.
#[derive(Default)]
pub struct KeyCache {
    found: RwLock<HashMap<String, (Instant, write_key::Model)>>,
}

impl KeyCache {
    /// The active key matching the presented one, or `UNAUTHENTICATED`.
    pub async fn authenticate(
        &self,
        db: &DatabaseConnection,
        key: Option<String>,
    ) -> ApiResult<write_key::Model> {
        let key = key.ok_or_else(|| {
            ApiError::Unauthenticated(
                "Authorization: send the write key as HTTP basic user or bearer token".into(),
            )
        })?;
        let hashed = hash(&key);
        if let Some((at, row)) = self.found.read().ok().and_then(|m| m.get(&hashed).cloned())
            && at.elapsed() < KEY_TTL
        {
            return Ok(row);
        }
        let row = write_key::Entity::find()
            .filter(write_key::Column::KeyHash.eq(hashed.as_str()))
            .filter(write_key::Column::RevokedAt.is_null())
            .one(db)
            .await?;
        let Some(row) = row else {
            if let Ok(mut m) = self.found.write() {
                m.remove(&hashed);
            }
            return Err(ApiError::Unauthenticated(
                "write key is unknown or revoked".into(),
            ));
        };
        if let Ok(mut m) = self.found.write() {
            if m.len() >= MAX_KEYS {
                m.clear();
            }
            m.insert(hashed, (Instant::now(), row.clone()));
        }
        Ok(row)
    }
}

/// The event types a key may send.
pub fn scope(key: &write_key::Model) -> Vec<String> {
    serde_json::from_str(&key.event_types).unwrap_or_default()
}
