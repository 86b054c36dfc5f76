//! Alerts in GraphQL: `alerts(filter)`, `acknowledgeAlert`, `snoozeAlert` (service in
//! `crate::alerts`).

use super::{actor, state};
use crate::alerts::{self, Act, AlertFilter};
use async_graphql::{Context, Object, Result, SimpleObject};

/// A business-impact alert about a workflow.
#[derive(SimpleObject)]
pub struct Alert {
    pub id: i64,
    /// The workflow (instance) it is about.
    pub instance: i64,
    /// `freshness`, `failure_rate`, `dead_letters`, `latency`, `drift`, `auth`, `sunset`, `silent`.
    pub rule: String,
    /// `info`, `warning`, `critical`.
    pub severity: String,
    /// `open`, `acknowledged`, `snoozed`, `resolved`.
    pub status: String,
    /// 0 when raised, 1 after an hour unresolved, 2 after four.
    pub level: i32,
    /// The consequence in one sentence, with its counts.
    pub message: String,
    pub facts: serde_json::Value,
    pub owner: String,
    pub owner_team: Option<String>,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub resolved_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub snoozed_until: Option<String>,
}

pub(super) fn to_alert(m: entity::alert::Model) -> Alert {
    Alert {
        facts: serde_json::from_str(&m.facts).unwrap_or(serde_json::Value::Null),
        id: m.id,
        instance: m.instance_id,
        rule: m.rule,
        severity: m.severity,
        status: m.status,
        level: m.level,
        message: m.message,
        owner: m.owner,
        owner_team: m.owner_team,
        first_seen_at: m.first_seen_at,
        last_seen_at: m.last_seen_at,
        resolved_at: m.resolved_at,
        acknowledged_by: m.acknowledged_by,
        snoozed_until: m.snoozed_until,
    }
}

#[derive(Default)]
pub struct AlertQuery;

#[Object]
impl AlertQuery {
    /// Alerts about the workflows the caller may read, newest first (unresolved ones unless
    /// `filter.status` says otherwise; at most `first`, default 50, at most 200).
    async fn alerts(
        &self,
        ctx: &Context<'_>,
        filter: Option<AlertFilter>,
        first: Option<i32>,
    ) -> Result<Vec<Alert>> {
        let st = state(ctx)?;
        let limit = match first {
            None => 50,
            Some(n) if (1..=200).contains(&n) => u64::try_from(n).unwrap_or(50),
            Some(n) => {
                return Err(crate::error::ApiError::bad_input(
                    "first",
                    format!("must be between 1 and 200, got {n}"),
                )
                .into());
            }
        };
        let rows = alerts::list(
            &st.db,
            &st.policy,
            actor(ctx)?,
            &filter.unwrap_or_default(),
            limit,
        )
        .await?;
        Ok(rows.into_iter().map(to_alert).collect())
    }
}

#[derive(Default)]
pub struct AlertMutation;

#[Object]
impl AlertMutation {
    /// Acknowledges an alert: it stops escalating, and still resolves by itself.
    async fn acknowledge_alert(&self, ctx: &Context<'_>, id: i64) -> Result<Alert> {
        let st = state(ctx)?;
        Ok(to_alert(
            alerts::act(
                &st.db,
                &st.policy,
                &st.changes,
                actor(ctx)?,
                id,
                Act::Acknowledge,
            )
            .await?,
        ))
    }

    /// Snoozes an alert for `minutes` (1 to 10,080): no notification until then.
    async fn snooze_alert(&self, ctx: &Context<'_>, id: i64, minutes: i32) -> Result<Alert> {
        let st = state(ctx)?;
        Ok(to_alert(
            alerts::act(
                &st.db,
                &st.policy,
                &st.changes,
                actor(ctx)?,
                id,
                Act::Snooze(i64::from(minutes)),
            )
            .await?,
        ))
    }
}
