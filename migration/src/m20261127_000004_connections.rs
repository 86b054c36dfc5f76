//! Connections: configured connectors owned by a team; secret settings sealed at rest.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
    Connector,
    ConnectorVersion,
    Name,
    Owner,
    Settings,
    SecretFields,
    Secret,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Connections::Table)
                    .col(big_pk_auto(Connections::Id))
                    .col(string_len(Connections::Connector, 128))
                    .col(string_len(Connections::ConnectorVersion, 64))
                    .col(string_len(Connections::Name, 200))
                    .col(string_len(Connections::Owner, 200))
                    .col(text(Connections::Settings))
                    .col(text(Connections::SecretFields))
                    .col(text(Connections::Secret))
                    .col(string_len(Connections::CreatedBy, 200))
                    .col(string_len(Connections::CreatedAt, 32))
                    .col(string_len(Connections::UpdatedAt, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_connections_connector_name")
                    .table(Connections::Table)
                    .col(Connections::Connector)
                    .col(Connections::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}
