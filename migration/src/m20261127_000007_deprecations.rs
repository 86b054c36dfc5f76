//! Deprecation notices on catalog versions (announced, sunset, replacement, migration notes)
//! and the notifications sent to owners of affected workflow instances.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deprecations {
    Table,
    Id,
    Kind,
    Key,
    Version,
    AnnouncedAt,
    SunsetAt,
    Replacement,
    Notes,
    CreatedBy,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    Recipient,
    Topic,
    Target,
    Message,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Deprecations::Table)
                    .col(big_pk_auto(Deprecations::Id))
                    .col(string_len(Deprecations::Kind, 16))
                    .col(string_len(Deprecations::Key, 128))
                    .col(string_len(Deprecations::Version, 64))
                    .col(string_len(Deprecations::AnnouncedAt, 32))
                    .col(string_len(Deprecations::SunsetAt, 32))
                    .col(string_len_null(Deprecations::Replacement, 200))
                    .col(text(Deprecations::Notes))
                    .col(string_len(Deprecations::CreatedBy, 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_deprecations_version")
                    .table(Deprecations::Table)
                    .col(Deprecations::Kind)
                    .col(Deprecations::Key)
                    .col(Deprecations::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(big_pk_auto(Notifications::Id))
                    .col(string_len(Notifications::Recipient, 200))
                    .col(string_len(Notifications::Topic, 64))
                    .col(string_len(Notifications::Target, 300))
                    .col(text(Notifications::Message))
                    .col(string_len(Notifications::CreatedAt, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_recipient")
                    .table(Notifications::Table)
                    .col(Notifications::Recipient)
                    .to_owned(),
            )
            .await
    }
}
