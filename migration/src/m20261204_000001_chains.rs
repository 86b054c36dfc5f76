//! Workflows that start workflows: an event emitted by a run (an `emit` step) names the run that
//! emitted it and the chain of workflow instances it went through, oldest first, so lineage can
//! follow the chain and the loop guard can refuse cycles and runaway depth.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    ParentRunId,
    Chain,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(big_integer_null(Events::ParentRunId))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(text_null(Events::Chain))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_parent_run")
                    .table(Events::Table)
                    .col(Events::ParentRunId)
                    .to_owned(),
            )
            .await
    }
}
