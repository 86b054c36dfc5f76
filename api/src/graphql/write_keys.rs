//! Write keys for event sources: created by platform roles, shown once.

use super::{actor, state};
use crate::ingest::write_keys;
use async_graphql::{Context, Object, Result, SimpleObject};

#[derive(SimpleObject)]
pub struct WriteKey {
    pub id: i64,
    pub name: String,
    /// Event types (contract names) the key may send.
    pub event_types: Vec<String>,
    /// Last four characters of the key.
    pub key_hint: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<entity::write_key::Model> for WriteKey {
    fn from(m: entity::write_key::Model) -> Self {
        Self {
            event_types: write_keys::scope(&m),
            id: m.id,
            name: m.name,
            key_hint: m.key_hint,
            created_by: m.created_by,
            created_at: m.created_at,
        }
    }
}

/// A new key: the only time `key` is ever returned.
#[derive(SimpleObject)]
pub struct CreatedWriteKey {
    pub write_key: WriteKey,
    /// Send as HTTP basic user or bearer token. Store it now: it cannot be shown again.
    pub key: String,
}

#[derive(Default)]
pub struct WriteKeyMutation;

#[Object]
impl WriteKeyMutation {
    /// Creates a write key for an event source. Requires `create` on `ingest:write-keys`.
    async fn create_write_key(
        &self,
        ctx: &Context<'_>,
        name: String,
        event_types: Vec<String>,
    ) -> Result<CreatedWriteKey> {
        let st = state(ctx)?;
        let (row, key) =
            write_keys::create(&st.db, &st.policy, actor(ctx)?, &name, &event_types).await?;
        Ok(CreatedWriteKey {
            write_key: row.into(),
            key,
        })
    }
}
