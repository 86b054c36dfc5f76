//! The apalis queue: SQLite storage for the embedded setup, PostgreSQL storage when the
//! database is PostgreSQL (several worker processes share it; apalis claims jobs with
//! `FOR UPDATE SKIP LOCKED`, so none is processed twice at once).
//!
//! Settings chosen against apalis's known limits (see README "Execution"): a 5 s heartbeat and
//! 3 missed beats, so a SIGKILLed worker's jobs are re-queued after ~15 s instead of apalis's
//! default 5 minutes; the orphan timeout (15 s) is three beats, so a live worker's jobs are
//! never taken; every worker process gets a unique name (reusing one hides orphans); a per-job
//! timeout fails a job whose worker is alive but stuck. Idle workers poll every `poll_ms`.
//!
//! apalis's SQLite `setup` turns `synchronous` OFF on the connection it runs on; it runs on a
//! throwaway one-connection pool, so the shared pool keeps `synchronous = FULL`.

use crate::config::ExecutionConfig;
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use sea_orm::DatabaseConnection;
use std::future::Future as _;
use std::time::Duration;
use worker::jobs::Job;

const QUEUE: &str = "switchyard";

/// Wakes an idle worker every `period` to ask the queue for work.
///
/// apalis 1.0's `IntervalStrategy` re-arms its timer without registering the new timer with the
/// task's waker; when the fetch made on that wake-up comes back empty the worker parks with no
/// timer armed and sleeps until its next heartbeat (we measured jobs waiting 4–5 s at a 5 s
/// heartbeat). This strategy registers every timer it arms.
pub struct Every {
    period: Duration,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Every {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            timer: None,
        }
    }
}

impl PollStrategy for Every {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _snapshot: &PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let period = self.period;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(period)));
        if timer.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        let mut next = Box::pin(tokio::time::sleep(period));
        // Polling it once registers the waker, so the next tick wakes the worker.
        let _ = next.as_mut().poll(cx);
        self.timer = Some(next);
        std::task::Poll::Ready(Some(()))
    }
}

fn task(job: Job, delay: Duration) -> apalis::prelude::Task<Job> {
    let key = job.idempotency_key();
    TaskBuilder::new(job)
        .run_after(delay)
        .max_attempts(5)
        .idempotency_key(key)
        .build()
}

/// Where jobs wait.
#[derive(Clone)]
pub enum Queue {
    Sqlite(SqliteStorage<Job>),
    Postgres(PostgresStorage<Job>),
}

impl Queue {
    /// Creates apalis's tables if needed and opens the queue on the application's pool.
    pub async fn open(
        db: &DatabaseConnection,
        database_url: &str,
        cfg: &ExecutionConfig,
    ) -> anyhow::Result<Self> {
        let beat = Duration::from_secs(cfg.heartbeat_seconds);
        match db.get_database_backend() {
            sea_orm::DbBackend::Sqlite => {
                let setup_pool = apalis_sqlite::SqlitePool::connect(database_url).await?;
                SqliteStorage::setup(&setup_pool).await?;
                setup_pool.close().await;
                let pool = db.get_sqlite_connection_pool().clone();
                let config = apalis_sqlite::Config::default()
                    .queue(QUEUE)
                    .heartbeat_interval(beat)
                    .missed_heartbeats(cfg.missed_heartbeats)
                    .batch_size(cfg.concurrency.min(50));
                Ok(Self::Sqlite(SqliteStorage::new(&pool).with_config(config)))
            }
            sea_orm::DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool().clone();
                PostgresStorage::setup(&pool).await?;
                let config = apalis_postgres::Config::default()
                    .queue(QUEUE)
                    .heartbeat_interval(beat)
                    .missed_heartbeats(cfg.missed_heartbeats)
                    .batch_size(cfg.concurrency.min(50));
                Ok(Self::Postgres(
                    PostgresStorage::new(&pool).with_config(config),
                ))
            }
            other => anyhow::bail!("database backend {other:?} has no job queue"),
        }
    }

    /// Queues `jobs` in one statement where the storage allows it (PostgreSQL inserts a batch
    /// with one `INSERT … SELECT unnest(…)`). apalis-postgres has no `ON CONFLICT`, so a batch
    /// holding a job that is already queued fails as a whole: then each is pushed on its own.
    pub async fn push_many(&self, jobs: Vec<(Job, Duration)>) -> anyhow::Result<()> {
        if jobs.len() > 1
            && let Self::Postgres(s) = self
        {
            let tasks: Vec<_> = jobs.iter().cloned().map(|(j, d)| task(j, d)).collect();
            let mut stream = futures::stream::iter(tasks);
            if s.clone().push_all(&mut stream).await.is_ok() {
                return Ok(());
            }
        }
        for (job, delay) in jobs {
            self.push(job, delay).await?;
        }
        Ok(())
    }

    /// Queues `job` to run after `delay`; a job with the same idempotency key that is already
    /// queued is left alone.
    pub async fn push(&self, job: Job, delay: Duration) -> anyhow::Result<()> {
        let task = task(job, delay);
        let result = match self {
            Self::Sqlite(s) => s.clone().push_task(task).await.map_err(|e| e.to_string()),
            Self::Postgres(s) => s.clone().push_task(task).await.map_err(|e| e.to_string()),
        };
        match result {
            Ok(()) => Ok(()),
            // apalis-postgres has no ON CONFLICT: the unique index answers for it.
            Err(e) if e.contains("idx_jobs_idempotency_key") => Ok(()),
            Err(e) => Err(anyhow::anyhow!("queueing a job: {e}")),
        }
    }
}
