//! Templates that do their job: who started a manual run (four eyes on its approvals), the
//! template version a run started on (it finishes on it after a migration), and where
//! a suppression came from (`graphql` by a person, `ingest` from an unsubscribe or a consent
//! withdrawal).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Runs {
    Table,
    StartedBy,
    TemplateVersion,
}

#[derive(DeriveIden)]
enum Suppressions {
    Table,
    Source,
    AddedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Runs::Table)
                    .add_column(string_len_null(Runs::StartedBy, 200))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Runs::Table)
                    .add_column(string_len_null(Runs::TemplateVersion, 64))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Suppressions::Table)
                    .add_column(string_len_null(Suppressions::Source, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Suppressions::Table)
                    .add_column(string_len_null(Suppressions::AddedBy, 200))
                    .to_owned(),
            )
            .await
    }
}
