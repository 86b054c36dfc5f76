//! Workflow health, counted as it happens. The transactions that record runs and attempts add
//! what they recorded to a [`Tally`], which is written before they commit: per instance, one
//! row per minute and one per hour in `health_buckets` (events, runs by status, duplicates,
//! deliveries, complete records, a latency histogram), the fields withheld or missing and why in
//! `health_fields` (per hour), and the last event / success / failure in `instance_states`.
//! A health query then reads at most a few hundred small rows, however long the history.
//!
//! Counts are added (`x = x + excluded.x`), so several workers and processes can write the same
//! bucket; they are written in the same transaction as what they count, so they never count a
//! run or an attempt that was not recorded.
//!
//! On PostgreSQL a row being added to is locked until its transaction commits, so every
//! transaction recording for one busy workflow would wait for the one before it. Each row
//! therefore has a `shard`: a transaction writes to one of [`SHARDS`] shards, taken in turn,
//! and readers sum (or take the latest) over shards. Rows are written in key order, so two
//! transactions never lock the same rows in opposite orders. SQLite has one writer at a time
//! and writes shard 0 only.

use entity::documents::record::DeliveryFields;
use entity::status::{DeliveryStatus, RunStatus};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};

/// Upper bounds (ms) of the latency histogram; one more bucket holds everything slower.
pub const LATENCY_BOUNDS_MS: [i64; 18] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000,
    900_000, 3_600_000,
];
/// Histogram buckets: the bounds above and "slower".
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// The counters of one bucket, in column order.
pub const COUNTERS: [&str; 14] = [
    "events",
    "runs_succeeded",
    "runs_skipped",
    "runs_rejected",
    "runs_failed",
    "runs_waiting",
    "runs_expired",
    "duplicates",
    "delivered",
    "attempts_failed",
    "retried",
    "dead",
    "records_complete",
    "records_incomplete",
];

/// Shards per bucket on PostgreSQL.
pub const SHARDS: i32 = 8;

/// The shard the next transaction on `backend` writes to.
fn next_shard(backend: DbBackend) -> i32 {
    static NEXT: AtomicI32 = AtomicI32::new(0);
    match backend {
        DbBackend::Postgres => NEXT.fetch_add(1, Ordering::Relaxed).rem_euclid(SHARDS),
        _ => 0,
    }
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// Counters of one instance in one time bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub c: [i64; COUNTERS.len()],
    pub lat: [i64; LATENCY_BUCKETS],
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        for (a, b) in self.c.iter_mut().zip(other.c) {
            *a += b;
        }
        for (a, b) in self.lat.iter_mut().zip(other.lat) {
            *a += b;
        }
    }

    fn bump(&mut self, counter: &str) {
        if let Some(i) = COUNTERS.iter().position(|c| *c == counter) {
            self.c[i] += 1;
        }
    }
}

/// The latency bucket of `ms`.
pub fn latency_bucket(ms: i64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

#[derive(Debug, Default, Clone)]
struct State {
    last_event_at: Option<String>,
    last_run_at: Option<String>,
    last_success_at: Option<String>,
    last_failure_at: Option<String>,
    last_auth_failure_at: Option<String>,
}

fn later(a: &mut Option<String>, b: String) {
    if a.as_deref().is_none_or(|x| x < b.as_str()) {
        *a = Some(b);
    }
}

/// What one transaction recorded, to be added to the health tables in that transaction.
#[derive(Debug, Default)]
pub struct Tally {
    /// When what is tallied happened (epoch ms); `None` = now.
    at: Option<i64>,
    buckets: HashMap<(i64, i64), Counts>,
    fields: HashMap<(i64, i64, String, String), i64>,
    states: HashMap<i64, State>,
}

impl Tally {
    /// A tally of things that happened at `ms` (epoch milliseconds) rather than now: for
    /// backfills and for the health benchmark, which builds a long history through this code.
    pub fn at(ms: i64) -> Self {
        Self {
            at: Some(ms),
            ..Self::default()
        }
    }

    fn now_ms(&self) -> i64 {
        self.at.unwrap_or_else(entity::clock::now_ms)
    }

    fn now_string(&self) -> String {
        match self.at.and_then(chrono::DateTime::from_timestamp_millis) {
            Some(t) => entity::clock::format(t),
            None => entity::clock::now_string(),
        }
    }

    fn counts(&mut self, instance: i64) -> &mut Counts {
        let minute = self.now_ms() / MINUTE * MINUTE;
        self.buckets.entry((instance, minute)).or_default()
    }

    /// A run ended (or parked) with `status`; `from_event` when an event started it.
    pub fn run(&mut self, instance: i64, status: RunStatus, from_event: bool) {
        let counts = self.counts(instance);
        if from_event {
            counts.bump("events");
        }
        counts.bump(match status {
            RunStatus::Succeeded => "runs_succeeded",
            RunStatus::Skipped => "runs_skipped",
            RunStatus::Rejected => "runs_rejected",
            RunStatus::Failed => "runs_failed",
            RunStatus::Waiting | RunStatus::WaitingApproval | RunStatus::Running => "runs_waiting",
            RunStatus::Expired => "runs_expired",
        });
        let now = self.now_string();
        let s = self.states.entry(instance).or_default();
        later(&mut s.last_run_at, now.clone());
        if from_event {
            later(&mut s.last_event_at, now);
        }
    }

    /// A run ended as a duplicate of an earlier one.
    pub fn duplicate(&mut self, instance: i64) {
        self.counts(instance).bump("duplicates");
    }

    /// A delivery was made: did its record carry every intended field?
    pub fn record(&mut self, instance: i64, fields: &DeliveryFields) {
        let complete = fields.complete();
        self.counts(instance).bump(if complete {
            "records_complete"
        } else {
            "records_incomplete"
        });
        let hour = self.now_ms() / HOUR * HOUR;
        for (field, why) in &fields.withheld {
            let reason = format!("withheld: {}", why.rule);
            *self
                .fields
                .entry((
                    instance,
                    hour,
                    field.clone(),
                    reason.chars().take(300).collect(),
                ))
                .or_default() += 1;
        }
        for field in &fields.missing {
            *self
                .fields
                .entry((
                    instance,
                    hour,
                    field.clone(),
                    "missing: not in the input".into(),
                ))
                .or_default() += 1;
        }
    }

    /// An attempt was recorded: its delivery is now `status` after attempt `n`.
    pub fn attempt(
        &mut self,
        instance: i64,
        status: DeliveryStatus,
        n: u32,
        latency_ms: Option<i64>,
        code: Option<i32>,
    ) {
        let counts = self.counts(instance);
        match status {
            DeliveryStatus::Delivered => {
                counts.bump("delivered");
                if n > 1 {
                    counts.bump("retried");
                }
                if let Some(ms) = latency_ms {
                    counts.lat[latency_bucket(ms)] += 1;
                }
            }
            DeliveryStatus::Retrying => counts.bump("attempts_failed"),
            DeliveryStatus::Dead => {
                counts.bump("attempts_failed");
                counts.bump("dead");
            }
            DeliveryStatus::Pending | DeliveryStatus::Refused => {}
        }
        let now = self.now_string();
        let s = self.states.entry(instance).or_default();
        match status {
            DeliveryStatus::Delivered => later(&mut s.last_success_at, now),
            _ => {
                if matches!(code, Some(401 | 403)) {
                    later(&mut s.last_auth_failure_at, now.clone());
                }
                later(&mut s.last_failure_at, now);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty() && self.fields.is_empty() && self.states.is_empty()
    }

    /// Adds everything to the health tables, inside the caller's transaction.
    pub async fn flush<C: ConnectionTrait>(self, tx: &C) -> Result<(), DbErr> {
        let mut writes = crate::db::Writes::default();
        self.stage(tx.get_database_backend(), &mut writes);
        writes.run(tx).await
    }

    /// The statements of [`Self::flush`], for the caller to send with its other writes.
    pub fn stage(self, backend: DbBackend, writes: &mut crate::db::Writes) {
        let shard = next_shard(backend);
        let mut hours: HashMap<(i64, i64), Counts> = HashMap::new();
        for ((instance, minute), counts) in &self.buckets {
            hours
                .entry((*instance, minute / HOUR * HOUR))
                .or_default()
                .add(counts);
        }
        // Minute and hour buckets in one statement (one round trip per transaction), in key
        // order (the order rows are locked in).
        let mut rows: Vec<(i64, &str, i64, &Counts)> = self
            .buckets
            .iter()
            .map(|((i, m), c)| (*i, "m", *m, c))
            .chain(hours.iter().map(|((i, h), c)| (*i, "h", *h, c)))
            .collect();
        rows.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        for chunk in rows.chunks(16) {
            writes.push(upsert_buckets(backend, chunk, shard));
        }
        let mut fields: Vec<_> = self.fields.into_iter().collect();
        fields.sort();
        for ((instance, hour, field, reason), n) in fields {
            let sql = format!(
                "INSERT INTO health_fields (instance_id, bucket, field, reason, count, shard) VALUES ({}) \
                 ON CONFLICT (instance_id, bucket, field, reason, shard) DO UPDATE SET count = health_fields.count + excluded.count",
                marks(backend, 1, 6)
            );
            let values: Vec<Value> = vec![
                instance.into(),
                hour.into(),
                field.into(),
                reason.into(),
                n.into(),
                shard.into(),
            ];
            writes.push(Statement::from_sql_and_values(backend, sql, values));
        }
        let mut states: Vec<_> = self.states.into_iter().collect();
        states.sort_by_key(|(instance, _)| *instance);
        for (instance, s) in states {
            writes.push(upsert_state(backend, instance, s, shard));
        }
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

fn lat_columns() -> Vec<String> {
    (0..LATENCY_BUCKETS)
        .map(|i| format!("lat_{i:02}"))
        .collect()
}

fn upsert_buckets(backend: DbBackend, rows: &[(i64, &str, i64, &Counts)], shard: i32) -> Statement {
    let mut cols: Vec<String> = COUNTERS.iter().map(|c| (*c).to_string()).collect();
    cols.extend(lat_columns());
    let mut values: Vec<Value> = Vec::new();
    let mut tuples = Vec::with_capacity(rows.len());
    for (instance, grain, bucket, counts) in rows {
        let from = values.len() + 1;
        values.extend([(*instance).into(), (*grain).into(), (*bucket).into()]);
        values.extend(counts.c.iter().map(|v| Value::from(*v)));
        values.extend(counts.lat.iter().map(|v| Value::from(*v)));
        values.push(shard.into());
        tuples.push(format!(
            "({})",
            marks(backend, from, values.len() + 1 - from)
        ));
    }
    let set: Vec<String> = cols
        .iter()
        .map(|c| format!("{c} = health_buckets.{c} + excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO health_buckets (instance_id, grain, bucket, {}, shard) VALUES {} \
         ON CONFLICT (instance_id, grain, bucket, shard) DO UPDATE SET {}",
        cols.join(", "),
        tuples.join(", "),
        set.join(", ")
    );
    Statement::from_sql_and_values(backend, sql, values)
}

fn upsert_state(backend: DbBackend, instance: i64, s: State, shard: i32) -> Statement {
    let cols = [
        "last_event_at",
        "last_run_at",
        "last_success_at",
        "last_failure_at",
        "last_auth_failure_at",
    ];
    let set: Vec<String> = cols
        .iter()
        .map(|c| {
            format!(
                "{c} = CASE WHEN excluded.{c} IS NOT NULL AND (instance_states.{c} IS NULL OR excluded.{c} > instance_states.{c}) \
                 THEN excluded.{c} ELSE instance_states.{c} END"
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO instance_states (instance_id, {}, updated_at, shard) VALUES ({}) \
         ON CONFLICT (instance_id, shard) DO UPDATE SET {}, updated_at = excluded.updated_at",
        cols.join(", "),
        marks(backend, 1, cols.len() + 3),
        set.join(", ")
    );
    let values: Vec<Value> = vec![
        instance.into(),
        s.last_event_at.into(),
        s.last_run_at.into(),
        s.last_success_at.into(),
        s.last_failure_at.into(),
        s.last_auth_failure_at.into(),
        entity::clock::now_string().into(),
        shard.into(),
    ];
    Statement::from_sql_and_values(backend, sql, values)
}

/// The counters of `instances` in buckets of `grain` (`m` or `h`) from `since_ms` (inclusive)
/// to `until_ms` (exclusive).
pub async fn sum<C: ConnectionTrait>(
    db: &C,
    instances: &[i64],
    grain: &str,
    since_ms: i64,
    until_ms: i64,
) -> Result<Counts, DbErr> {
    let mut out = Counts::default();
    if instances.is_empty() {
        return Ok(out);
    }
    let backend = db.get_database_backend();
    let mut cols: Vec<String> = COUNTERS.iter().map(|c| (*c).to_string()).collect();
    cols.extend(lat_columns());
    let sums: Vec<String> = cols
        .iter()
        .map(|c| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT) AS {c}"))
        .collect();
    let sql = format!(
        "SELECT {} FROM health_buckets WHERE grain = {} AND bucket >= {} AND bucket < {} AND instance_id IN ({})",
        sums.join(", "),
        marks(backend, 1, 1),
        marks(backend, 2, 1),
        marks(backend, 3, 1),
        marks(backend, 4, instances.len())
    );
    let mut values: Vec<Value> = vec![grain.into(), since_ms.into(), until_ms.into()];
    values.extend(instances.iter().map(|i| Value::from(*i)));
    if let Some(row) = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        for (i, c) in COUNTERS.iter().enumerate() {
            out.c[i] = row.try_get::<i64>("", c)?;
        }
        for (i, c) in lat_columns().iter().enumerate() {
            out.lat[i] = row.try_get::<i64>("", c)?;
        }
    }
    Ok(out)
}

impl Counts {
    /// Counter `name` (one of [`COUNTERS`]).
    pub fn get(&self, name: &str) -> i64 {
        COUNTERS
            .iter()
            .position(|c| *c == name)
            .map_or(0, |i| self.c[i])
    }

    /// The `p` quantile of latency (ms): the upper bound of the bucket that holds it.
    pub fn latency_ms(&self, p: f64) -> Option<i64> {
        let total: i64 = self.lat.iter().sum();
        if total == 0 {
            return None;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let rank = ((total as f64) * p).ceil().max(1.0) as i64;
        let mut seen = 0;
        for (i, n) in self.lat.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let last = LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1];
                return Some(LATENCY_BOUNDS_MS.get(i).copied().unwrap_or(last * 2));
            }
        }
        None
    }
}

/// Deletes minute buckets older than two hours and hour buckets (and field counts) older than
/// eight days: the 1 h, 24 h and 7 d windows never need more.
pub async fn prune<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let now = entity::clock::now_ms();
    let mut n = 0;
    for (sql, cutoff) in [
        (
            "DELETE FROM health_buckets WHERE grain = 'm' AND bucket < {}",
            now - 2 * HOUR,
        ),
        (
            "DELETE FROM health_buckets WHERE grain = 'h' AND bucket < {}",
            now - 8 * 24 * HOUR,
        ),
        (
            "DELETE FROM health_fields WHERE bucket < {}",
            now - 8 * 24 * HOUR,
        ),
    ] {
        let sql = sql.replace("{}", &marks(backend, 1, 1));
        n += db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [cutoff.into()],
            ))
            .await?
            .rows_affected();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_into_their_buckets() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(3), 2);
        assert_eq!(latency_bucket(1_000), 9);
        assert_eq!(latency_bucket(10_000_000), LATENCY_BOUNDS_MS.len());
    }
}
