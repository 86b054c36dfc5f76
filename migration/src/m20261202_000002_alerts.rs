//! Alerts that name the business consequence: one row per alert (a rule firing for a workflow),
//! open until the condition clears (then resolved), acknowledged or snoozed by people, escalated
//! while it lasts. `alert_baselines` keeps what "growing" is measured against (dead letters,
//! contract drift) between evaluations.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Alerts {
    Table,
    Id,
    Rule,
    InstanceId,
    DedupeKey,
    Severity,
    Status,
    Level,
    Message,
    Facts,
    Owner,
    OwnerTeam,
    FirstSeenAt,
    LastSeenAt,
    ResolvedAt,
    AcknowledgedBy,
    SnoozedUntil,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AlertBaselines {
    Table,
    InstanceId,
    Rule,
    Value,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(big_pk_auto(Alerts::Id))
                    .col(string_len(Alerts::Rule, 40))
                    .col(big_integer(Alerts::InstanceId))
                    .col(string_len(Alerts::DedupeKey, 120))
                    .col(string_len(Alerts::Severity, 16))
                    .col(string_len(Alerts::Status, 16))
                    .col(integer(Alerts::Level).default(0))
                    .col(text(Alerts::Message))
                    .col(text(Alerts::Facts))
                    .col(string_len(Alerts::Owner, 200))
                    .col(string_len_null(Alerts::OwnerTeam, 200))
                    .col(string_len(Alerts::FirstSeenAt, 32))
                    .col(string_len(Alerts::LastSeenAt, 32))
                    .col(string_len_null(Alerts::ResolvedAt, 32))
                    .col(string_len_null(Alerts::AcknowledgedBy, 200))
                    .col(string_len_null(Alerts::SnoozedUntil, 32))
                    .col(string_len(Alerts::UpdatedAt, 32))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_alerts_dedupe", Alerts::DedupeKey),
            ("ix_alerts_instance", Alerts::InstanceId),
            ("ix_alerts_status", Alerts::Status),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Alerts::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AlertBaselines::Table)
                    .col(big_integer(AlertBaselines::InstanceId))
                    .col(string_len(AlertBaselines::Rule, 40))
                    .col(big_integer(AlertBaselines::Value))
                    .col(string_len(AlertBaselines::UpdatedAt, 32))
                    .primary_key(
                        Index::create()
                            .col(AlertBaselines::InstanceId)
                            .col(AlertBaselines::Rule),
                    )
                    .to_owned(),
            )
            .await
    }
}
