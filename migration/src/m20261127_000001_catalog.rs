//! Catalog items (connectors, contracts, templates) and their versions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CatalogItems {
    Table,
    Id,
    Kind,
    Key,
    Name,
    Summary,
    Description,
    Category,
    Owner,
    Lifecycle,
    LatestVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CatalogVersions {
    Table,
    Id,
    ItemId,
    Version,
    Major,
    Minor,
    Patch,
    Lifecycle,
    Owner,
    Definition,
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
                    .table(CatalogItems::Table)
                    .col(big_pk_auto(CatalogItems::Id))
                    .col(string_len(CatalogItems::Kind, 16))
                    .col(string_len(CatalogItems::Key, 128))
                    .col(string_len(CatalogItems::Name, 200))
                    .col(string_len(CatalogItems::Summary, 400))
                    .col(text(CatalogItems::Description))
                    .col(string_len(CatalogItems::Category, 64))
                    .col(string_len(CatalogItems::Owner, 64))
                    .col(string_len(CatalogItems::Lifecycle, 16))
                    .col(string_len(CatalogItems::LatestVersion, 64))
                    .col(timestamp_with_time_zone(CatalogItems::CreatedAt))
                    .col(timestamp_with_time_zone(CatalogItems::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_catalog_items_kind_key")
                    .table(CatalogItems::Table)
                    .col(CatalogItems::Kind)
                    .col(CatalogItems::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CatalogVersions::Table)
                    .col(big_pk_auto(CatalogVersions::Id))
                    .col(big_integer(CatalogVersions::ItemId))
                    .col(string_len(CatalogVersions::Version, 64))
                    .col(big_integer(CatalogVersions::Major))
                    .col(big_integer(CatalogVersions::Minor))
                    .col(big_integer(CatalogVersions::Patch))
                    .col(string_len(CatalogVersions::Lifecycle, 16))
                    .col(string_len(CatalogVersions::Owner, 64))
                    .col(json_binary(CatalogVersions::Definition))
                    .col(string_len(CatalogVersions::CreatedBy, 200))
                    .col(timestamp_with_time_zone(CatalogVersions::CreatedAt))
                    .col(timestamp_with_time_zone(CatalogVersions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_catalog_versions_item")
                            .from(CatalogVersions::Table, CatalogVersions::ItemId)
                            .to(CatalogItems::Table, CatalogItems::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_catalog_versions_item_version")
                    .table(CatalogVersions::Table)
                    .col(CatalogVersions::ItemId)
                    .col(CatalogVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}
