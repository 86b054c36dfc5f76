//! Switchyard's job queue: the `work_queue` table, and the apalis workers that consume it.
//!
//! A job is staged in the transaction of the change that causes it (`stage`). A consumer claims
//! due rows in one statement by moving their `run_at` forward by a lease and stamping itself as
//! `claimed_by` (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so processes split the work); it renews
//! the leases of what it holds every heartbeat. The transaction that records a job's result
//! first deletes the job's row, fenced on (`claimed_by`, `claims`): a worker that was frozen or
//! cut off and lost its lease finds nothing to delete and records nothing. A worker that dies
//! lets its leases run out; the rows are due again and another worker takes them.
//!
//! `backend` turns this into apalis backends (one for steps, one for delivery attempts);
//! `wake` carries "new work" between and within processes; `legacy` adopts jobs an older
//! version left in the outbox.

pub mod backend;
pub mod legacy;
mod stage;
pub mod wake;

pub use stage::{NewJob, PG_CHANNEL, RUN_LANE, Staged as Claimed, cancel, connection_lane, stage};

use crate::jobs::{Job, Kind};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};
use std::collections::HashSet;

/// Which lanes a claim may take from.
pub enum Lanes<'a> {
    Any,
    Only(&'a str),
    Except(&'a [String]),
}

fn ph(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

/// Claims up to `limit` due jobs of `kind` for `node` until `lease_until_ms`.
pub async fn claim(
    db: &DatabaseConnection,
    kind: Kind,
    node: &str,
    limit: usize,
    lease_until_ms: i64,
    lanes: Lanes<'_>,
) -> Result<Vec<Claimed>, DbErr> {
    let backend = db.get_database_backend();
    let now = entity::clock::now_ms();
    let mut values: Vec<Value> = vec![
        lease_until_ms.into(),
        node.into(),
        kind.as_str().into(),
        now.into(),
    ];
    let mut filter = String::new();
    match lanes {
        Lanes::Any => {}
        Lanes::Only(lane) => {
            values.push(lane.into());
            filter = format!(" AND lane = {}", ph(backend, values.len()));
        }
        Lanes::Except(list) if !list.is_empty() => {
            let mut marks = Vec::new();
            for lane in list {
                values.push(lane.as_str().into());
                marks.push(ph(backend, values.len()));
            }
            filter = format!(" AND lane NOT IN ({})", marks.join(", "));
        }
        Lanes::Except(_) => {}
    }
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE work_queue SET run_at = {}, claimed_by = {}, claims = claims + 1 \
         WHERE id IN (SELECT id FROM work_queue WHERE kind = {} AND run_at <= {}{filter} \
         ORDER BY run_at LIMIT {}{lock}) RETURNING id, lane, job, claims, trace",
        ph(backend, 1),
        ph(backend, 2),
        ph(backend, 3),
        ph(backend, 4),
        ph(backend, values.len()),
    );
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    let rows = if backend == DbBackend::Sqlite {
        let tx = crate::db::begin_write(db).await?;
        let rows = tx.query_all_raw(stmt).await?;
        tx.commit().await?;
        rows
    } else {
        db.query_all_raw(stmt).await?
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        let text: String = row.try_get("", "job")?;
        let job: Job = match serde_json::from_str(&text) {
            Ok(job) => job,
            Err(e) => {
                // A job this binary cannot read (from a newer version): leave it for one that can.
                tracing::error!(job_id = id, error = %e, "unreadable job left in the queue");
                continue;
            }
        };
        out.push(Claimed {
            id,
            job,
            lane: row.try_get("", "lane")?,
            claims: row.try_get("", "claims")?,
            trace: row.try_get("", "trace")?,
        });
    }
    Ok(out)
}

/// Deletes the rows of finished jobs that `node` still holds (same claim); returns their ids.
/// Call it first in the transaction recording the results, and record only for those ids.
pub async fn finish<C: ConnectionTrait>(
    tx: &C,
    node: &str,
    jobs: &[(i64, i32)],
) -> Result<HashSet<i64>, DbErr> {
    let backend = tx.get_database_backend();
    let mut owned = HashSet::new();
    for chunk in jobs.chunks(200) {
        let mut values: Vec<Value> = vec![node.into()];
        let mut terms = Vec::with_capacity(chunk.len());
        for (id, claims) in chunk {
            values.push((*id).into());
            let a = ph(backend, values.len());
            values.push((*claims).into());
            let b = ph(backend, values.len());
            terms.push(format!("(id = {a} AND claims = {b})"));
        }
        let sql = format!(
            "DELETE FROM work_queue WHERE claimed_by = {} AND ({}) RETURNING id",
            ph(backend, 1),
            terms.join(" OR ")
        );
        for row in tx
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?
        {
            owned.insert(row.try_get::<i64>("", "id")?);
        }
    }
    Ok(owned)
}

async fn update_held(
    db: &DatabaseConnection,
    node: &str,
    ids: &[i64],
    set: &str,
    value: Value,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let mut n = 0;
    for chunk in ids.chunks(500) {
        let mut values: Vec<Value> = vec![value.clone(), node.into()];
        let mut marks = Vec::with_capacity(chunk.len());
        for id in chunk {
            values.push((*id).into());
            marks.push(ph(backend, values.len()));
        }
        let sql = format!(
            "UPDATE work_queue SET {set} WHERE claimed_by = {} AND id IN ({})",
            ph(backend, 2),
            marks.join(", ")
        )
        .replace("{v}", &ph(backend, 1));
        let stmt = Statement::from_sql_and_values(backend, sql, values);
        let tx = crate::db::begin_write(db).await?;
        n += tx.execute_raw(stmt).await?.rows_affected();
        tx.commit().await?;
    }
    Ok(n)
}

/// Extends the leases of the rows `node` holds.
pub async fn renew(
    db: &DatabaseConnection,
    node: &str,
    ids: &[i64],
    lease_until_ms: i64,
) -> Result<u64, DbErr> {
    update_held(db, node, ids, "run_at = {v}", lease_until_ms.into()).await
}

/// Gives held rows back, due at `run_at_ms` (a parked destination's deliveries, a shutdown).
pub async fn release(
    db: &DatabaseConnection,
    node: &str,
    ids: &[i64],
    run_at_ms: i64,
) -> Result<u64, DbErr> {
    update_held(
        db,
        node,
        ids,
        "run_at = {v}, claimed_by = NULL",
        run_at_ms.into(),
    )
    .await
}

/// Makes every waiting delivery of `lane` due now (a parked destination answered again).
pub async fn pull_forward(db: &DatabaseConnection, lane: &str) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let now = entity::clock::now_ms();
    let sql = format!(
        "UPDATE work_queue SET run_at = {} WHERE lane = {} AND kind = 'deliver' \
         AND claimed_by IS NULL AND run_at > {}",
        ph(backend, 1),
        ph(backend, 2),
        ph(backend, 3)
    );
    let stmt = Statement::from_sql_and_values(backend, sql, [now.into(), lane.into(), now.into()]);
    let tx = crate::db::begin_write(db).await?;
    let n = tx.execute_raw(stmt).await?.rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// When the next job of `kind` becomes due (or a lease runs out), in epoch ms.
pub async fn next_due(db: &DatabaseConnection, kind: Kind) -> Result<Option<i64>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT MIN(run_at) AS next FROM work_queue WHERE kind = {}",
        ph(backend, 1)
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [kind.as_str().into()],
        ))
        .await?;
    Ok(row.and_then(|r| r.try_get::<Option<i64>>("", "next").ok().flatten()))
}

/// Jobs due now or held by a worker: zero when the queue has nothing to do until some later
/// time (a retry scheduled minutes ahead does not count).
pub async fn busy(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM work_queue WHERE run_at <= {} OR claimed_by IS NOT NULL",
        ph(backend, 1)
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [entity::clock::now_ms().into()],
        ))
        .await?;
    Ok(row
        .and_then(|r| r.try_get::<i64>("", "n").ok())
        .unwrap_or(0))
}
