//! Health in GraphQL: `instance(id) { health(window) }` and the rollups per template, connector
//! and owner team (over the workflows the caller may read). Figures come from `crate::health`.

use super::{actor, state};
use crate::health::{self, Window};
use crate::instances;
use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use entity::instance;

#[derive(SimpleObject)]
pub struct RunCounts {
    pub succeeded: i64,
    /// Filtered out on purpose: duplicates, suppressed, outside the rules.
    pub skipped: i64,
    pub rejected: i64,
    pub failed: i64,
    /// Waiting for a delay or an approval.
    pub waiting: i64,
    pub expired: i64,
}

#[derive(SimpleObject)]
pub struct DeliveryCounts {
    pub succeeded: i64,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: i64,
    /// Deliveries that succeeded after at least one failed attempt.
    pub retried: i64,
    /// Deliveries that became dead letters in the window.
    pub dead: i64,
    /// Dead letters waiting for a replay now.
    pub dead_letters_open: i64,
}

/// From the event being accepted to the destination acknowledging it.
#[derive(SimpleObject)]
pub struct LatencyFigures {
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    pub p99_ms: Option<i64>,
}

#[derive(SimpleObject)]
pub struct Freshness {
    /// The trigger contract's freshness SLA.
    pub sla_minutes: i64,
    /// Minutes since the last matching event (event workflows) or the last successful sync
    /// (scheduled workflows); since the workflow was created if there was none.
    pub minutes_since: i64,
    pub late: bool,
    /// What is measured: `last matching event` or `last successful sync`.
    pub measured_from: String,
}

#[derive(SimpleObject)]
pub struct FieldGap {
    pub field: String,
    /// `withheld: <rule>` or `missing: not in the input`.
    pub reason: String,
    pub count: i64,
}

#[derive(SimpleObject)]
pub struct Completeness {
    /// Records that left with every intended field.
    pub complete: i64,
    pub incomplete: i64,
    /// complete / (complete + incomplete); null when nothing was sent.
    pub share: Option<f64>,
    pub gaps: Vec<FieldGap>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum HealthStatus {
    Healthy,
    /// Working, with failures, dead letters or incomplete records.
    Degraded,
    /// Nothing is getting through.
    Failing,
    /// The freshness SLA is breached.
    Late,
    /// Nothing happened in the window.
    Idle,
}

#[derive(SimpleObject)]
pub struct WorkflowHealth {
    pub window: Window,
    pub status: HealthStatus,
    /// The state in one sentence a marketer understands.
    pub summary: String,
    pub events_matched: i64,
    pub runs: RunCounts,
    pub deliveries: DeliveryCounts,
    pub duplicates_suppressed: i64,
    pub latency: LatencyFigures,
    pub last_event_at: Option<String>,
    pub last_success_at: Option<String>,
    pub freshness: Option<Freshness>,
    pub completeness: Completeness,
}

fn minutes_since(at: &str) -> i64 {
    entity::clock::millis_since(at).map_or(0, |ms| ms / 60_000)
}

/// Maps the counters of `instances` to the GraphQL shape.
pub fn shape(h: health::Health, window: Window, instances: &[instance::Model]) -> WorkflowHealth {
    let freshness = h.freshness.clone().map(|(sla, basis)| {
        let created = instances
            .iter()
            .map(|i| i.created_at.clone())
            .min()
            .unwrap_or_default();
        let since = basis.as_deref().unwrap_or(&created);
        let m = minutes_since(since);
        Freshness {
            sla_minutes: sla,
            minutes_since: m,
            late: m > sla,
            measured_from: if h.last_event_at.is_some() || h.last_success_at.is_none() {
                "last matching event".into()
            } else {
                "last successful sync".into()
            },
        }
    });
    let c = |n: &str| h.counter(n);
    let (complete, incomplete) = (c("records_complete"), c("records_incomplete"));
    #[allow(clippy::cast_precision_loss)]
    let share =
        (complete + incomplete > 0).then(|| complete as f64 / (complete + incomplete) as f64);
    let runs = c("runs_succeeded") + c("runs_skipped") + c("runs_rejected") + c("runs_failed");
    let late = freshness.as_ref().is_some_and(|f| f.late);
    let status = if late {
        HealthStatus::Late
    } else if runs == 0 && c("delivered") == 0 && c("attempts_failed") == 0 {
        HealthStatus::Idle
    } else if c("delivered") == 0 && (c("attempts_failed") > 0 || c("runs_failed") > 0) {
        HealthStatus::Failing
    } else if c("dead") > 0 || c("runs_failed") > 0 || h.dead_letters_open > 0 || incomplete > 0 {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    };
    let summary = summary(&h, window, status, freshness.as_ref());
    WorkflowHealth {
        window,
        status,
        summary,
        events_matched: c("events"),
        runs: RunCounts {
            succeeded: c("runs_succeeded"),
            skipped: c("runs_skipped"),
            rejected: c("runs_rejected"),
            failed: c("runs_failed"),
            waiting: c("runs_waiting"),
            expired: c("runs_expired"),
        },
        deliveries: DeliveryCounts {
            succeeded: c("delivered"),
            failed_attempts: c("attempts_failed"),
            retried: c("retried"),
            dead: c("dead"),
            dead_letters_open: h.dead_letters_open,
        },
        duplicates_suppressed: c("duplicates"),
        latency: LatencyFigures {
            p50_ms: h.latency_ms(0.50),
            p95_ms: h.latency_ms(0.95),
            p99_ms: h.latency_ms(0.99),
        },
        last_event_at: h.last_event_at.clone(),
        last_success_at: h.last_success_at.clone(),
        freshness,
        completeness: Completeness {
            complete,
            incomplete,
            share,
            gaps: h
                .gaps
                .iter()
                .map(|g| FieldGap {
                    field: g.field.clone(),
                    reason: g.reason.clone(),
                    count: g.count,
                })
                .collect(),
        },
    }
}

fn summary(
    h: &health::Health,
    window: Window,
    status: HealthStatus,
    f: Option<&Freshness>,
) -> String {
    let c = |n: &str| h.counter(n);
    let base = format!(
        "In {}: {} events, {} delivered, {} duplicates suppressed, {} dead letters open",
        window.label(),
        c("events"),
        c("delivered"),
        c("duplicates"),
        h.dead_letters_open
    );
    match (status, f) {
        (HealthStatus::Late, Some(f)) => format!(
            "Late: nothing for {} minutes (the SLA is {} minutes, measured from the {}). {base}.",
            f.minutes_since, f.sla_minutes, f.measured_from
        ),
        (HealthStatus::Failing, _) => format!("Failing: nothing got through. {base}."),
        (HealthStatus::Idle, _) => format!("Idle: nothing happened in {}.", window.label()),
        _ => format!("{base}."),
    }
}

#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// Health of every workflow built from `template` that the caller may read.
    async fn template_health(
        &self,
        ctx: &Context<'_>,
        template: String,
        window: Window,
    ) -> Result<WorkflowHealth> {
        rollup(ctx, window, |i| i.template == template).await
    }

    /// Health of every workflow (that the caller may read) bound to a connection of `connector`.
    async fn connector_health(
        &self,
        ctx: &Context<'_>,
        connector: String,
        window: Window,
    ) -> Result<WorkflowHealth> {
        let st = state(ctx)?;
        let ids: Vec<i64> = entity::connection::Entity::find()
            .filter(entity::connection::Column::Connector.eq(connector.as_str()))
            .all(&st.db)
            .await
            .map_err(crate::error::ApiError::from)?
            .into_iter()
            .map(|c| c.id)
            .collect();
        rollup(ctx, window, move |i| {
            serde_json::from_str::<std::collections::BTreeMap<String, i64>>(&i.bindings)
                .is_ok_and(|b| b.values().any(|c| ids.contains(c)))
        })
        .await
    }

    /// Health of every workflow owned by `team` that the caller may read.
    async fn team_health(
        &self,
        ctx: &Context<'_>,
        team: String,
        window: Window,
    ) -> Result<WorkflowHealth> {
        rollup(ctx, window, |i| {
            i.owner_team.as_deref() == Some(team.as_str())
        })
        .await
    }
}

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

async fn rollup(
    ctx: &Context<'_>,
    window: Window,
    keep: impl Fn(&instance::Model) -> bool,
) -> Result<WorkflowHealth> {
    let st = state(ctx)?;
    let rows: Vec<instance::Model> = instances::list(&st.db, &st.policy, actor(ctx)?, None)
        .await?
        .into_iter()
        .filter(|i| keep(i))
        .collect();
    let mut h = health::for_instances(&st.db, &rows, window).await?;
    let one_template = rows.windows(2).all(|w| w[0].template == w[1].template);
    if !one_template {
        h.freshness = None;
    }
    Ok(shape(h, window, &rows))
}
