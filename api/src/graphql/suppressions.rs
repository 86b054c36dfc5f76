//! Suppression lists: who may not be contacted. Reading shows emails (personal data) and needs
//! `read` on `suppression:<list>`; adding and removing need `add` / `remove` and are audited.
//! The writes live in `crate::suppressions`.

use super::{actor, state};
use async_graphql::{Context, Object, Result, SimpleObject};

/// One person on one list.
#[derive(SimpleObject)]
pub struct Suppression {
    pub id: i64,
    pub list: String,
    /// Lower-case email address.
    pub email: String,
    pub reason: Option<String>,
    /// `graphql` (added by a person, `addedBy`), `ingest:event` (an `event.unsubscribed`) or
    /// `ingest:identify` (an identify with `unsubscribed: true` or `email_opt_in: false`).
    pub source: Option<String>,
    pub added_by: Option<String>,
    pub created_at: String,
}

impl From<entity::suppression::Model> for Suppression {
    fn from(m: entity::suppression::Model) -> Self {
        Self {
            id: m.id,
            list: m.list,
            email: m.email,
            reason: m.reason,
            source: m.source,
            added_by: m.added_by,
            created_at: m.created_at,
        }
    }
}

#[derive(Default)]
pub struct SuppressionQuery;

#[Object]
impl SuppressionQuery {
    /// Entries of a suppression list (default `global-unsubscribes`), newest first, up to
    /// `first` (default 50, at most 100); `email` looks one address up.
    async fn suppressions(
        &self,
        ctx: &Context<'_>,
        list: Option<String>,
        email: Option<String>,
        first: Option<i32>,
    ) -> Result<Vec<Suppression>> {
        let list = list.unwrap_or_else(|| crate::suppressions::GLOBAL.into());
        let first = super::page_size(first.or(Some(50)))?;
        let rows =
            crate::suppressions::list(state(ctx)?, actor(ctx)?, &list, email.as_deref(), first)
                .await?;
        Ok(rows.into_iter().map(Suppression::from).collect())
    }
}

#[derive(Default)]
pub struct SuppressionMutation;

#[Object]
impl SuppressionMutation {
    /// Puts `email` on suppression list `list` (default `global-unsubscribes`): no workflow
    /// contacts them any more. No change if they are on it already. Audited.
    async fn add_suppression(
        &self,
        ctx: &Context<'_>,
        list: Option<String>,
        email: String,
        reason: Option<String>,
    ) -> Result<Suppression> {
        let list = list.unwrap_or_else(|| crate::suppressions::GLOBAL.into());
        let row =
            crate::suppressions::add(state(ctx)?, actor(ctx)?, &list, &email, reason.as_deref())
                .await?;
        Ok(row.into())
    }

    /// Takes `email` off list `list` (default `global-unsubscribes`); returns the entry removed.
    /// Audited.
    async fn remove_suppression(
        &self,
        ctx: &Context<'_>,
        list: Option<String>,
        email: String,
    ) -> Result<Suppression> {
        let list = list.unwrap_or_else(|| crate::suppressions::GLOBAL.into());
        let row = crate::suppressions::remove(state(ctx)?, actor(ctx)?, &list, &email).await?;
        Ok(row.into())
    }
}
