//! "There is new work": within a process, a `Notify` per consumer, raised right after a commit
//! that staged jobs; across processes on PostgreSQL, `LISTEN switchyard_work` (the staging
//! transaction's `NOTIFY` is delivered at its commit). The listener reconnects by itself when
//! its connection is cut (a failover, `pg_terminate_backend`); consumers also poll on a timer,
//! so a lost notification only costs latency.

use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Wake-ups for this process's consumers.
#[derive(Default)]
pub struct Wake {
    pub runs: Notify,
    pub deliveries: Notify,
}

impl Wake {
    pub fn all(&self) {
        self.runs.notify_one();
        self.deliveries.notify_one();
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
