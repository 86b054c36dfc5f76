//! Checking payloads against their contract version. Compiled validators are cached per
//! contract version id: published versions never change, so a cached validator never goes stale.
//! Which version a request's `(type, version)` resolves to is cached for [`RESOLVE_TTL`]: a
//! catalog write in this process drops it at once, one in another process is seen within it.

use super::Violation;
use crate::catalog::{
    self,
    definitions::{ContractDef, Enforcement, Kind, Lifecycle, typed},
};
use crate::error::{ApiError, ApiResult};
use jsonschema::Validator;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A contract version ready to validate payloads.
pub struct Compiled {
    pub contract: String,
    pub version: String,
    pub version_id: i64,
    pub enforcement: Enforcement,
    validator: Validator,
}

impl Compiled {
    /// Every violation of the payload, with pointers relative to the event (`/payload/…`).
    pub fn violations(&self, payload: &Value) -> Vec<Violation> {
        self.validator
            .iter_errors(payload)
            .take(50)
            .map(|e| {
                Violation::new(
                    &format!("/payload{}", e.instance_path()),
                    e.kind().keyword(),
                    e.to_string(),
                )
            })
            .collect()
    }
}

/// How long a resolved `(type, version)` is reused before the catalog is read again.
pub const RESOLVE_TTL: Duration = Duration::from_secs(1);

/// Most resolutions kept; beyond it the cache starts over (types are few, versions fewer).
const MAX_RESOLVED: usize = 4_096;

type Resolved = HashMap<(String, Option<String>), (Instant, u64, Arc<Compiled>)>;

#[derive(Default)]
pub struct ValidatorCache {
    by_version: RwLock<HashMap<i64, Arc<Compiled>>>,
    resolved: RwLock<Resolved>,
}

impl ValidatorCache {
    fn get(&self, version_id: i64) -> Option<Arc<Compiled>> {
        self.by_version
            .read()
            .ok()
            .and_then(|m| m.get(&version_id).cloned())
    }

    fn put(&self, compiled: Arc<Compiled>) {
        if let Ok(mut m) = self.by_version.write() {
            m.insert(compiled.version_id, compiled);
        }
    }

    /// The version of contract `name` events should be checked against: `version`, or the
    /// current published one. `NOT_FOUND` when there is none.
    pub async fn resolve(
        &self,
        db: &DatabaseConnection,
        name: &str,
        version: Option<&str>,
    ) -> ApiResult<Arc<Compiled>> {
        let key = (name.to_string(), version.map(str::to_string));
        let generation = catalog::generation();
        if let Some((at, seen, c)) = self.resolved.read().ok().and_then(|m| m.get(&key).cloned())
            && seen == generation
            && at.elapsed() < RESOLVE_TTL
        {
            return Ok(c);
        }
        let compiled = self.resolve_uncached(db, name, version).await?;
        if let Ok(mut m) = self.resolved.write() {
            if m.len() >= MAX_RESOLVED {
                m.clear();
            }
            m.insert(key, (Instant::now(), generation, Arc::clone(&compiled)));
        }
        Ok(compiled)
    }

    async fn resolve_uncached(
        &self,
        db: &DatabaseConnection,
        name: &str,
        version: Option<&str>,
    ) -> ApiResult<Arc<Compiled>> {
        let item = catalog::find(db, Kind::Contract, name)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("type: no contract named `{name}`")))?;
        let wanted = version.unwrap_or(&item.latest_version);
        let row = catalog::versions(db, item.id)
            .await?
            .into_iter()
            .find(|v| v.version == wanted)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "version: contract `{name}` has no version {wanted}"
                ))
            })?;
        let usable = matches!(
            Lifecycle::parse(&row.lifecycle),
            Some(Lifecycle::Published | Lifecycle::Deprecated)
        );
        if !usable {
            return Err(ApiError::NotFound(format!(
                "version: contract `{name}` {wanted} is {} and takes no events",
                row.lifecycle
            )));
        }
        if let Some(c) = self.get(row.id) {
            return Ok(c);
        }
        let def: ContractDef = typed(&row.definition)?;
        let validator = crate::contracts::schema::compile(&def.schema).map_err(|e| {
            ApiError::internal(format!(
                "stored schema of {name} {wanted} does not compile: {e}"
            ))
        })?;
        let compiled = Arc::new(Compiled {
            contract: name.to_string(),
            version: row.version.clone(),
            version_id: row.id,
            enforcement: def.enforcement,
            validator,
        });
        self.put(Arc::clone(&compiled));
        Ok(compiled)
    }
}
