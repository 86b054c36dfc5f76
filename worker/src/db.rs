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

/// Writes of one transaction whose answers nobody reads (counters, notifications), sent as one
/// round trip where the database allows it: on PostgreSQL one statement, each part a `WITH` query
/// (data-modifying ones run to completion whether read or not; a `SELECT` part is read by the
/// outer query so it runs too), in the order pushed; on SQLite one after another (no round
/// trip to save there). Each part is written as if alone, numbering its parameters from `$1`.
/// Two parts of one batch must not write the same row: they run on one snapshot.
#[derive(Default)]
pub struct Writes {
    parts: Vec<Statement>,
}

impl Writes {
    pub fn push(&mut self, statement: Statement) {
        self.parts.push(statement);
    }

    /// Runs every part in `tx`.
    pub async fn run<C: ConnectionTrait>(self, tx: &C) -> Result<(), DbErr> {
        if tx.get_database_backend() != DbBackend::Postgres || self.parts.len() < 2 {
            for part in self.parts {
                tx.execute_raw(part).await?;
            }
            return Ok(());
        }
        tx.execute_raw(combine(self.parts)).await.map(|_| ())
    }
}

/// The PostgreSQL statement running `parts` as `WITH` queries.
fn combine(parts: Vec<Statement>) -> Statement {
    let mut sql = String::from("WITH ");
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut reads = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let text = renumber(&part.sql, values.len());
        if text.trim_start().starts_with("SELECT") {
            reads.push(format!("(SELECT count(*) FROM w{i})"));
        }
        sql.push_str(&format!("w{i} AS ({text})"));
        values.extend(part.values.map(|v| v.0).unwrap_or_default());
    }
    sql.push_str(" SELECT ");
    sql.push_str(&if reads.is_empty() {
        "1".to_string()
    } else {
        reads.join(", ")
    });
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// `sql` with every parameter `$n` shifted to `$(n + offset)`. Our statements carry values only
/// as parameters, never `$` inside a literal.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
            digits.push(d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_parts_keep_their_own_parameters() {
        let a = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO t (a, b) VALUES ($1, $2)",
            [1i64.into(), 2i64.into()],
        );
        let b = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify('c', $1)",
            ["x".into()],
        );
        let c = combine(vec![a, b]);
        assert_eq!(
            c.sql,
            "WITH w0 AS (INSERT INTO t (a, b) VALUES ($1, $2)), w1 AS (SELECT pg_notify('c', $3)) \
             SELECT (SELECT count(*) FROM w1)"
        );
        assert_eq!(c.values.map(|v| v.0.len()), Some(3));
        assert_eq!(renumber("x = $10 AND y = $2", 5), "x = $15 AND y = $7");
    }
}
