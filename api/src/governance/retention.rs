//! Retention (issue 9, part 6): how long each data class is kept — events, runs with their
//! deliveries, the contact store, dead letters — and the scheduled purge that enforces it.
//!
//! Defaults and the shortest retention anyone may set come from `[retention]`; a setting made
//! through the API (`setRetention`, audited) overrides the default for its class. The purge runs
//! in one API process at a time (a lease in `governance_leases`), deletes what is older than
//! each class's retention in one transaction, and records the counts in the audit log in that
//! same transaction. The audit log itself is never purged.

use crate::audit::{self, Actor, Change};
use crate::error::{ApiError, ApiResult};
use entity::status::{DeliveryStatus, RunStatus};
use entity::{contact, delivery, event, governance_lease, retention_setting, run};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// `[retention]`: defaults per data class, in days, and the shortest retention allowed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// No data class may be kept fewer days than this (a setting below it is refused).
    pub minimum_days: u32,
    pub events_days: u32,
    /// Runs and their deliveries (dead letters have their own class).
    pub runs_days: u32,
    pub contacts_days: u32,
    pub dead_letters_days: u32,
    /// How often the purge runs; the first run is one interval after the first start.
    pub purge_interval_seconds: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            minimum_days: 7,
            events_days: 365,
            runs_days: 180,
            contacts_days: 730,
            dead_letters_days: 365,
            purge_interval_seconds: 3600,
        }
    }
}

impl RetentionConfig {
    /// Refuses a configuration whose defaults are shorter than its own minimum.
    pub fn check(&self) -> Result<(), String> {
        if self.minimum_days == 0 {
            return Err("retention.minimum_days: must be at least 1".into());
        }
        for class in DataClass::ALL {
            let days = self.default_days(class);
            if days < self.minimum_days {
                return Err(format!(
                    "retention.{}_days: {days} is shorter than retention.minimum_days ({})",
                    class.as_str(),
                    self.minimum_days
                ));
            }
        }
        if self.purge_interval_seconds == 0 {
            return Err("retention.purge_interval_seconds: must be at least 1".into());
        }
        Ok(())
    }

    fn default_days(&self, class: DataClass) -> u32 {
        match class {
            DataClass::Events => self.events_days,
            DataClass::Runs => self.runs_days,
            DataClass::Contacts => self.contacts_days,
            DataClass::DeadLetters => self.dead_letters_days,
        }
    }
}

/// A data class with its own retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Accepted events and their payloads.
    Events,
    /// Runs and their deliveries (not dead letters).
    Runs,
    /// The contact store.
    Contacts,
    /// Deliveries that ended as dead letters.
    DeadLetters,
}

impl DataClass {
    pub const ALL: [DataClass; 4] = [
        DataClass::Events,
        DataClass::Runs,
        DataClass::Contacts,
        DataClass::DeadLetters,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Events => "events",
            DataClass::Runs => "runs",
            DataClass::Contacts => "contacts",
            DataClass::DeadLetters => "dead_letters",
        }
    }
}

/// One class's retention in force.
#[derive(Debug, Clone)]
pub struct Setting {
    pub class: DataClass,
    pub days: u32,
    /// Who set it and when (`None`: the configured default).
    pub set_by: Option<(String, String)>,
}

/// The retention of every class: settings made through the API over the configured defaults.
pub async fn settings<C: ConnectionTrait>(
    db: &C,
    cfg: &RetentionConfig,
) -> ApiResult<Vec<Setting>> {
    let rows: BTreeMap<String, retention_setting::Model> = retention_setting::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.data_class.clone(), r))
        .collect();
    Ok(DataClass::ALL
        .iter()
        .map(|&class| match rows.get(class.as_str()) {
            Some(r) => Setting {
                class,
                days: u32::try_from(r.days).unwrap_or(cfg.default_days(class)),
                set_by: Some((r.updated_by.clone(), r.updated_at.clone())),
            },
            None => Setting {
                class,
                days: cfg.default_days(class),
                set_by: None,
            },
        })
        .collect())
}

/// Sets `class`'s retention to `days` (authorized by the caller); refused below the minimum.
pub async fn set(
    db: &DatabaseConnection,
    cfg: &RetentionConfig,
    actor: &Actor,
    class: DataClass,
    days: i32,
) -> ApiResult<Setting> {
    let days = u32::try_from(days).unwrap_or(0);
    if days < cfg.minimum_days {
        return Err(ApiError::bad_input(
            "days",
            format!(
                "{days} is shorter than the minimum retention of {} days the configuration allows (retention.minimum_days)",
                cfg.minimum_days
            ),
        ));
    }
    if days > 36_500 {
        return Err(ApiError::bad_input(
            "days",
            "must be at most 36,500 (100 years)",
        ));
    }
    let tx = crate::db::begin_write(db).await?;
    let before = settings(&tx, cfg)
        .await?
        .into_iter()
        .find(|s| s.class == class)
        .map(|s| s.days);
    let now = audit::now_string();
    let row = retention_setting::ActiveModel {
        data_class: Set(class.as_str().to_string()),
        days: Set(i32::try_from(days).unwrap_or(i32::MAX)),
        updated_by: Set(actor.sub.clone()),
        updated_at: Set(now.clone()),
    };
    match retention_setting::Entity::find_by_id(class.as_str().to_string())
        .one(&tx)
        .await?
    {
        Some(_) => row.update(&tx).await?,
        None => row.insert(&tx).await?,
    };
    audit::record(
        &tx,
        actor,
        Change {
            action: "retention.set".into(),
            target: format!("retention:{}", class.as_str()),
            before: Some(json!({ "days": before })),
            after: Some(json!({ "days": days })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Setting {
        class,
        days,
        set_by: Some((actor.sub.clone(), now)),
    })
}

/// What one purge deleted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Purged {
    pub events: u64,
    pub runs: u64,
    pub deliveries: u64,
    pub contacts: u64,
    pub dead_letters: u64,
    /// Class → the time before which it was purged.
    pub cutoffs: BTreeMap<String, String>,
}

fn cutoff(days: u32) -> String {
    entity::clock::format(chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
}

/// Deletes what is older than each class's retention, and audits the counts, in one
/// transaction.
pub async fn purge(db: &DatabaseConnection, cfg: &RetentionConfig) -> ApiResult<Purged> {
    let tx = crate::db::begin_write(db).await?;
    let mut out = Purged::default();
    for s in settings(&tx, cfg).await? {
        out.cutoffs.insert(s.class.as_str().into(), cutoff(s.days));
    }
    let at = |c: DataClass| out.cutoffs[c.as_str()].clone();
    let (events_before, runs_before, contacts_before, dead_before) = (
        at(DataClass::Events),
        at(DataClass::Runs),
        at(DataClass::Contacts),
        at(DataClass::DeadLetters),
    );
    out.events = event::Entity::delete_many()
        .filter(event::Column::ReceivedAt.lt(events_before))
        .exec(&tx)
        .await?
        .rows_affected;
    out.deliveries = delivery::Entity::delete_many()
        .filter(delivery::Column::Status.is_in([
            DeliveryStatus::Delivered.as_str(),
            DeliveryStatus::Refused.as_str(),
        ]))
        .filter(delivery::Column::UpdatedAt.lt(runs_before.clone()))
        .exec(&tx)
        .await?
        .rows_affected;
    out.dead_letters = delivery::Entity::delete_many()
        .filter(delivery::Column::Status.eq(DeliveryStatus::Dead.as_str()))
        .filter(delivery::Column::UpdatedAt.lt(dead_before))
        .exec(&tx)
        .await?
        .rows_affected;
    let finished: Vec<&str> = [
        RunStatus::Succeeded,
        RunStatus::Skipped,
        RunStatus::Rejected,
        RunStatus::Failed,
        RunStatus::Expired,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    // A run goes once nothing of it is left: a dead letter keeps its run for lineage.
    out.runs = run::Entity::delete_many()
        .filter(run::Column::StartedAt.lt(runs_before))
        .filter(run::Column::Status.is_in(finished))
        .filter(
            run::Column::Id.not_in_subquery(
                Query::select()
                    .column(delivery::Column::RunId)
                    .from(delivery::Entity)
                    .to_owned(),
            ),
        )
        .exec(&tx)
        .await?
        .rows_affected;
    out.contacts = contact::Entity::delete_many()
        .filter(contact::Column::UpdatedAt.lt(contacts_before))
        .exec(&tx)
        .await?
        .rows_affected;
    audit::record(
        &tx,
        &super::system(),
        Change {
            action: "retention.purge".into(),
            target: "retention".into(),
            before: None,
            after: Some(serde_json::to_value(&out).unwrap_or_default()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// Takes the purge lease when the purge is due (first seen: due one interval from now).
/// `true` when this process should purge now.
pub async fn due(db: &DatabaseConnection, holder: &str, interval_s: u64) -> ApiResult<bool> {
    const NAME: &str = "retention.purge";
    let now = entity::clock::now_ms();
    let next = now + i64::try_from(interval_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    // Most ticks: not due, and no write transaction.
    let seen = governance_lease::Entity::find_by_id(NAME.to_string())
        .one(db)
        .await?;
    if seen.is_some_and(|r| r.until_ms > now) {
        return Ok(false);
    }
    let tx = crate::db::begin_write(db).await?;
    let row = governance_lease::Entity::find_by_id(NAME.to_string())
        .one(&tx)
        .await?;
    let take = match row {
        None => {
            governance_lease::ActiveModel {
                name: Set(NAME.into()),
                holder: Set(holder.to_string()),
                until_ms: Set(next),
                last_run_at: Set(None),
            }
            .insert(&tx)
            .await?;
            false
        }
        Some(r) if r.until_ms <= now => {
            let n = governance_lease::Entity::update_many()
                .col_expr(governance_lease::Column::UntilMs, Expr::value(next))
                .col_expr(governance_lease::Column::Holder, Expr::value(holder))
                .col_expr(
                    governance_lease::Column::LastRunAt,
                    Expr::value(audit::now_string()),
                )
                .filter(governance_lease::Column::Name.eq(NAME))
                .filter(governance_lease::Column::UntilMs.eq(r.until_ms))
                .exec(&tx)
                .await?
                .rows_affected;
            n == 1
        }
        Some(_) => false,
    };
    tx.commit().await?;
    Ok(take)
}

/// When the purge last ran, if it ever did.
pub async fn last_purge(db: &DatabaseConnection) -> ApiResult<Option<String>> {
    Ok(
        governance_lease::Entity::find_by_id("retention.purge".to_string())
            .one(db)
            .await?
            .and_then(|r| r.last_run_at),
    )
}
