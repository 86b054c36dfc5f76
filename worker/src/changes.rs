//! Changes to runs and deliveries, for live views (GraphQL subscriptions). After a transaction
//! that recorded runs or attempts commits, what changed — instance, run, delivery ids only, never
//! a value — is published on this process's [`Bus`]. On PostgreSQL the transaction itself also
//! sends `NOTIFY switchyard_changes` (delivered at commit), and every process listens, so an API
//! process shows what a worker process recorded; there the bus is fed from the listener only.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// PostgreSQL channel of changes.
pub const PG_CHANNEL: &str = "switchyard_changes";

/// Something about a run or a delivery of `instance` changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    #[serde(rename = "i")]
    pub instance: i64,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub run: Option<i64>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<i64>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<i64>,
}

impl Change {
    pub fn run(instance: i64, run: i64) -> Self {
        Self {
            instance,
            run: Some(run),
            delivery: None,
            alert: None,
        }
    }

    pub fn delivery(instance: i64, run: i64, delivery: i64) -> Self {
        Self {
            instance,
            run: Some(run),
            delivery: Some(delivery),
            alert: None,
        }
    }

    pub fn alert(instance: i64, alert: i64) -> Self {
        Self {
            instance,
            run: None,
            delivery: None,
            alert: Some(alert),
        }
    }
}

/// This process's feed of changes.
pub struct Bus {
    tx: broadcast::Sender<Change>,
    /// On PostgreSQL changes arrive through LISTEN, not from local commits.
    postgres: bool,
}

impl Bus {
    pub fn new(db: &DatabaseConnection) -> Arc<Self> {
        let (tx, _) = broadcast::channel(4096);
        let bus = Arc::new(Self {
            tx,
            postgres: crate::db::is_postgres(db),
        });
        if bus.postgres {
            spawn_listener(db, Arc::clone(&bus));
        }
        bus
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// After a commit: what it changed (SQLite; on PostgreSQL the NOTIFY carries it).
    pub fn committed(&self, changes: &[Change]) {
        if self.postgres || self.tx.receiver_count() == 0 {
            return;
        }
        for c in changes {
            let _ = self.tx.send(*c);
        }
    }
}

/// Inside a transaction: tells other processes what it changes (PostgreSQL only).
pub async fn notify<C: ConnectionTrait>(tx: &C, changes: &[Change]) -> Result<(), DbErr> {
    let mut writes = crate::db::Writes::default();
    stage(tx.get_database_backend(), changes, &mut writes);
    writes.run(tx).await
}

/// The statements of [`notify`], for the caller to send with its other writes.
pub fn stage(backend: DbBackend, changes: &[Change], writes: &mut crate::db::Writes) {
    if changes.is_empty() || backend != DbBackend::Postgres {
        return;
    }
    for chunk in changes.chunks(100) {
        let payload = serde_json::to_string(chunk).unwrap_or_default();
        writes.push(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT pg_notify('{PG_CHANNEL}', $1)"),
            [payload.into()],
        ));
    }
}

fn spawn_listener(db: &DatabaseConnection, bus: Arc<Bus>) {
    let pool = db.get_postgres_connection_pool().clone();
    tokio::spawn(async move {
        loop {
            match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(PG_CHANNEL).await {
                        tracing::warn!(error = %e, "LISTEN {PG_CHANNEL} failed; retrying");
                    } else {
                        loop {
                            match listener.recv().await {
                                Ok(n) => {
                                    let changes: Vec<Change> =
                                        serde_json::from_str(n.payload()).unwrap_or_default();
                                    for c in changes {
                                        let _ = bus.tx.send(c);
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "the changes listener lost its connection; reconnecting");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot open the changes listener; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}
