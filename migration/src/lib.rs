//! Forward-only schema migrations. A migration that has shipped is never edited: later issues add
//! new files here. `down` is deliberately unimplemented (forward-only; restore from backup).

use sea_orm_migration::prelude::*;

mod m20261127_000001_catalog;
mod m20261127_000002_audit;
mod m20261127_000003_ingestion;
mod m20261127_000004_connections;
mod m20261127_000005_instances;
mod m20261127_000006_execution;
mod m20261127_000007_deprecations;
mod m20261201_000008_ownership;
mod m20261201_000009_engine;
mod m20261202_000001_health;
mod m20261202_000002_alerts;
mod m20261203_000001_governance;
mod m20261203_000011_templates;
mod m20261204_000001_chains;
mod m20261205_000001_health_shards;

pub use sea_orm_migration::MigratorTrait;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_catalog::Migration),
            Box::new(m20261127_000002_audit::Migration),
            Box::new(m20261127_000003_ingestion::Migration),
            Box::new(m20261127_000004_connections::Migration),
            Box::new(m20261127_000005_instances::Migration),
            Box::new(m20261127_000006_execution::Migration),
            Box::new(m20261127_000007_deprecations::Migration),
            Box::new(m20261201_000008_ownership::Migration),
            Box::new(m20261201_000009_engine::Migration),
            Box::new(m20261202_000001_health::Migration),
            Box::new(m20261202_000002_alerts::Migration),
            Box::new(m20261203_000011_templates::Migration),
            Box::new(m20261203_000001_governance::Migration),
            Box::new(m20261204_000001_chains::Migration),
            Box::new(m20261205_000001_health_shards::Migration),
        ]
    }
}
