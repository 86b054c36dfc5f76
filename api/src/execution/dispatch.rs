//! The dispatcher: moves outbox rows into the apalis queue, oldest first. It wakes when this
//! process staged something, when another process did (PostgreSQL `NOTIFY`), and at least
//! every 250 ms. Rows are pushed with their dedupe key as apalis's idempotency key, then
//! stamped; a crash between the two only causes a second, ignored push. Several dispatchers
//! (one per worker process) may run at once for the same reason.

use super::outbox::{self, PG_CHANNEL};
use super::queue::Queue;
use entity::outbox as row;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait, sea_query::Expr,
};
use std::time::Duration;
use worker::jobs::Job;

const BATCH: u64 = 500;
/// Dispatched rows are kept this long (for inspection), then deleted.
const KEEP_DISPATCHED: chrono::Duration = chrono::Duration::hours(1);

/// Pushes every row due for dispatch; returns how many.
///
/// On PostgreSQL the rows are claimed with `FOR UPDATE SKIP LOCKED` for the length of the
/// batch, so the dispatchers of several worker processes split the work instead of all
/// pushing the same rows.
pub async fn once(db: &DatabaseConnection, queue: &Queue) -> anyhow::Result<usize> {
    let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
    let tx = if postgres {
        Some(db.begin().await?)
    } else {
        None
    };
    let mut select = row::Entity::find()
        .filter(row::Column::DispatchedAt.is_null())
        .order_by_asc(row::Column::Id)
        .limit(BATCH);
    if postgres {
        select = select.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    let rows = match &tx {
        Some(tx) => select.all(tx).await?,
        None => select.all(db).await?,
    };
    if rows.is_empty() {
        if let Some(tx) = tx {
            tx.commit().await?;
        }
        return Ok(0);
    }
    let now = chrono::Utc::now();
    let mut ids = Vec::with_capacity(rows.len());
    let mut jobs = Vec::with_capacity(rows.len());
    for r in &rows {
        match serde_json::from_str::<Job>(&r.job) {
            Ok(job) => {
                let delay = chrono::DateTime::parse_from_rfc3339(&r.run_at)
                    .ok()
                    .and_then(|at| (at.with_timezone(&chrono::Utc) - now).to_std().ok())
                    .unwrap_or(Duration::ZERO);
                jobs.push((job, delay));
            }
            Err(e) => {
                tracing::error!(outbox_id = r.id, error = %e, "unreadable outbox job skipped")
            }
        }
        ids.push(r.id);
    }
    queue.push_many(jobs).await?;
    let mark = row::Entity::update_many()
        .col_expr(
            row::Column::DispatchedAt,
            Expr::value(crate::audit::now_string()),
        )
        .filter(row::Column::Id.is_in(ids));
    match tx {
        Some(tx) => {
            mark.exec(&tx).await?;
            tx.commit().await?;
        }
        None => {
            mark.exec(db).await?;
        }
    }
    Ok(rows.len())
}

async fn prune(db: &DatabaseConnection) {
    let cutoff = (chrono::Utc::now() - KEEP_DISPATCHED)
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let _ = row::Entity::delete_many()
        .filter(row::Column::DispatchedAt.lt(cutoff))
        .exec(db)
        .await;
}

/// Runs until `shutdown` turns true.
pub async fn run(
    db: DatabaseConnection,
    queue: Queue,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut listener = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool().clone();
            match apalis_postgres::PgListener::connect_with(&pool).await {
                Ok(mut l) => match l.listen(PG_CHANNEL).await {
                    Ok(()) => Some(l),
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN failed; the dispatcher polls");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; the dispatcher polls");
                    None
                }
            }
        }
        _ => None,
    };
    let mut last_prune = std::time::Instant::now();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let moved = match once(&db, &queue).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "dispatching jobs failed; retrying");
                0
            }
        };
        if last_prune.elapsed() > Duration::from_secs(60) {
            prune(&db).await;
            last_prune = std::time::Instant::now();
        }
        if moved as u64 >= BATCH {
            continue;
        }
        let pg = async {
            match listener.as_mut() {
                Some(l) => {
                    let _ = l.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = outbox::wakeup().notified() => {},
            () = pg => {},
            () = tokio::time::sleep(Duration::from_millis(250)) => {},
            _ = shutdown.changed() => {},
        }
    }
}
