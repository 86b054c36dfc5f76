//! Erasing one person (issue 9, part 6): `eraseContact` removes the contact store's rows, the
//! events that carry their email, and every value of theirs in runs, deliveries and dead
//! letters (replaced by `[erased]`; business keys by a salted hash), in one transaction. The
//! answer says what was removed and which destinations had received the data, for follow-up
//! with them; the audit entry names the person by a salted hash (never in clear).
//!
//! Kept on purpose: suppression-list entries (erasing them would contact the person again) and
//! the audit log (never rewritten; it holds no personal values). Never erases by anything
//! looser than the email itself or the contact store's row.

use crate::audit::{self, Actor, Change};
use crate::error::{ApiError, ApiResult};
use entity::documents::record::DeliveryFields;
use entity::status::DeliveryStatus;
use entity::{
    audience_member, connection, contact, contract_drift, dedupe_key, delivery, event, instance,
    run, suppression,
};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel};
use sea_orm::{DatabaseConnection, ExprTrait, QueryFilter, Set};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// What replaces an erased value.
pub const ERASED: &str = "[erased]";

/// Whom to erase.
#[derive(Debug, Clone)]
pub enum Subject {
    Email(String),
    /// A row of the contact store.
    Contact(i64),
}

/// A destination that received the person's data before the erasure.
#[derive(Debug, Clone, Serialize)]
pub struct Reached {
    pub instance: i64,
    pub workflow: String,
    pub template: String,
    pub slot: String,
    pub connector: String,
    pub connection: i64,
    pub connection_name: Option<String>,
    pub fields: Vec<String>,
    pub deliveries: u64,
    pub last_delivered_at: String,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    /// The salted hash the audit log names the person by.
    pub subject: String,
    /// What → how many (`contacts`, `events`, `runs`, `deliveries`, `dead_letters`, …).
    pub removed: BTreeMap<String, u64>,
    pub destinations: Vec<Reached>,
    /// What was kept on purpose, and why.
    pub kept: Vec<String>,
}

/// Case-insensitive: whether `text` holds any of `needles` (lower-case).
fn holds(text: &str, needles: &[String]) -> bool {
    let lower = text.to_lowercase();
    needles.iter().any(|n| lower.contains(n.as_str()))
}

/// Replaces every string in `v` holding a needle by [`ERASED`]; whether anything changed.
fn scrub(v: &mut Value, needles: &[String]) -> bool {
    match v {
        Value::String(s) if holds(s, needles) => {
            *v = Value::String(ERASED.into());
            true
        }
        Value::Array(items) => {
            let mut changed = false;
            for i in items {
                changed |= scrub(i, needles);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = false;
            for i in map.values_mut() {
                changed |= scrub(i, needles);
            }
            changed
        }
        _ => false,
    }
}

/// `text` (JSON or plain) with the person's values erased, if it held any.
fn scrub_text(text: &str, needles: &[String]) -> Option<String> {
    if !holds(text, needles) {
        return None;
    }
    if let Ok(mut v) = serde_json::from_str::<Value>(text) {
        scrub(&mut v, needles);
        return Some(v.to_string());
    }
    Some(ERASED.to_string())
}

/// Rows of `E` whose lower-cased `col` contains `needle` (a superset: `_` and `%` match
/// anything; callers check again).
fn like_lower<C: ColumnTrait>(col: C, needle: &str) -> Expr {
    Expr::expr(Func::lower(Expr::col(col))).like(format!("%{needle}%"))
}

fn normalized(email: &str) -> ApiResult<String> {
    let e = email.trim().to_lowercase();
    if e.len() < 3 || e.len() > 320 || !e.contains('@') || e.contains(char::is_whitespace) {
        return Err(ApiError::bad_input("email", "is not an email address"));
    }
    Ok(e)
}

/// Erases `who` (the caller was authorized); `NOT_FOUND` when nothing holds their data.
pub async fn erase(
    db: &DatabaseConnection,
    secrets: &worker::secrets::SecretBox,
    actor: &Actor,
    who: Subject,
) -> ApiResult<Erased> {
    let tx = crate::db::begin_write(db).await?;
    let (email, mut contacts) = match who {
        Subject::Email(e) => (Some(normalized(&e)?), Vec::new()),
        Subject::Contact(id) => {
            let c = contact::Entity::find_by_id(id)
                .one(&tx)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("id: no contact {id}")))?;
            (c.email.as_deref().map(|e| e.trim().to_lowercase()), vec![c])
        }
    };
    let named = email
        .clone()
        .unwrap_or_else(|| format!("contact:{}", contacts[0].external_id));
    let subject = secrets.keyed_hash(named.as_bytes());
    let mut found = Found::default();
    if let Some(e) = &email {
        found = find(&tx, e).await?;
        contacts.append(&mut found.contacts);
    }
    contacts.sort_by_key(|c| c.id);
    contacts.dedup_by_key(|c| c.id);
    if contacts.is_empty() && found.events.is_empty() && found.deliveries.is_empty() {
        return Err(ApiError::NotFound(
            "email: no contact, event or delivery holds this person's data (unknown, or erased already)"
                .into(),
        ));
    }
    let needles: Vec<String> = email
        .iter()
        .flat_map(|e| [e.clone(), entity::chain::sha256_hex(e.as_bytes())])
        .collect();
    let destinations = reached(&tx, &found.deliveries).await?;
    let mut removed = BTreeMap::new();
    removed.insert("contacts".to_string(), contacts.len() as u64);
    contact::Entity::delete_many()
        .filter(contact::Column::Id.is_in(contacts.iter().map(|c| c.id)))
        .exec(&tx)
        .await?;
    removed.insert("events".into(), found.events.len() as u64);
    event::Entity::delete_many()
        .filter(event::Column::Id.is_in(found.events.iter().cloned()))
        .exec(&tx)
        .await?;
    let run_ids: Vec<i64> = found.runs.iter().map(|r| r.id).collect();
    dedupe_key::Entity::delete_many()
        .filter(dedupe_key::Column::RunId.is_in(run_ids.clone()))
        .exec(&tx)
        .await?;
    let mut scrubbed_runs = 0;
    for r in found.runs {
        let mut a = r.clone().into_active_model();
        let decisions = r.decisions.as_deref().and_then(|d| scrub_text(d, &needles));
        let input = r.input.as_deref().and_then(|d| scrub_text(d, &needles));
        let detail = r.detail.as_deref().and_then(|d| scrub_text(d, &needles));
        if decisions.is_none() && input.is_none() && detail.is_none() && r.event_id.is_none() {
            continue;
        }
        if decisions.is_some() {
            a.decisions = Set(decisions);
        }
        if input.is_some() {
            a.input = Set(input);
        }
        if detail.is_some() {
            a.detail = Set(detail);
        }
        a.update(&tx).await?;
        scrubbed_runs += 1;
    }
    removed.insert("runs".into(), scrubbed_runs);
    let (mut dlv, mut dead) = (0, 0);
    for d in found.deliveries {
        let subjects_run = run_ids.contains(&d.run_id);
        if d.status == DeliveryStatus::Dead {
            dead += 1;
        } else {
            dlv += 1;
        }
        erase_delivery(&tx, secrets, d, &needles, subjects_run).await?;
    }
    removed.insert("deliveries".into(), dlv);
    removed.insert("dead_letters".into(), dead);
    let members = audience_member::Entity::delete_many()
        .filter(audience_member::Column::MemberKey.is_in(found.member_keys))
        .exec(&tx)
        .await?
        .rows_affected;
    removed.insert("audience_members".into(), members);
    for m in found.drift {
        let mut a = m.clone().into_active_model();
        a.last_message = Set(scrub_text(&m.last_message, &needles).unwrap_or(m.last_message));
        a.update(&tx).await?;
    }
    let mut kept =
        vec!["the audit log, which is never rewritten and holds no personal values".to_string()];
    if found.suppressed > 0 {
        kept.push(format!(
            "{} suppression-list entr{} (so the person is not contacted again)",
            found.suppressed,
            if found.suppressed == 1 { "y" } else { "ies" }
        ));
    }
    audit::record(
        &tx,
        actor,
        Change {
            action: "contact.erase".into(),
            target: format!("contact:{subject}"),
            before: None,
            after: Some(json!({
                "subject": subject,
                "removed": removed,
                "destinations": destinations.iter().map(|d| json!({
                    "instance": d.instance, "connector": d.connector,
                    "connection": d.connection, "deliveries": d.deliveries,
                })).collect::<Vec<_>>(),
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Erased {
        subject,
        removed,
        destinations,
        kept,
    })
}

#[derive(Default)]
struct Found {
    contacts: Vec<contact::Model>,
    events: Vec<String>,
    runs: Vec<run::Model>,
    deliveries: Vec<delivery::Model>,
    drift: Vec<contract_drift::Model>,
    member_keys: Vec<String>,
    suppressed: usize,
}

/// Everything that holds `email` (or its SHA-256, as hashed identifiers travel).
async fn find<C: ConnectionTrait>(db: &C, email: &str) -> ApiResult<Found> {
    let sha = entity::chain::sha256_hex(email.as_bytes());
    let needles = [email.to_string(), sha.clone()];
    let mut f = Found {
        contacts: contact::Entity::find()
            .filter(Expr::expr(Func::lower(Expr::col(contact::Column::Email))).eq(email))
            .all(db)
            .await?,
        ..Found::default()
    };
    let events = event::Entity::find()
        .filter(
            event::Column::Subject
                .eq(sha.as_str())
                .or(like_lower(event::Column::Payload, email)),
        )
        .all(db)
        .await?;
    f.events = events
        .into_iter()
        .filter(|e| e.subject.as_deref() == Some(sha.as_str()) || holds(&e.payload, &needles))
        .map(|e| e.id)
        .collect();
    let mut runs = run::Entity::find()
        .filter(run::Column::EventId.is_in(f.events.iter().cloned()))
        .all(db)
        .await?;
    runs.extend(
        run::Entity::find()
            .filter(like_lower(run::Column::Input, email))
            .all(db)
            .await?
            .into_iter()
            .filter(|r| r.input.as_deref().is_some_and(|i| holds(i, &needles))),
    );
    runs.sort_by_key(|r| r.id);
    runs.dedup_by_key(|r| r.id);
    let run_ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    let mut deliveries = delivery::Entity::find()
        .filter(delivery::Column::RunId.is_in(run_ids))
        .all(db)
        .await?;
    deliveries.extend(
        delivery::Entity::find()
            .filter(
                like_lower(delivery::Column::Record, email)
                    .or(delivery::Column::Record.contains(sha.as_str()))
                    .or(like_lower(delivery::Column::BusinessKey, email)),
            )
            .all(db)
            .await?
            .into_iter()
            .filter(|d| holds(&d.record, &needles) || holds(&d.business_key, &needles)),
    );
    deliveries.sort_by_key(|d| d.id);
    deliveries.dedup_by_key(|d| d.id);
    f.runs = runs;
    f.deliveries = deliveries;
    f.drift = contract_drift::Entity::find()
        .filter(like_lower(contract_drift::Column::LastMessage, email))
        .all(db)
        .await?
        .into_iter()
        .filter(|m| holds(&m.last_message, &needles))
        .collect();
    f.member_keys = audience_member::Entity::find()
        .filter(audience_member::Column::MemberKey.contains(sha.as_str()))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.member_key)
        .collect();
    f.suppressed = suppression::Entity::find()
        .filter(Expr::expr(Func::lower(Expr::col(suppression::Column::Email))).eq(email))
        .all(db)
        .await?
        .len();
    Ok(f)
}

/// Erases the person's values from one delivery: every value of a personal, sensitive or
/// hashed field of a record made from their event, and any value holding their email.
async fn erase_delivery<C: ConnectionTrait>(
    db: &C,
    secrets: &worker::secrets::SecretBox,
    d: delivery::Model,
    needles: &[String],
    subjects_run: bool,
) -> ApiResult<()> {
    let fields = DeliveryFields::parse(d.fields.as_deref());
    let mut record: Value = serde_json::from_str(&d.record).unwrap_or(Value::Null);
    if subjects_run && let Some(map) = record.as_object_mut() {
        for (name, class) in &fields.sent {
            if class != "none"
                && let Some(v) = map.get_mut(name)
            {
                *v = Value::String(ERASED.into());
            }
        }
        // A message's text was rendered from the event.
        if fields.sent.contains_key("text")
            && let Some(v) = map.get_mut("text")
        {
            *v = Value::String(ERASED.into());
        }
    }
    scrub(&mut record, needles);
    let mut a = d.clone().into_active_model();
    a.record = Set(record.to_string());
    if holds(&d.business_key, needles) || subjects_run {
        a.business_key = Set(format!(
            "erased:{}",
            &secrets.keyed_hash(d.business_key.as_bytes())[..32]
        ));
    }
    if let Some(h) = scrub_text(&d.history, needles) {
        a.history = Set(h);
    }
    if let Some(e) = d.last_error.as_deref().and_then(|e| scrub_text(e, needles)) {
        a.last_error = Set(Some(e));
    }
    a.update(db).await?;
    Ok(())
}

/// The destinations the person's deliveries reached.
async fn reached<C: ConnectionTrait>(
    db: &C,
    deliveries: &[delivery::Model],
) -> ApiResult<Vec<Reached>> {
    let mut out: BTreeMap<(i64, String, i64), Reached> = BTreeMap::new();
    for d in deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Delivered)
    {
        let key = (d.instance_id, d.slot.clone(), d.connection_id);
        if !out.contains_key(&key) {
            let inst = instance::Entity::find_by_id(d.instance_id).one(db).await?;
            let conn = connection::Entity::find_by_id(d.connection_id)
                .one(db)
                .await?;
            out.insert(
                key.clone(),
                Reached {
                    instance: d.instance_id,
                    workflow: inst.as_ref().map(|i| i.name.clone()).unwrap_or_default(),
                    template: inst.map(|i| i.template).unwrap_or_default(),
                    slot: d.slot.clone(),
                    connector: d.connector.clone(),
                    connection: d.connection_id,
                    connection_name: conn.map(|c| c.name),
                    fields: Vec::new(),
                    deliveries: 0,
                    last_delivered_at: String::new(),
                },
            );
        }
        if let Some(r) = out.get_mut(&key) {
            r.deliveries += 1;
            let sent: BTreeSet<String> = DeliveryFields::parse(d.fields.as_deref())
                .sent
                .into_keys()
                .chain(r.fields.drain(..))
                .collect();
            r.fields = sent.into_iter().collect();
            if d.updated_at > r.last_delivered_at {
                r.last_delivered_at = d.updated_at.clone();
            }
        }
    }
    Ok(out.into_values().collect())
}
