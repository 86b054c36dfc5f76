//! The workflow engine's own queue and decision record.
//!
//! `work_queue` replaces the outbox → apalis-table hop: jobs are written in the business
//! transaction and claimed from here directly (leases in `run_at`, fenced completion). Runs keep
//! their step decisions, manual input and approval deadline; deliveries keep the fields they
//! sent and withheld. Undispatched outbox rows are adopted by workers at start-up.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkQueue {
    Table,
    Id,
    Kind,
    Lane,
    Job,
    DedupeKey,
    RunAt,
    ClaimedBy,
    Claims,
    CreatedAt,
    Trace,
}

#[derive(DeriveIden)]
enum Runs {
    Table,
    Decisions,
    Input,
    DeadlineAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Fields,
}

#[derive(DeriveIden)]
enum SyncStates {
    Table,
    AppliedThrough,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WorkQueue::Table)
                    .col(big_pk_auto(WorkQueue::Id))
                    .col(string_len(WorkQueue::Kind, 16))
                    .col(string_len(WorkQueue::Lane, 64))
                    .col(text(WorkQueue::Job))
                    .col(string_len(WorkQueue::DedupeKey, 300))
                    .col(big_integer(WorkQueue::RunAt))
                    .col(string_len_null(WorkQueue::ClaimedBy, 120))
                    .col(integer(WorkQueue::Claims).default(0))
                    .col(big_integer(WorkQueue::CreatedAt))
                    .col(string_len_null(WorkQueue::Trace, 200))
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            ("ux_work_queue_dedupe_key", vec![WorkQueue::DedupeKey], true),
            (
                "ix_work_queue_due",
                vec![WorkQueue::Kind, WorkQueue::RunAt],
                false,
            ),
            (
                "ix_work_queue_lane",
                vec![WorkQueue::Lane, WorkQueue::RunAt],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(WorkQueue::Table);
            if unique {
                index.unique();
            }
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // SQLite adds one column per ALTER TABLE.
        for col in [
            text_null(Runs::Decisions),
            text_null(Runs::Input),
            string_len_null(Runs::DeadlineAt, 32),
        ] {
            manager
                .alter_table(Table::alter().table(Runs::Table).add_column(col).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .add_column(text_null(Deliveries::Fields))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SyncStates::Table)
                    .add_column(big_integer_null(SyncStates::AppliedThrough))
                    .to_owned(),
            )
            .await
    }
}
