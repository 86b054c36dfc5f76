//! Workflow instances: a template version + parameters + bound connections + owner, with the
//! policy decision (which fields may flow to which destination) stored as data.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    Id,
    Template,
    TemplateVersion,
    Name,
    Owner,
    Params,
    Bindings,
    Flows,
    Status,
    ApprovedBy,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Instances::Table)
                    .col(big_pk_auto(Instances::Id))
                    .col(string_len(Instances::Template, 128))
                    .col(string_len(Instances::TemplateVersion, 64))
                    .col(string_len(Instances::Name, 200))
                    .col(string_len(Instances::Owner, 200))
                    .col(text(Instances::Params))
                    .col(text(Instances::Bindings))
                    .col(text(Instances::Flows))
                    .col(string_len(Instances::Status, 32))
                    .col(string_len_null(Instances::ApprovedBy, 200))
                    .col(string_len(Instances::CreatedAt, 32))
                    .col(string_len(Instances::UpdatedAt, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_instances_template_name")
                    .table(Instances::Table)
                    .col(Instances::Template)
                    .col(Instances::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}
