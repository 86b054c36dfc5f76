//! Workflow health, kept as it happens: per instance, per minute and per hour, counters of
//! events, runs by status, deliveries, duplicates, complete records and a latency histogram
//! (`health_buckets`); which fields were withheld or missing and why (`health_fields`); and the
//! instant of the last event, success and failure (`instance_states`). Workers add to them in
//! the transactions that record runs and attempts; health queries read a handful of rows.
//!
//! Events also get a `subject`: the SHA-256 of the lower-cased email they carry, indexed, so a
//! data-subject question ("where did this person's data go?") starts from an index.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Upper bounds (ms) of the latency histogram's buckets; the last one is open.
pub const LATENCY_BUCKETS: usize = 19;

#[derive(DeriveIden)]
enum HealthBuckets {
    Table,
    InstanceId,
    Grain,
    Bucket,
    Events,
    RunsSucceeded,
    RunsSkipped,
    RunsRejected,
    RunsFailed,
    RunsWaiting,
    RunsExpired,
    Duplicates,
    Delivered,
    AttemptsFailed,
    Retried,
    Dead,
    RecordsComplete,
    RecordsIncomplete,
}

#[derive(DeriveIden)]
enum HealthFields {
    Table,
    InstanceId,
    Bucket,
    Field,
    Reason,
    Count,
}

#[derive(DeriveIden)]
enum InstanceStates {
    Table,
    InstanceId,
    LastEventAt,
    LastRunAt,
    LastSuccessAt,
    LastFailureAt,
    LastAuthFailureAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Subject,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(string_len_null(Events::Subject, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_events_subject")
                    .table(Events::Table)
                    .col(Events::Subject)
                    .to_owned(),
            )
            .await?;
        let mut t = Table::create();
        t.table(HealthBuckets::Table)
            .col(big_integer(HealthBuckets::InstanceId))
            .col(string_len(HealthBuckets::Grain, 1))
            .col(big_integer(HealthBuckets::Bucket));
        for c in [
            HealthBuckets::Events,
            HealthBuckets::RunsSucceeded,
            HealthBuckets::RunsSkipped,
            HealthBuckets::RunsRejected,
            HealthBuckets::RunsFailed,
            HealthBuckets::RunsWaiting,
            HealthBuckets::RunsExpired,
            HealthBuckets::Duplicates,
            HealthBuckets::Delivered,
            HealthBuckets::AttemptsFailed,
            HealthBuckets::Retried,
            HealthBuckets::Dead,
            HealthBuckets::RecordsComplete,
            HealthBuckets::RecordsIncomplete,
        ] {
            t.col(big_integer(c).default(0));
        }
        for i in 0..LATENCY_BUCKETS {
            t.col(
                ColumnDef::new(Alias::new(format!("lat_{i:02}")))
                    .big_integer()
                    .not_null()
                    .default(0),
            );
        }
        t.primary_key(
            Index::create()
                .col(HealthBuckets::InstanceId)
                .col(HealthBuckets::Grain)
                .col(HealthBuckets::Bucket),
        );
        manager.create_table(t.to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table(HealthFields::Table)
                    .col(big_integer(HealthFields::InstanceId))
                    .col(big_integer(HealthFields::Bucket))
                    .col(string_len(HealthFields::Field, 128))
                    .col(string_len(HealthFields::Reason, 300))
                    .col(big_integer(HealthFields::Count).default(0))
                    .primary_key(
                        Index::create()
                            .col(HealthFields::InstanceId)
                            .col(HealthFields::Bucket)
                            .col(HealthFields::Field)
                            .col(HealthFields::Reason),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InstanceStates::Table)
                    .col(big_integer(InstanceStates::InstanceId).primary_key())
                    .col(string_len_null(InstanceStates::LastEventAt, 32))
                    .col(string_len_null(InstanceStates::LastRunAt, 32))
                    .col(string_len_null(InstanceStates::LastSuccessAt, 32))
                    .col(string_len_null(InstanceStates::LastFailureAt, 32))
                    .col(string_len_null(InstanceStates::LastAuthFailureAt, 32))
                    .col(string_len(InstanceStates::UpdatedAt, 32))
                    .to_owned(),
            )
            .await
    }
}
