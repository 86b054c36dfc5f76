//! Database connections: SQLite (embedded default) or PostgreSQL (scale-out), and write
//! transactions that behave the same on both.
//!
//! SQLite settings are chosen, not inherited: WAL so readers never block the writer,
//! `synchronous=FULL` so an acknowledged write survives power loss, a busy timeout so concurrent
//! writers wait instead of failing, and `BEGIN IMMEDIATE` for every write transaction so a
//! transaction that reads before it writes cannot fail with `SQLITE_BUSY` halfway.

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use std::time::Duration;

/// Opens the database named by `url`, creating the SQLite file and its directory if needed.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    open(url, SqliteSynchronous::Full).await
}

/// The pool workers use for job state (runs, deliveries, the apalis queue). On SQLite its
/// commits are `synchronous=NORMAL`: WAL still orders them, so a power loss can only drop the
/// newest ones — and every one of those is redone idempotently (a re-run continues the same
/// run, an attempt is retried under the same idempotency key, a job is pushed again under the
/// same key). Accepted events are never written through it: they and their outbox rows are
/// committed `FULL` by the API's pool before the 2xx.
pub async fn connect_execution(url: &str) -> Result<DatabaseConnection, DbErr> {
    open(url, SqliteSynchronous::Normal).await
}

async fn open(url: &str, synchronous: SqliteSynchronous) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        if let Some(dir) = sqlite_parent_dir(url) {
            std::fs::create_dir_all(&dir).map_err(|e| {
                DbErr::Custom(format!("cannot create database directory {dir}: {e}"))
            })?;
        }
        opts.max_connections(8).map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    } else {
        opts.max_connections(16).min_connections(1);
    }
    Database::connect(opts).await
}

/// The file of a `sqlite://dir/file.db?…` URL (`None` for an in-memory database).
fn sqlite_file(url: &str) -> Option<&str> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The directory part of a `sqlite://dir/file.db?…` URL, if any.
fn sqlite_parent_dir(url: &str) -> Option<String> {
    let path = sqlite_file(url)?;
    let parent = std::path::Path::new(path).parent()?;
    let parent = parent.to_str()?;
    (!parent.is_empty()).then(|| parent.to_string())
}

/// Opens the database `migrate` or `serve` set up, for commands that work on an existing
/// installation (`contract`, `audit`). `Err` says what to run instead: no SQLite file is
/// created and no schema applied behind the user's back.
pub async fn open_existing(url: &str) -> Result<DatabaseConnection, String> {
    let masked = crate::config::mask_url(url);
    if url.starts_with("sqlite:")
        && let Some(path) = sqlite_file(url)
        && !std::path::Path::new(path).exists()
    {
        return Err(format!(
            "no database at {path}: run `switchyard migrate` (or start `switchyard serve`, which \
             migrates) with the same --data-dir or --database-url first"
        ));
    }
    let db = connect(url)
        .await
        .map_err(|e| format!("database {masked}: {e}"))?;
    match migrations_applied(&db).await {
        Ok(true) => Ok(db),
        Ok(false) | Err(_) => Err(format!(
            "database {masked} is not set up for this version of Switchyard: run \
             `switchyard migrate` first"
        )),
    }
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// True when every migration this binary knows has been applied.
pub async fn migrations_applied(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite, behind the process's write gate;
/// see `worker::db`).
pub use worker::db::{WriteTx, begin_write};

#[cfg(test)]
mod tests {
    use super::sqlite_parent_dir;

    #[test]
    fn finds_the_directory_of_a_sqlite_url() {
        assert_eq!(
            sqlite_parent_dir("sqlite://data/switchyard.db?mode=rwc").as_deref(),
            Some("data")
        );
        assert_eq!(sqlite_parent_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_parent_dir("sqlite://x.db"), None);
    }
}
