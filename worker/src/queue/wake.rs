//! "There is new work": within a process, a `Notify` per consumer, raised right after a commit
//! that staged jobs; across processes on PostgreSQL, `LISTEN switchyard_work` (the staging
//! transaction's `NOTIFY` is delivered at its commit). The listener reconnects by itself when
//! its connection is cut (a failover, `pg_terminate_backend`); consumers also poll on a timer,
//! so a lost notification only costs latency.
//!
//! A wake-up says one of two things. "Work may be waiting in the queue unclaimed" (another
//! process staged it, a job was given back due now, a delivery was staged unclaimed because its
//! lane was full): the consumer claims. "This process's own work changed" (jobs handed over
//! claimed, an attempt freed a slot): the consumer dispatches what it holds and claims only if
//! the queue may have something due — a flag per consumer, raised by the first kind, by the
//! consumer's timer, and by a claim that came back full. Without the flag every finished attempt
//! cost an empty claim: a third of the statements of a busy run on PostgreSQL.

use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Wake-ups for this process's consumers. Notifying `runs` or `deliveries` directly says only
/// that this process's own work changed; the `*_queued` methods say the queue may hold due work.
pub struct Wake {
    pub runs: Notify,
    pub deliveries: Notify,
    runs_due: AtomicBool,
    deliveries_due: AtomicBool,
}

impl Default for Wake {
    fn default() -> Self {
        Self {
            runs: Notify::new(),
            deliveries: Notify::new(),
            // A consumer that starts claims first.
            runs_due: AtomicBool::new(true),
            deliveries_due: AtomicBool::new(true),
        }
    }
}

impl Wake {
    /// Work of either kind may be waiting in the queue.
    pub fn all(&self) {
        self.runs_queued();
        self.deliveries_queued();
    }

    /// Steps jobs may be waiting in the queue unclaimed.
    pub fn runs_queued(&self) {
        self.runs_due.store(true, Ordering::Release);
        self.runs.notify_one();
    }

    /// Delivery jobs may be waiting in the queue unclaimed.
    pub fn deliveries_queued(&self) {
        self.deliveries_due.store(true, Ordering::Release);
        self.deliveries.notify_one();
    }

    /// Whether the run consumer should claim; lowers the flag.
    pub(crate) fn take_runs_due(&self) -> bool {
        self.runs_due.swap(false, Ordering::AcqRel)
    }

    /// Whether the delivery consumer should claim; lowers the flag.
    pub(crate) fn take_deliveries_due(&self) -> bool {
        self.deliveries_due.swap(false, Ordering::AcqRel)
    }

    /// Raises the run consumer's flag again (a claim came back full or failed, a timer ran out).
    pub(crate) fn mark_runs_due(&self) {
        self.runs_due.store(true, Ordering::Release);
    }

    /// Raises the delivery consumer's flag again (as [`Wake::mark_runs_due`]).
    pub(crate) fn mark_deliveries_due(&self) {
        self.deliveries_due.store(true, Ordering::Release);
    }
}

/// On PostgreSQL, listens for other processes' staged work until the process ends.
pub fn spawn_listener(db: &DatabaseConnection, wake: Arc<Wake>) {
    if !crate::db::is_postgres(db) {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    tokio::spawn(async move {
        loop {
            match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(super::PG_CHANNEL).await {
                        tracing::warn!(error = %e, "LISTEN failed; retrying");
                    } else {
                        // Whatever was staged while we were not listening.
                        wake.all();
                        loop {
                            match listener.recv().await {
                                Ok(_) => wake.all(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "the LISTEN connection was lost; reconnecting");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot open a LISTEN connection; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_work_that_may_wait_in_the_queue_makes_a_consumer_claim() {
        let wake = Wake::default();
        assert!(wake.take_deliveries_due(), "a consumer that starts claims");
        assert!(
            !wake.take_deliveries_due(),
            "the flag is lowered by taking it"
        );
        // A finished attempt or a hand-over: this process's own work, no claim.
        wake.deliveries.notify_one();
        assert!(!wake.take_deliveries_due());
        wake.deliveries_queued();
        assert!(wake.take_deliveries_due());
        assert!(wake.take_runs_due());
        wake.runs.notify_one();
        assert!(!wake.take_runs_due());
        wake.all();
        assert!(wake.take_runs_due() && wake.take_deliveries_due());
        wake.mark_runs_due();
        assert!(wake.take_runs_due() && !wake.take_deliveries_due());
    }
}
