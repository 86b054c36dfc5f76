//! Jobs left by an older Switchyard, which queued work in an `outbox` table and apalis's own job
//! tables. At start-up a worker adopts them into `work_queue` (by their dedupe keys, so two
//! workers adopting at once store each job once) and removes them from where they were, so an
//! upgrade loses no acknowledged event and no retry.

use super::{NewJob, stage};
use crate::jobs::{Job, JobV1};
use entity::{delivery, outbox};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Statement, sea_query::Expr,
};
use std::collections::HashMap;

/// Adopts every job an older version left; returns how many.
pub async fn adopt(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let mut n = adopt_outbox(db).await?;
    n += adopt_apalis(db).await?;
    if n > 0 {
        tracing::info!(jobs = n, "adopted jobs queued by an earlier version");
    }
    Ok(n)
}

/// Turns jobs into queue rows; a delivery's lane is its connection's.
async fn to_new(
    db: &DatabaseConnection,
    jobs: Vec<(Job, chrono::DateTime<chrono::Utc>)>,
) -> Result<Vec<NewJob>, DbErr> {
    let ids: Vec<i64> = jobs
        .iter()
        .filter_map(|(j, _)| match j {
            Job::V1(JobV1::Deliver { delivery_id, .. }) => Some(*delivery_id),
            _ => None,
        })
        .collect();
    let connections: HashMap<i64, i64> = if ids.is_empty() {
        HashMap::new()
    } else {
        delivery::Entity::find()
            .filter(delivery::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|d| (d.id, d.connection_id))
            .collect()
    };
    Ok(jobs
        .into_iter()
        .filter_map(|(job, at)| match &job {
            Job::V1(JobV1::Deliver {
                delivery_id,
                attempt,
            }) => connections
                .get(delivery_id)
                .map(|c| NewJob::deliver(*delivery_id, *attempt, *c, at)),
            _ => Some(NewJob::run(job, at)),
        })
        .collect())
}

async fn adopt_outbox(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let mut total = 0;
    loop {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::DispatchedAt.is_null())
            .limit(1000)
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(total);
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let jobs = rows
            .iter()
            .filter_map(|r| {
                let job = serde_json::from_str::<Job>(&r.job).ok()?;
                let at = entity::clock::parse(&r.run_at).unwrap_or_else(chrono::Utc::now);
                Some((job, at))
            })
            .collect();
        let new = to_new(db, jobs).await?;
        total += new.len();
        let tx = crate::db::begin_write(db).await?;
        stage(&tx, new).await?;
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::DispatchedAt,
                Expr::value(entity::clock::now_string()),
            )
            .filter(outbox::Column::Id.is_in(ids))
            .exec(&tx)
            .await?;
        tx.commit().await?;
    }
}

/// apalis's table of this database, if an earlier version created it.
async fn apalis_table(db: &DatabaseConnection) -> Result<Option<&'static str>, DbErr> {
    let (sql, table) = match db.get_database_backend() {
        DbBackend::Sqlite => (
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name = 'Jobs'",
            "Jobs",
        ),
        DbBackend::Postgres => (
            "SELECT to_regclass('apalis.jobs')::text AS t",
            "apalis.jobs",
        ),
        _ => return Ok(None),
    };
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    let exists = row
        .and_then(|r| r.try_get::<Option<String>>("", "t").ok().flatten())
        .is_some();
    Ok(exists.then_some(table))
}

async fn adopt_apalis(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let Some(table) = apalis_table(db).await? else {
        return Ok(0);
    };
    let backend = db.get_database_backend();
    let select = format!(
        "SELECT id, job FROM {table} WHERE job_type = 'switchyard' \
         AND status IN ('Pending', 'Queued', 'Running', 'Failed')"
    );
    let rows = db
        .query_all_raw(Statement::from_string(backend, select))
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::new();
    let mut jobs = Vec::new();
    for row in rows {
        let id: String = row.try_get("", "id")?;
        let bytes: Vec<u8> = match row.try_get::<Vec<u8>>("", "job") {
            Ok(b) => b,
            Err(_) => row.try_get::<String>("", "job")?.into_bytes(),
        };
        if let Ok(job) = serde_json::from_slice::<Job>(&bytes) {
            jobs.push((job, chrono::Utc::now()));
        }
        ids.push(id);
    }
    let new = to_new(db, jobs).await?;
    let n = new.len();
    let tx = crate::db::begin_write(db).await?;
    stage(&tx, new).await?;
    for chunk in ids.chunks(500) {
        let list: Vec<String> = chunk
            .iter()
            .map(|id| format!("'{}'", id.replace('\'', "''")))
            .collect();
        tx.execute_unprepared(&format!(
            "DELETE FROM {table} WHERE id IN ({})",
            list.join(", ")
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(n)
}
