//! The audit log, its chain head (one row, seeded here) and signed checkpoints.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    Seq,
    At,
    Actor,
    Roles,
    Action,
    Target,
    Outcome,
    Before,
    After,
    RequestId,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Seq,
    Hash,
}

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    Id,
    Seq,
    Hash,
    SignedAt,
    KeyId,
    Signature,
}

const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEntries::Table)
                    .col(big_integer(AuditEntries::Seq).primary_key())
                    .col(string_len(AuditEntries::At, 32))
                    .col(string_len(AuditEntries::Actor, 200))
                    .col(text(AuditEntries::Roles))
                    .col(string_len(AuditEntries::Action, 64))
                    .col(string_len(AuditEntries::Target, 300))
                    .col(string_len(AuditEntries::Outcome, 16))
                    .col(text_null(AuditEntries::Before))
                    .col(text_null(AuditEntries::After))
                    .col(string_len(AuditEntries::RequestId, 64))
                    .col(string_len(AuditEntries::PrevHash, 64))
                    .col(string_len(AuditEntries::Hash, 64))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_audit_entries_actor", AuditEntries::Actor),
            ("ix_audit_entries_action", AuditEntries::Action),
            ("ix_audit_entries_target", AuditEntries::Target),
            ("ix_audit_entries_at", AuditEntries::At),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEntries::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .col(integer(AuditHead::Id).primary_key())
                    .col(big_integer(AuditHead::Seq))
                    .col(string_len(AuditHead::Hash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuditHead::Table)
                    .columns([AuditHead::Id, AuditHead::Seq, AuditHead::Hash])
                    .values_panic([1.into(), 0i64.into(), GENESIS_HASH.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditCheckpoints::Table)
                    .col(big_pk_auto(AuditCheckpoints::Id))
                    .col(big_integer(AuditCheckpoints::Seq))
                    .col(string_len(AuditCheckpoints::Hash, 64))
                    .col(string_len(AuditCheckpoints::SignedAt, 32))
                    .col(string_len(AuditCheckpoints::KeyId, 32))
                    .col(string_len(AuditCheckpoints::Signature, 128))
                    .to_owned(),
            )
            .await
    }
}
