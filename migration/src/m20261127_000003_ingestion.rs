//! Event ingestion: accepted events, write keys, per-contract drift counters and the canonical
//! contact store fed by identify calls.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    EventType,
    ContractVersionId,
    Version,
    OccurredAt,
    ReceivedAt,
    Source,
    WriteKeyId,
    Status,
    Payload,
}

#[derive(DeriveIden)]
enum WriteKeys {
    Table,
    Id,
    Name,
    KeyHash,
    KeyHint,
    EventTypes,
    CreatedBy,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ContractDrift {
    Table,
    Id,
    Contract,
    Version,
    Rule,
    Pointer,
    Count,
    FirstSeenAt,
    LastSeenAt,
    LastMessage,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    ExternalId,
    Email,
    Traits,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(string_len(Events::Id, 128).primary_key())
                    .col(string_len(Events::EventType, 128))
                    .col(big_integer(Events::ContractVersionId))
                    .col(string_len(Events::Version, 64))
                    .col(string_len(Events::OccurredAt, 40))
                    .col(string_len(Events::ReceivedAt, 32))
                    .col(string_len_null(Events::Source, 200))
                    .col(big_integer_null(Events::WriteKeyId))
                    .col(string_len(Events::Status, 16))
                    .col(text(Events::Payload))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_events_type_received")
                    .table(Events::Table)
                    .col(Events::EventType)
                    .col(Events::ReceivedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WriteKeys::Table)
                    .col(big_pk_auto(WriteKeys::Id))
                    .col(string_len(WriteKeys::Name, 200))
                    .col(string_len_uniq(WriteKeys::KeyHash, 64))
                    .col(string_len(WriteKeys::KeyHint, 16))
                    .col(text(WriteKeys::EventTypes))
                    .col(string_len(WriteKeys::CreatedBy, 200))
                    .col(string_len(WriteKeys::CreatedAt, 32))
                    .col(string_len_null(WriteKeys::RevokedAt, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ContractDrift::Table)
                    .col(big_pk_auto(ContractDrift::Id))
                    .col(string_len(ContractDrift::Contract, 128))
                    .col(string_len(ContractDrift::Version, 64))
                    .col(string_len(ContractDrift::Rule, 64))
                    .col(string_len(ContractDrift::Pointer, 300))
                    .col(big_integer(ContractDrift::Count))
                    .col(string_len(ContractDrift::FirstSeenAt, 32))
                    .col(string_len(ContractDrift::LastSeenAt, 32))
                    .col(text(ContractDrift::LastMessage))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_contract_drift_key")
                    .table(ContractDrift::Table)
                    .col(ContractDrift::Contract)
                    .col(ContractDrift::Version)
                    .col(ContractDrift::Rule)
                    .col(ContractDrift::Pointer)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(big_pk_auto(Contacts::Id))
                    .col(string_len_uniq(Contacts::ExternalId, 200))
                    .col(string_len_null(Contacts::Email, 320))
                    .col(text(Contacts::Traits))
                    .col(string_len(Contacts::UpdatedAt, 32))
                    .to_owned(),
            )
            .await
    }
}
