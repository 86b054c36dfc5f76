//! Retention over GraphQL: how long each data class is kept (`retention`, `read` on
//! `retention:settings`) and changing it (`setRetention`, `set` on `retention:settings`,
//! audited; refused below the configured minimum).

use super::{actor, state};
use crate::access::{self, Ask};
use crate::governance::retention::{self, DataClass, Setting};
use async_graphql::{Context, Object, Result, SimpleObject};

/// One data class's retention.
#[derive(SimpleObject)]
pub struct Retention {
    pub data_class: DataClass,
    pub days: i32,
    /// The shortest retention the configuration allows.
    pub minimum_days: i32,
    /// Who set it and when; absent for the configured default.
    pub set_by: Option<String>,
    pub set_at: Option<String>,
    /// When the purge last ran (any class).
    pub last_purge_at: Option<String>,
}

fn shape(s: Setting, minimum: u32, last: Option<String>) -> Retention {
    let (set_by, set_at) = s.set_by.unzip();
    Retention {
        data_class: s.class,
        days: i32::try_from(s.days).unwrap_or(i32::MAX),
        minimum_days: i32::try_from(minimum).unwrap_or(i32::MAX),
        set_by,
        set_at,
        last_purge_at: last,
    }
}

#[derive(Default)]
pub struct RetentionQuery;

#[Object]
impl RetentionQuery {
    /// How long each data class is kept before the scheduled purge deletes it.
    async fn retention(&self, ctx: &Context<'_>) -> Result<Vec<Retention>> {
        let st = state(ctx)?;
        access::check(
            &st.policy,
            actor(ctx)?,
            Ask::unowned("retention:settings", "read"),
        )?;
        let cfg = &st.config.retention;
        let last = retention::last_purge(&st.db).await?;
        Ok(retention::settings(&st.db, cfg)
            .await?
            .into_iter()
            .map(|s| shape(s, cfg.minimum_days, last.clone()))
            .collect())
    }
}

#[derive(Default)]
pub struct RetentionMutation;

#[Object]
impl RetentionMutation {
    /// Keeps `dataClass` for `days` (at least the configured minimum). Needs `set` on
    /// `retention:settings`; audited as `retention.set`.
    async fn set_retention(
        &self,
        ctx: &Context<'_>,
        data_class: DataClass,
        days: i32,
    ) -> Result<Retention> {
        let st = state(ctx)?;
        let act = actor(ctx)?;
        let target = format!("retention:{}", data_class.as_str());
        access::authorize(
            &st.db,
            &st.policy,
            act,
            Ask::unowned("retention:settings", "set"),
            ("retention.set", &target),
        )
        .await?;
        let cfg = &st.config.retention;
        let s = retention::set(&st.db, cfg, act, data_class, days).await?;
        let last = retention::last_purge(&st.db).await?;
        Ok(shape(s, cfg.minimum_days, last))
    }
}
