//! Write transactions that behave the same on SQLite and PostgreSQL.
//!
//! SQLite has one writer at a time. Writers of one process that collide would each be put to
//! sleep by SQLite's busy handler (1, 2, 5, … 100 ms), which is where latency goes; so every
//! write transaction of this process first takes an async gate per database file, then begins
//! with `BEGIN IMMEDIATE` (a transaction that reads before it writes cannot fail halfway with
//! `SQLITE_BUSY`). Other processes on the same file still wait through `busy_timeout`.
//! PostgreSQL needs neither: its row locks order writers.
//!
//! [`WriteTx`] is a transaction holding the gate; it is a `ConnectionTrait` itself and derefs to
//! the `DatabaseTransaction`, so code that writes takes it like any connection. Never begin a
//! second write transaction while holding one: the gate is not re-entrant.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::OwnedMutexGuard;

/// A write transaction (and, on SQLite, this process's write gate for its file).
pub struct WriteTx {
    tx: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.tx.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTx {
    fn get_database_backend(&self) -> DbBackend {
        self.tx.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.tx.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.tx.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.tx.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.tx.query_all_raw(stmt).await
    }
}

fn gates() -> &'static Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
    static GATES: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    GATES.get_or_init(Mutex::default)
}

/// The gate of an SQLite database (one per file, shared by every pool on it).
fn gate(db: &DatabaseConnection) -> Option<Arc<tokio::sync::Mutex<()>>> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let pool = db.get_sqlite_connection_pool();
    let key = pool.connect_options().get_filename().display().to_string();
    let mut map = match gates().lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    Some(Arc::clone(map.entry(key).or_default()))
}

/// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite, behind the process's write gate).
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTx, DbErr> {
    let guard = match gate(db) {
        Some(g) => Some(g.lock_owned().await),
        None => None,
    };
    let tx = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTx { tx, _gate: guard })
}

pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}
