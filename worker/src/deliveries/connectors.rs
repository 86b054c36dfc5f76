//! Built connectors, kept across attempts: opening a connection's secrets and building its
//! connector happen once, not once per delivery. An entry is dropped when the connection row
//! changed (rotated secrets, new settings: `updated_at` moves) — checked at most every few
//! seconds per connection, and at once in the process that made the change (`forget`).

use crate::connectors::{self, Connector};
use crate::engine::{Engine, lock};
use entity::connection;
use sea_orm::EntityTrait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a built connector is used before the connection row is looked at again.
const RECHECK: Duration = Duration::from_secs(5);

struct Entry {
    updated_at: String,
    checked: Instant,
    built: Result<Arc<dyn Connector>, String>,
}

#[derive(Default)]
pub struct ConnectorCache {
    entries: Mutex<HashMap<i64, Entry>>,
}

impl ConnectorCache {
    /// Forgets connection `id` (its secrets were rotated or it was deleted).
    pub fn forget(&self, id: i64) {
        lock(&self.entries).remove(&id);
    }

    /// The connector of connection `id`: `Err` with a permanent reason when the connection is
    /// gone or its settings cannot be used; `Ok(None)` only on a database error (retry).
    pub async fn get(
        &self,
        engine: &Engine,
        id: i64,
    ) -> Result<Result<Arc<dyn Connector>, String>, sea_orm::DbErr> {
        if let Some(e) = lock(&self.entries).get(&id)
            && e.checked.elapsed() < RECHECK
        {
            return Ok(e.built.clone());
        }
        let Some(row) = connection::Entity::find_by_id(id).one(&engine.db).await? else {
            self.forget(id);
            return Ok(Err(format!("connection {id} no longer exists")));
        };
        let mut entries = lock(&self.entries);
        if let Some(e) = entries.get_mut(&id)
            && e.updated_at == row.updated_at
        {
            e.checked = Instant::now();
            return Ok(e.built.clone());
        }
        let built = build(engine, &row);
        entries.insert(
            id,
            Entry {
                updated_at: row.updated_at.clone(),
                checked: Instant::now(),
                built: built.clone(),
            },
        );
        Ok(built)
    }
}

/// Decrypted settings (public settings plus opened secrets) → a connector.
fn build(engine: &Engine, row: &connection::Model) -> Result<Arc<dyn Connector>, String> {
    let mut all: serde_json::Map<String, Value> =
        serde_json::from_str(&row.settings).map_err(|e| format!("connection settings: {e}"))?;
    if !row.secret.is_empty() {
        let opened = engine
            .secrets
            .open(&row.secret)
            .map_err(|e| format!("connection secrets cannot be opened: {e}"))?;
        let secret: serde_json::Map<String, Value> = serde_json::from_slice(&opened)
            .map_err(|_| "connection secrets are not a JSON object".to_string())?;
        all.extend(secret);
    }
    connectors::build(&row.connector, &Value::Object(all), &engine.net)
        .map(Arc::from)
        .map_err(|e| e.to_string())
}
