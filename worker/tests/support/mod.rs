//! Shared by the worker's database tests (`tests/queue.rs`, and the unit tests of
//! `deliveries::record` through `#[path]`): a fresh, migrated database.

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// A fresh SQLite file in `dir`, or a fresh PostgreSQL database when `DATABASE_URL` points at a
/// server.
pub async fn fresh_db(dir: &std::path::Path) -> DatabaseConnection {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = format!("sy_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&url).await.expect("PostgreSQL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            admin.close().await.ok();
            let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
    };
    let db = Database::connect(&url).await.expect("connect");
    migration::Migrator::up(&db, None).await.expect("migrate");
    db
}
