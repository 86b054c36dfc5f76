//! Summing health buckets for a set of instances over a window.

use crate::error::ApiResult;
use entity::documents::contract::ContractDef;
use entity::documents::template::Trigger;
use entity::instance;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use worker::health::Counts;

/// The time a health figure covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum Window {
    /// The last hour (minute buckets).
    H1,
    /// The last 24 hours (hour buckets).
    H24,
    /// The last 7 days (hour buckets).
    D7,
}

impl Window {
    fn grain_and_span(self) -> (&'static str, i64) {
        match self {
            Window::H1 => ("m", 3_600_000),
            Window::H24 => ("h", 24 * 3_600_000),
            Window::D7 => ("h", 7 * 24 * 3_600_000),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Window::H1 => "the last hour",
            Window::H24 => "the last 24 hours",
            Window::D7 => "the last 7 days",
        }
    }
}

/// One field that did not leave with its records, and why.
#[derive(Debug, Clone)]
pub struct FieldGap {
    pub field: String,
    pub reason: String,
    pub count: i64,
}

/// What the counters say for a set of instances over a window.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub counts: Counts,
    pub dead_letters_open: i64,
    pub last_event_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_failure_at: Option<String>,
    pub last_auth_failure_at: Option<String>,
    pub gaps: Vec<FieldGap>,
    /// The freshness SLA (minutes) and the time the SLA is measured from, when there is one.
    pub freshness: Option<(i64, Option<String>)>,
}

impl Health {
    pub fn counter(&self, name: &str) -> i64 {
        self.counts.get(name)
    }

    /// The `p` quantile of latency (ms): the upper bound of the bucket holding it.
    pub fn latency_ms(&self, p: f64) -> Option<i64> {
        self.counts.latency_ms(p)
    }
}

fn marks(backend: DbBackend, from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".into(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Health of `instances` over `window`; the freshness SLA is the trigger contract's (taken from
/// the first instance: rollups over mixed templates report none).
pub async fn for_instances(
    db: &DatabaseConnection,
    instances: &[instance::Model],
    window: Window,
) -> ApiResult<Health> {
    let mut h = Health::default();
    if instances.is_empty() {
        return Ok(h);
    }
    let backend = db.get_database_backend();
    let ids: Vec<Value> = instances.iter().map(|i| Value::from(i.id)).collect();
    let (grain, span) = window.grain_and_span();
    let now = entity::clock::now_ms();
    let since = match grain {
        "h" => (now - span) / 3_600_000 * 3_600_000,
        _ => now - span,
    };
    let all: Vec<i64> = instances.iter().map(|i| i.id).collect();
    h.counts = worker::health::sum(db, &all, grain, since, now + 1).await?;
    let sql = format!(
        "SELECT field, reason, CAST(SUM(count) AS BIGINT) AS n FROM health_fields WHERE bucket >= {} AND instance_id IN ({}) \
         GROUP BY field, reason ORDER BY n DESC LIMIT 50",
        marks(backend, 1, 1),
        marks(backend, 2, ids.len())
    );
    let since_hour = (now - span.max(3_600_000)) / 3_600_000 * 3_600_000;
    let mut values: Vec<Value> = vec![since_hour.into()];
    values.extend(ids.iter().cloned());
    for row in db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        h.gaps.push(FieldGap {
            field: row.try_get("", "field")?,
            reason: row.try_get("", "reason")?,
            count: row.try_get::<i64>("", "n")?,
        });
    }
    let sql = format!(
        "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'dead' AND instance_id IN ({})",
        marks(backend, 1, ids.len())
    );
    if let Some(row) = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, ids.clone()))
        .await?
    {
        h.dead_letters_open = row.try_get::<i64>("", "n")?;
    }
    let sql = format!(
        "SELECT MAX(last_event_at) AS e, MAX(last_success_at) AS s, MAX(last_failure_at) AS f, \
         MAX(last_auth_failure_at) AS a FROM instance_states WHERE instance_id IN ({})",
        marks(backend, 1, ids.len())
    );
    if let Some(row) = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, ids))
        .await?
    {
        h.last_event_at = row.try_get("", "e").ok().flatten();
        h.last_success_at = row.try_get("", "s").ok().flatten();
        h.last_failure_at = row.try_get("", "f").ok().flatten();
        h.last_auth_failure_at = row.try_get("", "a").ok().flatten();
    }
    h.freshness = freshness(db, &instances[0], &h).await?;
    Ok(h)
}

/// The freshness SLA of `inst` and the time it is measured from: the last matching event for
/// event workflows, the last successful delivery for scheduled ones (syncs, exports).
async fn freshness(
    db: &DatabaseConnection,
    inst: &instance::Model,
    h: &Health,
) -> ApiResult<Option<(i64, Option<String>)>> {
    let Some(version) =
        worker::catalog::version(db, "template", &inst.template, &inst.template_version).await?
    else {
        return Ok(None);
    };
    let Ok(def) = entity::documents::template::TemplateDef::parse(&version.definition) else {
        return Ok(None);
    };
    let Some(contract) = def.input_contract() else {
        return Ok(None);
    };
    let Some(c) = worker::catalog::current(db, "contract", contract).await? else {
        return Ok(None);
    };
    let Ok(cdef) = ContractDef::parse(&c.definition) else {
        return Ok(None);
    };
    let basis = match def.trigger {
        Trigger::Event { .. } => h.last_event_at.clone(),
        _ => h.last_success_at.clone(),
    };
    Ok(Some((i64::from(cdef.freshness_sla_minutes), basis)))
}
