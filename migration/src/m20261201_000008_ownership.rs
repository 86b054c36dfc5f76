//! Ownership scopes (issue 9): every connection and workflow instance gets an owner team next to
//! its owner user, so the policy can decide with scope `team`. Nullable: rows made before this
//! migration, and callers without a team, have none (a team relation then never holds).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connections {
    Table,
    OwnerTeam,
}

#[derive(DeriveIden)]
enum Instances {
    Table,
    OwnerTeam,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Connections::Table)
                    .add_column(string_len_null(Connections::OwnerTeam, 200))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .add_column(string_len_null(Instances::OwnerTeam, 200))
                    .to_owned(),
            )
            .await
    }
}
