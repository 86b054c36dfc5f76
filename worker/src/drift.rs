//! Contract drift: how often events broke which rule of which contract version, counted as they
//! are stored — by ingestion for events from outside and by `emit` steps for events workflows
//! emit — so a `flag` contract's violations are visible and a spike can raise an alert.

use entity::contract_drift;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};
use std::collections::BTreeMap;

/// Most distinct drift rows kept per contract; beyond it new kinds of violation are only counted
/// in existing rows.
const MAX_DRIFT_ROWS_PER_CONTRACT: u64 = 500;

/// A drift observation: (contract, version, rule, pointer) → (count, last message).
pub type Drift = BTreeMap<(String, String, String, String), (i64, String)>;

/// A violation as drift counts it: JSON pointer (`/payload/plan`), rule (a JSON Schema keyword),
/// message.
pub struct Violation<'a> {
    pub pointer: &'a str,
    pub rule: &'a str,
    pub message: &'a str,
}

/// Adds `violations` of an event of `contract`/`version` to `drift`, folding array indices.
pub fn observe<'a>(
    drift: &mut Drift,
    contract: &str,
    version: &str,
    violations: impl IntoIterator<Item = Violation<'a>>,
) {
    for v in violations {
        let pointer: String = v
            .pointer
            .split('/')
            .map(|s| {
                if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
                    "*"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let pointer: String = pointer.chars().take(300).collect();
        let entry = drift
            .entry((
                contract.to_string(),
                version.to_string(),
                v.rule.to_string(),
                pointer,
            ))
            .or_insert((0, String::new()));
        entry.0 += 1;
        entry.1 = v.message.chars().take(500).collect();
    }
}

/// Adds `drift` to the counters (in the caller's transaction).
pub async fn record<C: sea_orm::ConnectionTrait>(tx: &C, drift: &Drift) -> Result<(), DbErr> {
    let now = entity::clock::now_string();
    for ((contract, version, rule, pointer), (count, message)) in drift {
        let updated = contract_drift::Entity::update_many()
            .col_expr(
                contract_drift::Column::Count,
                Expr::col(contract_drift::Column::Count).add(*count),
            )
            .col_expr(contract_drift::Column::LastSeenAt, Expr::value(now.clone()))
            .col_expr(
                contract_drift::Column::LastMessage,
                Expr::value(message.clone()),
            )
            .filter(contract_drift::Column::Contract.eq(contract.as_str()))
            .filter(contract_drift::Column::Version.eq(version.as_str()))
            .filter(contract_drift::Column::Rule.eq(rule.as_str()))
            .filter(contract_drift::Column::Pointer.eq(pointer.as_str()))
            .exec(tx)
            .await?;
        if updated.rows_affected > 0 {
            continue;
        }
        let rows_for_contract = contract_drift::Entity::find()
            .filter(contract_drift::Column::Contract.eq(contract.as_str()))
            .count(tx)
            .await?;
        if rows_for_contract >= MAX_DRIFT_ROWS_PER_CONTRACT {
            continue;
        }
        contract_drift::ActiveModel {
            contract: Set(contract.clone()),
            version: Set(version.clone()),
            rule: Set(rule.clone()),
            pointer: Set(pointer.clone()),
            count: Set(*count),
            first_seen_at: Set(now.clone()),
            last_seen_at: Set(now.clone()),
            last_message: Set(message.clone()),
            ..Default::default()
        }
        .insert(tx)
        .await?;
    }
    Ok(())
}
