//! The policy version in force, as workers see it, and the check every delivery attempt makes
//! against it: a record is sent only under a flow decision made by the version in force.
//!
//! Workers never consult the policy engine. The control plane records the version in force in
//! `policy_versions` and re-decides every live instance's flows when it changes; a delivery
//! carries the version its record was limited under (`deliveries.fields`). An attempt whose
//! delivery is outdated waits until its instance has a decision under the version in force, then
//! goes with only what that decision still allows — narrowed where the template lets the slot
//! narrow, refused (a dead letter naming the rule) where it does not.

use crate::engine::Engine;
use entity::documents::flow::{FlowDecision, SlotFlow, Withheld};
use entity::documents::record::DeliveryFields;
use entity::status::DeliveryStatus;
use entity::{delivery, instance, policy_version};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a read of the version in force is trusted: processes converge within this.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// The version in force, read from the database at most once per [`FRESH_FOR`].
#[derive(Default)]
pub struct PolicyClock {
    seen: Mutex<Option<(Option<String>, Instant)>>,
}

impl PolicyClock {
    /// The version in force (`None`: no policy was ever activated in this database).
    pub async fn active(&self, db: &DatabaseConnection) -> Option<String> {
        if let Some((v, at)) = crate::engine::lock(&self.seen).as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return v.clone();
        }
        match read_active(db).await {
            Ok(v) => {
                *crate::engine::lock(&self.seen) = Some((v.clone(), Instant::now()));
                v
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the policy version in force; using the last one read");
                crate::engine::lock(&self.seen)
                    .as_ref()
                    .and_then(|(v, _)| v.clone())
            }
        }
    }
}

async fn read_active(db: &DatabaseConnection) -> Result<Option<String>, DbErr> {
    policy_version::Entity::find()
        .select_only()
        .column(policy_version::Column::Version)
        .order_by_desc(policy_version::Column::Id)
        .into_tuple::<String>()
        .one(db)
        .await
}

/// What an attempt may do with its delivery under the policy in force.
#[derive(Debug)]
pub enum Verdict {
    /// Send it (as updated: restamped, or narrowed).
    Send(Box<delivery::Model>),
    /// Its instance has no decision under the version in force yet: try again shortly.
    Wait(String),
    /// The decision in force keeps a field of it from this destination: do not send.
    Refuse(Box<delivery::Model>, String),
}

/// Checks `d` against the version in force; see the module comment.
pub async fn check(engine: &Engine, d: delivery::Model) -> Verdict {
    let Some(active) = engine.policy.active(&engine.db).await else {
        return Verdict::Send(Box::new(d));
    };
    let mut fields = DeliveryFields::parse(d.fields.as_deref());
    if fields.policy_version.as_deref() == Some(active.as_str()) {
        return Verdict::Send(Box::new(d));
    }
    let inst = match instance::Entity::find_by_id(d.instance_id)
        .one(&engine.db)
        .await
    {
        Ok(Some(i)) => i,
        Ok(None) => return Verdict::Refuse(Box::new(d), "its workflow no longer exists".into()),
        Err(e) => return Verdict::Wait(format!("reading its workflow: {e}")),
    };
    let decision = FlowDecision::parse(&inst.flows).unwrap_or_default();
    if decision.policy_version.as_deref() != Some(active.as_str()) {
        return Verdict::Wait(format!(
            "policy {active} is in force and workflow {} has no flow decision under it yet",
            inst.id
        ));
    }
    let flow = decision.slots.get(&d.slot).cloned().unwrap_or_default();
    let legacy = fields.policy_version.is_none();
    let lost = if legacy {
        // Made before deliveries recorded their sources: only a blocked slot stops it.
        flow.withheld
            .iter()
            .next()
            .filter(|_| flow.blocked())
            .map(|(f, w)| vec![(f.clone(), w.clone())])
            .unwrap_or_default()
    } else {
        lost_fields(&fields, &flow)
    };
    if lost.is_empty() {
        fields.policy_version = Some(active.clone());
        return restamp(engine, d, None, fields).await;
    }
    let record: Value = serde_json::from_str(&d.record).unwrap_or(Value::Null);
    let narrowable = flow.narrow
        && !legacy
        && record
            .as_object()
            .is_some_and(|m| lost.iter().all(|(f, _)| m.contains_key(f)));
    if !narrowable {
        let (field, why) = &lost[0];
        let reason = format!(
            "policy {active} withholds `{field}` ({}) from this destination: {}; nothing was sent",
            why.class, why.rule
        );
        return Verdict::Refuse(Box::new(d), reason);
    }
    let mut record = record;
    if let Some(m) = record.as_object_mut() {
        for (field, why) in lost {
            m.remove(&field);
            fields.sent.remove(&field);
            fields.sources.remove(&field);
            fields.withheld.insert(field, why);
        }
    }
    fields.policy_version = Some(active);
    restamp(engine, d, Some(record), fields).await
}

/// Sent fields of a delivery that `flow` no longer lets reach its slot, with why.
fn lost_fields(fields: &DeliveryFields, flow: &SlotFlow) -> Vec<(String, Withheld)> {
    let mut out = Vec::new();
    for name in fields.sent.keys() {
        let sources = fields
            .sources
            .get(name)
            .cloned()
            .unwrap_or_else(|| vec![name.clone()]);
        if let Some(source) = sources.iter().find(|s| !flow.fields.contains_key(*s)) {
            let why = flow
                .withheld
                .get(source)
                .cloned()
                .unwrap_or_else(|| Withheld {
                    class: "unknown".into(),
                    rule: format!("no flow decision lets `{source}` reach this destination"),
                });
            out.push((name.clone(), why));
        }
    }
    out
}

/// Records the delivery as checked under the version in force (with a narrowed record), if it
/// is still where the attempt found it.
async fn restamp(
    engine: &Engine,
    mut d: delivery::Model,
    record: Option<Value>,
    fields: DeliveryFields,
) -> Verdict {
    let text = fields.to_json();
    let mut update = delivery::Entity::update_many()
        .col_expr(delivery::Column::Fields, Expr::value(text.clone()))
        .filter(delivery::Column::Id.eq(d.id))
        .filter(delivery::Column::Attempts.eq(d.attempts))
        .filter(delivery::Column::Status.is_not_in([
            DeliveryStatus::Delivered.as_str(),
            DeliveryStatus::Dead.as_str(),
            DeliveryStatus::Refused.as_str(),
        ]));
    if let Some(r) = &record {
        update = update.col_expr(delivery::Column::Record, Expr::value(r.to_string()));
    }
    let written = async {
        let tx = crate::db::begin_write(&engine.db).await?;
        let n = update.exec(&tx).await?.rows_affected;
        tx.commit().await?;
        Ok::<_, DbErr>(n)
    }
    .await;
    match written {
        Ok(0) => Verdict::Wait("the delivery moved on meanwhile".into()),
        Ok(_) => {
            d.fields = Some(text);
            if let Some(r) = record {
                d.record = r.to_string();
            }
            Verdict::Send(Box::new(d))
        }
        Err(e) => Verdict::Wait(format!("recording the check: {e}")),
    }
}
