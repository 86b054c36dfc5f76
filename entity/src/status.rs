//! Run and delivery statuses, as stored (text columns) and as the code matches on them.

use sea_orm::entity::prelude::*;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum RunStatus {
    /// Created and not finished: its steps are being evaluated.
    #[sea_orm(string_value = "running")]
    Running,
    /// Every step ran; its deliveries (if any) were made or are being attempted.
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    /// Filtered out on purpose: a duplicate, suppressed, a check with `on_fail: skip`.
    #[sea_orm(string_value = "skipped")]
    Skipped,
    /// The data broke a rule (`on_fail: reject`).
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// A step could not be evaluated.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Waiting for a `delay` step to pass.
    #[sea_orm(string_value = "waiting")]
    Waiting,
    /// Waiting for a person at an `approve` step.
    #[sea_orm(string_value = "waiting_approval")]
    WaitingApproval,
    /// Nobody decided at an `approve` step in time.
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Skipped => "skipped",
            RunStatus::Rejected => "rejected",
            RunStatus::Failed => "failed",
            RunStatus::Waiting => "waiting",
            RunStatus::WaitingApproval => "waiting_approval",
            RunStatus::Expired => "expired",
        }
    }

    /// Nothing more will happen to the run's steps.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded
                | RunStatus::Skipped
                | RunStatus::Rejected
                | RunStatus::Failed
                | RunStatus::Expired
        )
    }

    /// Parked until a delay passes or a person decides.
    pub fn is_parked(self) -> bool {
        matches!(self, RunStatus::Waiting | RunStatus::WaitingApproval)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum DeliveryStatus {
    /// Not attempted yet.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Failed at least once; another attempt is scheduled.
    #[sea_orm(string_value = "retrying")]
    Retrying,
    /// The destination has the effect. Final: never goes back.
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// Retries exhausted or a permanent failure: a dead letter, replayable.
    #[sea_orm(string_value = "dead")]
    Dead,
    /// Policy no longer lets its data reach the destination.
    #[sea_orm(string_value = "refused")]
    Refused,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Refused => "refused",
        }
    }

    /// No attempt will be made unless a person replays it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Delivered | DeliveryStatus::Dead | DeliveryStatus::Refused
        )
    }
}
