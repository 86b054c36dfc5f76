//! Lineage: where a record came from and where it went, read from the decision record workers
//! keep (`runs.decisions`, `deliveries.fields`) — never re-derived from templates afterwards.
//!
//! `of_event` and `of_delivery` walk source event → instance → template version → each step's
//! decision → destination, with the fields sent, withheld (and the rule) and missing, and the
//! destination's answer. `of_contact` answers a data-subject question: every destination that
//! received a person's fields, which fields, when and under which rule.
//!
//! Every hop is authorized like a read of its workflow (`read` on `workflow:<template>` with the
//! caller's relation to its owner); a lineage the caller may not read at all is refused and the
//! refusal audited. Record values never appear here, only field names and classes.
//!
//! Lineage follows chains of workflows (`emit` steps): each hop names the event it ran for and
//! the events its run emitted. `of_event` follows emitted events downstream to the runs they
//! started; `of_delivery` walks upstream from the delivery's event through the runs that
//! emitted it to the event that came from outside. Hops are in chain order.

use crate::access::{self, Ask};
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use entity::documents::flow::FlowDecision;
use entity::documents::record::{DeliveryFields, RunRecord, StepDecision};
use entity::{delivery, event, instance, run, write_key};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

/// The event a lineage starts from.
#[derive(Debug, Clone)]
pub struct Source {
    pub event: event::Model,
    /// The write key's name, when the event came through one.
    pub write_key: Option<String>,
}

/// One field as it left (or did not leave).
#[derive(Debug, Clone)]
pub struct Field {
    pub field: String,
    pub class: String,
    pub rule: Option<String>,
}

/// One delivery of a hop.
#[derive(Debug, Clone)]
pub struct Reach {
    pub delivery: delivery::Model,
    pub sent: Vec<Field>,
    pub withheld: Vec<Field>,
    pub missing: Vec<String>,
}

/// Most events one lineage follows through chains of workflows.
const MAX_CHAIN_EVENTS: usize = 200;

/// One instance's handling of an event (or a scheduled or manual input).
#[derive(Debug, Clone)]
pub struct Hop {
    pub instance: instance::Model,
    pub run: run::Model,
    /// The event the run ran for.
    pub event: Option<Source>,
    /// Ids of the events the run emitted (`emit` steps), which started other workflows.
    pub emitted: Vec<String>,
    pub steps: Vec<StepDecision>,
    pub reaches: Vec<Reach>,
}

#[derive(Debug, Clone)]
pub struct Lineage {
    pub source: Option<Source>,
    pub hops: Vec<Hop>,
}

fn reach(d: delivery::Model, flows: &FlowDecision) -> Reach {
    let f = DeliveryFields::parse(d.fields.as_deref());
    let rules = flows.slots.get(&d.slot).map(|s| &s.rules);
    let sent = f
        .sent
        .iter()
        .map(|(field, class)| Field {
            field: field.clone(),
            class: class.clone(),
            rule: rules.and_then(|r| r.get(field)).cloned(),
        })
        .collect();
    let withheld = f
        .withheld
        .iter()
        .map(|(field, w)| Field {
            field: field.clone(),
            class: w.class.clone(),
            rule: Some(w.rule.clone()),
        })
        .collect();
    Reach {
        delivery: d,
        sent,
        withheld,
        missing: f.missing,
    }
}

async fn source(db: &DatabaseConnection, event_id: &str) -> ApiResult<Option<Source>> {
    let Some(event) = event::Entity::find_by_id(event_id.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let write_key = match event.write_key_id {
        Some(id) => write_key::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|k| k.name),
        None => None,
    };
    Ok(Some(Source { event, write_key }))
}

/// What a lineage walk has read already: the instances and the events its hops share.
#[derive(Default)]
struct Seen {
    instances: HashMap<i64, Option<instance::Model>>,
    sources: HashMap<String, Option<Source>>,
}

impl Seen {
    /// Starts a walk from `src`, already read.
    fn from(src: Option<&Source>) -> Self {
        let mut seen = Self::default();
        if let Some(s) = src {
            seen.sources.insert(s.event.id.clone(), Some(s.clone()));
        }
        seen
    }

    async fn source(&mut self, db: &DatabaseConnection, id: &str) -> ApiResult<Option<Source>> {
        if let Some(s) = self.sources.get(id) {
            return Ok(s.clone());
        }
        let s = source(db, id).await?;
        self.sources.insert(id.to_string(), s.clone());
        Ok(s)
    }
}

/// The hop of `run`, if the caller may read its workflow.
async fn hop(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    run: run::Model,
    seen: &mut Seen,
) -> ApiResult<Option<Hop>> {
    let inst = match seen.instances.entry(run.instance_id) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => e.insert(
            instance::Entity::find_by_id(run.instance_id)
                .one(db)
                .await?,
        ),
    };
    let Some(inst) = inst.clone() else {
        return Ok(None);
    };
    let (obj, owner) = (
        access::workflow_object(&inst.template),
        access::instance_owner(&inst),
    );
    if !access::allows(policy, actor, Ask::owned(&obj, "read", &owner)) {
        return Ok(None);
    }
    let flows = FlowDecision::parse(&inst.flows).unwrap_or_default();
    let rows = delivery::Entity::find()
        .filter(delivery::Column::RunId.eq(run.id))
        .order_by_asc(delivery::Column::Id)
        .all(db)
        .await?;
    let rows =
        crate::visibility::deliveries(db, policy, actor, &inst, rows, &format!("run:{}", run.id))
            .await?;
    let emitted = event::Entity::find()
        .filter(event::Column::ParentRunId.eq(run.id))
        .order_by_asc(event::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    let event = match &run.event_id {
        Some(e) => seen.source(db, e).await?,
        None => None,
    };
    Ok(Some(Hop {
        event,
        emitted,
        instance: inst,
        steps: RunRecord::parse(run.decisions.as_deref()).steps,
        reaches: rows.into_iter().map(|d| reach(d, &flows)).collect(),
        run,
    }))
}

async fn refuse(db: &DatabaseConnection, actor: &Actor, target: &str) -> ApiError {
    if let Err(e) = audit::record_denied(db, actor, "lineage.read", target).await {
        return e.into();
    }
    ApiError::Forbidden(format!(
        "{target}: you may not read the workflows it went through"
    ))
}

/// Lineage of event `id`: every instance that ran for it.
pub async fn of_event(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    id: &str,
) -> ApiResult<Lineage> {
    let target = format!("event:{id}");
    let Some(src) = source(db, id).await? else {
        return Err(ApiError::NotFound(format!("event: no event `{id}`")));
    };
    let runs = run::Entity::find()
        .filter(run::Column::EventId.eq(id))
        .order_by_asc(run::Column::Id)
        .all(db)
        .await?;
    let total = runs.len();
    let mut seen = Seen::from(Some(&src));
    let mut hops = Vec::new();
    for r in runs {
        if let Some(h) = hop(db, policy, actor, r, &mut seen).await? {
            hops.push(h);
        }
    }
    if total > 0 && hops.is_empty() {
        return Err(refuse(db, actor, &target).await);
    }
    // Downstream: the runs started by the events these runs emitted, and so on.
    let mut next: std::collections::VecDeque<String> =
        hops.iter().flat_map(|h| h.emitted.clone()).collect();
    let mut followed = 0;
    while let Some(e) = next.pop_front() {
        followed += 1;
        if followed > MAX_CHAIN_EVENTS {
            break;
        }
        let runs = run::Entity::find()
            .filter(run::Column::EventId.eq(e.as_str()))
            .order_by_asc(run::Column::Id)
            .all(db)
            .await?;
        for r in runs {
            if let Some(h) = hop(db, policy, actor, r, &mut seen).await? {
                next.extend(h.emitted.iter().cloned());
                hops.push(h);
            }
        }
    }
    Ok(Lineage {
        source: Some(src),
        hops,
    })
}

/// Lineage of delivery `id`: its event (if any), its run's decisions, the delivery itself.
pub async fn of_delivery(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    id: i64,
) -> ApiResult<Lineage> {
    let target = format!("delivery:{id}");
    let d = delivery::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("delivery: no delivery {id}")))?;
    let r = run::Entity::find_by_id(d.run_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("delivery: the run of delivery {id} is gone")))?;
    let mut seen = Seen::default();
    let Some(mut h) = hop(db, policy, actor, r, &mut seen).await? else {
        return Err(refuse(db, actor, &target).await);
    };
    h.reaches.retain(|x| x.delivery.id == id);
    // Upstream: the runs that emitted the event this run ran for, back to the outside event.
    let mut origin = h.event.clone();
    let mut hops = vec![h];
    while let Some(parent) = origin.as_ref().and_then(|s| s.event.parent_run_id) {
        if hops.len() > MAX_CHAIN_EVENTS {
            break;
        }
        let Some(r) = run::Entity::find_by_id(parent).one(db).await? else {
            break;
        };
        let Some(up) = hop(db, policy, actor, r, &mut seen).await? else {
            break;
        };
        origin = up.event.clone();
        hops.push(up);
    }
    hops.reverse();
    Ok(Lineage {
        source: origin,
        hops,
    })
}

/// Every delivered reach of the events whose subject is `email` (or the contact's email).
pub async fn of_contact(
    db: &DatabaseConnection,
    policy: &Policy,
    secrets: &worker::secrets::SecretBox,
    actor: &Actor,
    email: &str,
) -> ApiResult<Vec<Hop>> {
    let subject = entity::chain::sha256_hex(email.trim().to_lowercase().as_bytes());
    let events = event::Entity::find()
        .filter(event::Column::Subject.eq(subject.as_str()))
        .order_by_asc(event::Column::ReceivedAt)
        .all(db)
        .await?;
    if events.is_empty() {
        return Err(ApiError::NotFound(
            "email: no event carries this person's email (nothing was received, or it was erased)"
                .into(),
        ));
    }
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let runs = run::Entity::find()
        .filter(run::Column::EventId.is_in(ids))
        .order_by_asc(run::Column::Id)
        .all(db)
        .await?;
    let mut seen = Seen::default();
    let mut hops = Vec::new();
    for r in runs {
        if let Some(mut h) = hop(db, policy, actor, r, &mut seen).await? {
            h.reaches
                .retain(|x| x.delivery.status == entity::status::DeliveryStatus::Delivered);
            if !h.reaches.is_empty() {
                hops.push(h);
            }
        }
    }
    let mut after = serde_json::Map::new();
    let named = secrets.keyed_hash(email.trim().to_lowercase().as_bytes());
    after.insert("subject".into(), serde_json::Value::String(named));
    after.insert(
        "destinations".into(),
        hops.iter().map(|h| h.reaches.len()).sum::<usize>().into(),
    );
    let tx = crate::db::begin_write(db).await?;
    audit::record(
        &tx,
        actor,
        audit::Change {
            action: "contact.lineage".into(),
            target: "contact".into(),
            before: None,
            after: Some(serde_json::Value::Object(after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(hops)
}
