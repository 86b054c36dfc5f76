//! Governance (issue 9, parts 3-6): the policy versions that were in force and when each became
//! active (`policy_versions`, the newest row is the version every process enforces), the policy
//! version recorded with every audit entry, approvals the policy required (`approvals`),
//! retention settings per data class (`retention_settings`), and leases that keep scheduled
//! governance work (the retention purge) to one process at a time (`governance_leases`).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PolicyVersions {
    Table,
    Id,
    Version,
    Hash,
    Model,
    Policy,
    ActivatedAt,
    ActivatedBy,
    Source,
    Previous,
    Summary,
}

#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    PolicyVersion,
}

#[derive(DeriveIden)]
enum Approvals {
    Table,
    Id,
    InstanceId,
    Requirement,
    Rule,
    ApproverRoles,
    ApprovedBy,
    ApprovedAt,
    ExpiresAt,
    Inputs,
    InputsHash,
    PolicyVersion,
    Status,
    EndedAt,
    EndReason,
}

#[derive(DeriveIden)]
enum RetentionSettings {
    Table,
    DataClass,
    Days,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GovernanceLeases {
    Table,
    Name,
    Holder,
    UntilMs,
    LastRunAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PolicyVersions::Table)
                    .col(big_pk_auto(PolicyVersions::Id))
                    .col(string_len(PolicyVersions::Version, 16))
                    .col(string_len(PolicyVersions::Hash, 64))
                    .col(text(PolicyVersions::Model))
                    .col(text(PolicyVersions::Policy))
                    .col(string_len(PolicyVersions::ActivatedAt, 32))
                    .col(string_len(PolicyVersions::ActivatedBy, 200))
                    .col(string_len(PolicyVersions::Source, 500))
                    .col(string_len_null(PolicyVersions::Previous, 16))
                    .col(text_null(PolicyVersions::Summary))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEntries::Table)
                    .add_column(string_len_null(AuditEntries::PolicyVersion, 16))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Approvals::Table)
                    .col(big_pk_auto(Approvals::Id))
                    .col(big_integer(Approvals::InstanceId))
                    .col(string_len(Approvals::Requirement, 300))
                    .col(text(Approvals::Rule))
                    .col(text(Approvals::ApproverRoles))
                    .col(string_len(Approvals::ApprovedBy, 200))
                    .col(string_len(Approvals::ApprovedAt, 32))
                    .col(string_len_null(Approvals::ExpiresAt, 32))
                    .col(text(Approvals::Inputs))
                    .col(string_len(Approvals::InputsHash, 64))
                    .col(string_len(Approvals::PolicyVersion, 16))
                    .col(string_len(Approvals::Status, 16))
                    .col(string_len_null(Approvals::EndedAt, 32))
                    .col(text_null(Approvals::EndReason))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_approvals_instance", Approvals::InstanceId),
            ("ix_approvals_status", Approvals::Status),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Approvals::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(RetentionSettings::Table)
                    .col(string_len(RetentionSettings::DataClass, 40).primary_key())
                    .col(integer(RetentionSettings::Days))
                    .col(string_len(RetentionSettings::UpdatedBy, 200))
                    .col(string_len(RetentionSettings::UpdatedAt, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GovernanceLeases::Table)
                    .col(string_len(GovernanceLeases::Name, 60).primary_key())
                    .col(string_len(GovernanceLeases::Holder, 200))
                    .col(big_integer(GovernanceLeases::UntilMs))
                    .col(string_len_null(GovernanceLeases::LastRunAt, 32))
                    .to_owned(),
            )
            .await
    }
}
