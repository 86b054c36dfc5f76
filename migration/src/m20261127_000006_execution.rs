//! Execution: the outbox that carries accepted events to matching instances, the runs and
//! deliveries that record every unit of work and attempt, and the small stores steps need
//! (dedupe keys, suppression lists, audience membership, sync state). Instances learn their
//! trigger so ingestion can find them inside its transaction.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    TriggerContract,
    TriggerVersions,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Job,
    DedupeKey,
    RunAt,
    CreatedAt,
    DispatchedAt,
}

#[derive(DeriveIden)]
enum Runs {
    Table,
    Id,
    InstanceId,
    EventId,
    TriggerKey,
    Status,
    Step,
    Detail,
    StartedAt,
    FinishedAt,
    LatencyMs,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    RunId,
    InstanceId,
    StepId,
    Slot,
    ConnectionId,
    Connector,
    IdempotencyKey,
    BusinessKey,
    Object,
    Action,
    Record,
    Status,
    Attempts,
    LastStatusCode,
    LastError,
    LatencyMs,
    History,
    AcceptedAt,
    CreatedAt,
    UpdatedAt,
    NextAttemptAt,
    Replays,
}

#[derive(DeriveIden)]
enum DedupeKeys {
    Table,
    Id,
    InstanceId,
    KeyHash,
    RunId,
    SeenAt,
}

#[derive(DeriveIden)]
enum Suppressions {
    Table,
    Id,
    List,
    Email,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AudienceMembers {
    Table,
    Id,
    InstanceId,
    MemberKey,
    AddedAt,
}

#[derive(DeriveIden)]
enum SyncStates {
    Table,
    InstanceId,
    LastSuccessAt,
    AudienceSize,
    LastRunId,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .add_column(string_len_null(Instances::TriggerContract, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .add_column(string_len_null(Instances::TriggerVersions, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(text(Outbox::Job))
                    .col(string_len(Outbox::DedupeKey, 300))
                    .col(string_len(Outbox::RunAt, 32))
                    .col(string_len(Outbox::CreatedAt, 32))
                    .col(string_len_null(Outbox::DispatchedAt, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_outbox_dedupe_key")
                    .table(Outbox::Table)
                    .col(Outbox::DedupeKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_pending")
                    .table(Outbox::Table)
                    .col(Outbox::DispatchedAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Runs::Table)
                    .col(big_pk_auto(Runs::Id))
                    .col(big_integer(Runs::InstanceId))
                    .col(string_len_null(Runs::EventId, 200))
                    .col(string_len(Runs::TriggerKey, 200))
                    .col(string_len(Runs::Status, 32))
                    .col(string_len_null(Runs::Step, 128))
                    .col(text_null(Runs::Detail))
                    .col(string_len(Runs::StartedAt, 32))
                    .col(string_len_null(Runs::FinishedAt, 32))
                    .col(big_integer_null(Runs::LatencyMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_runs_instance_trigger")
                    .table(Runs::Table)
                    .col(Runs::InstanceId)
                    .col(Runs::TriggerKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(big_pk_auto(Deliveries::Id))
                    .col(big_integer(Deliveries::RunId))
                    .col(big_integer(Deliveries::InstanceId))
                    .col(string_len(Deliveries::StepId, 128))
                    .col(string_len(Deliveries::Slot, 64))
                    .col(big_integer(Deliveries::ConnectionId))
                    .col(string_len(Deliveries::Connector, 64))
                    .col(string_len(Deliveries::IdempotencyKey, 128))
                    .col(string_len(Deliveries::BusinessKey, 512))
                    .col(string_len(Deliveries::Object, 128))
                    .col(string_len(Deliveries::Action, 32))
                    .col(text(Deliveries::Record))
                    .col(string_len(Deliveries::Status, 32))
                    .col(integer(Deliveries::Attempts))
                    .col(integer_null(Deliveries::LastStatusCode))
                    .col(text_null(Deliveries::LastError))
                    .col(big_integer_null(Deliveries::LatencyMs))
                    .col(text(Deliveries::History))
                    .col(string_len(Deliveries::AcceptedAt, 32))
                    .col(string_len(Deliveries::CreatedAt, 32))
                    .col(string_len(Deliveries::UpdatedAt, 32))
                    .col(string_len_null(Deliveries::NextAttemptAt, 32))
                    .col(integer(Deliveries::Replays))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("ux_deliveries_key", vec![Deliveries::IdempotencyKey]),
            ("ix_deliveries_run", vec![Deliveries::RunId]),
            (
                "ix_deliveries_instance_status",
                vec![Deliveries::InstanceId, Deliveries::Status],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Deliveries::Table);
            if name.starts_with("ux_") {
                index.unique();
            }
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(DedupeKeys::Table)
                    .col(big_pk_auto(DedupeKeys::Id))
                    .col(big_integer(DedupeKeys::InstanceId))
                    .col(string_len(DedupeKeys::KeyHash, 64))
                    .col(big_integer(DedupeKeys::RunId))
                    .col(string_len(DedupeKeys::SeenAt, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_dedupe_keys")
                    .table(DedupeKeys::Table)
                    .col(DedupeKeys::InstanceId)
                    .col(DedupeKeys::KeyHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Suppressions::Table)
                    .col(big_pk_auto(Suppressions::Id))
                    .col(string_len(Suppressions::List, 128))
                    .col(string_len(Suppressions::Email, 320))
                    .col(string_len_null(Suppressions::Reason, 200))
                    .col(string_len(Suppressions::CreatedAt, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_suppressions")
                    .table(Suppressions::Table)
                    .col(Suppressions::List)
                    .col(Suppressions::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AudienceMembers::Table)
                    .col(big_pk_auto(AudienceMembers::Id))
                    .col(big_integer(AudienceMembers::InstanceId))
                    .col(string_len(AudienceMembers::MemberKey, 320))
                    .col(string_len(AudienceMembers::AddedAt, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_audience_members")
                    .table(AudienceMembers::Table)
                    .col(AudienceMembers::InstanceId)
                    .col(AudienceMembers::MemberKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncStates::Table)
                    .col(big_integer(SyncStates::InstanceId).primary_key())
                    .col(string_len_null(SyncStates::LastSuccessAt, 32))
                    .col(big_integer(SyncStates::AudienceSize))
                    .col(big_integer_null(SyncStates::LastRunId))
                    .col(string_len(SyncStates::UpdatedAt, 32))
                    .to_owned(),
            )
            .await
    }
}
