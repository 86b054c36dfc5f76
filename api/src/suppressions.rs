//! Suppression lists (`global-unsubscribes` and any list a template's `suppress` step names):
//! the people no workflow may contact. People manage them through GraphQL — list, add, remove,
//! each audited, on policy object `suppression:<list>` (actions `read`, `add`, `remove`) — and
//! ingestion feeds them: an `event.unsubscribed` event adds its email to its list, and a
//! Segment `identify` whose traits say `unsubscribed: true` or `email_opt_in: false` adds the
//! contact to `global-unsubscribes` (a later `email_opt_in: true` lifts what an identify added,
//! never what a person or an unsubscribe event added).
//!
//! The audit log never holds the email itself (it is kept forever): entries name the list and
//! carry the SHA-256 of the lower-cased email, the same subject key events carry.

use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use entity::suppression;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{Value, json};

/// The company-wide list every contacting template checks.
pub const GLOBAL: &str = "global-unsubscribes";
/// `source` of suppressions an identify call added (and may lift again).
const IDENTIFY: &str = "ingest:identify";
/// The contract of unsubscribe events.
pub const UNSUBSCRIBED: &str = "event.unsubscribed";

/// Policy object of list `list`.
pub fn object(list: &str) -> String {
    format!("suppression:{list}")
}

fn subject(email: &str) -> String {
    entity::chain::sha256_hex(email.as_bytes())
}

fn check_list(list: &str) -> ApiResult<()> {
    let ok = !list.is_empty()
        && list.len() <= 128
        && list
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            "list",
            "a list name is 1-128 lower-case letters, digits, - and _ (e.g. global-unsubscribes)",
        ))
    }
}

/// The email as stored: trimmed, lower-case; `BAD_USER_INPUT` when it is not one.
fn normalize(email: &str) -> ApiResult<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 320
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !e.contains(char::is_whitespace);
    if valid {
        Ok(e)
    } else {
        Err(ApiError::bad_input("email", "is not an email address"))
    }
}

/// Entries of `list`, newest first; `email` narrows to one address.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    list: &str,
    email: Option<&str>,
    first: u64,
) -> ApiResult<Vec<suppression::Model>> {
    check_list(list)?;
    access::check(&state.policy, actor, Ask::unowned(&object(list), "read"))?;
    let mut q = suppression::Entity::find().filter(suppression::Column::List.eq(list));
    if let Some(e) = email {
        q = q.filter(suppression::Column::Email.eq(normalize(e)?));
    }
    Ok(q.order_by_desc(suppression::Column::Id)
        .limit(first)
        .all(&state.db)
        .await?)
}

/// Adds `email` to `list` (no change when it is there already). Audited as `suppression.add`.
pub async fn add(
    state: &AppState,
    actor: &Actor,
    list: &str,
    email: &str,
    reason: Option<&str>,
) -> ApiResult<suppression::Model> {
    check_list(list)?;
    let target = object(list);
    access::authorize(
        &state.db,
        &state.policy,
        actor,
        Ask::unowned(&target, "add"),
        ("suppression.add", &target),
    )
    .await?;
    let email = normalize(email)?;
    if reason.is_some_and(|r| r.chars().count() > 200) {
        return Err(ApiError::bad_input("reason", "at most 200 characters"));
    }
    let tx = worker::db::begin_write(&state.db).await?;
    let existing = find(&*tx, list, &email).await?;
    let row = match existing {
        Some(row) => row,
        None => {
            insert(
                &*tx,
                list,
                &email,
                reason.unwrap_or("added by hand"),
                "graphql",
                Some(&actor.sub),
            )
            .await?;
            find(&*tx, list, &email)
                .await?
                .ok_or_else(|| ApiError::internal("the suppression was not stored"))?
        }
    };
    audit::record(
        &tx,
        actor,
        Change {
            action: "suppression.add".into(),
            target,
            before: None,
            after: Some(json!({ "list": list, "subject": subject(&email), "reason": row.reason })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Removes `email` from `list`; `NOT_FOUND` when it is not there. Audited as
/// `suppression.remove`.
pub async fn remove(
    state: &AppState,
    actor: &Actor,
    list: &str,
    email: &str,
) -> ApiResult<suppression::Model> {
    check_list(list)?;
    let target = object(list);
    access::authorize(
        &state.db,
        &state.policy,
        actor,
        Ask::unowned(&target, "remove"),
        ("suppression.remove", &target),
    )
    .await?;
    let email = normalize(email)?;
    let tx = worker::db::begin_write(&state.db).await?;
    let row = find(&*tx, list, &email)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("email: not on list {list}")))?;
    suppression::Entity::delete_by_id(row.id).exec(&*tx).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: "suppression.remove".into(),
            target,
            before: Some(
                json!({ "list": list, "subject": subject(&email), "reason": row.reason,
                                 "source": row.source }),
            ),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

async fn find(
    db: &impl ConnectionTrait,
    list: &str,
    email: &str,
) -> Result<Option<suppression::Model>, DbErr> {
    suppression::Entity::find()
        .filter(suppression::Column::List.eq(list))
        .filter(suppression::Column::Email.eq(email))
        .one(db)
        .await
}

/// Inserts unless (list, email) is there already.
async fn insert(
    db: &impl ConnectionTrait,
    list: &str,
    email: &str,
    reason: &str,
    source: &str,
    added_by: Option<&str>,
) -> Result<(), DbErr> {
    suppression::Entity::insert(suppression::ActiveModel {
        list: Set(list.to_string()),
        email: Set(email.to_string()),
        reason: Set(Some(reason.chars().take(200).collect())),
        created_at: Set(entity::clock::now_string()),
        source: Set(Some(source.to_string())),
        added_by: Set(added_by.map(str::to_string)),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([suppression::Column::List, suppression::Column::Email])
    .exec(db)
    .await?;
    Ok(())
}

/// What ingestion learned about who may not be contacted, applied in its transaction: events
/// (contract name, payload) that were stored, and identify traits (email, traits).
pub async fn feed(
    db: &impl ConnectionTrait,
    events: &[(String, String)],
    identifies: &[(Option<String>, Value)],
) -> Result<(), DbErr> {
    for (contract, payload) in events {
        if contract != UNSUBSCRIBED {
            continue;
        }
        let Ok(p) = serde_json::from_str::<Value>(payload) else {
            continue;
        };
        let Some(email) = p.get("email").and_then(Value::as_str) else {
            continue;
        };
        let Ok(email) = normalize(email) else {
            continue;
        };
        let list = p.get("list").and_then(Value::as_str).unwrap_or(GLOBAL);
        if check_list(list).is_err() {
            continue;
        }
        let reason = p
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("unsubscribed");
        insert(db, list, &email, reason, "ingest:event", None).await?;
    }
    for (email, traits) in identifies {
        let Some(email) = email
            .as_deref()
            .or_else(|| traits.get("email").and_then(Value::as_str))
            .and_then(|e| normalize(e).ok())
        else {
            continue;
        };
        let unsubscribed = traits.get("unsubscribed").and_then(Value::as_bool);
        let opt_in = traits.get("email_opt_in").and_then(Value::as_bool);
        if unsubscribed == Some(true) {
            insert(
                db,
                GLOBAL,
                &email,
                "unsubscribed (identify)",
                IDENTIFY,
                None,
            )
            .await?;
        } else if opt_in == Some(false) {
            insert(
                db,
                GLOBAL,
                &email,
                "email consent withdrawn (identify: email_opt_in false)",
                IDENTIFY,
                None,
            )
            .await?;
        } else if opt_in == Some(true) && unsubscribed != Some(true) {
            // Consent given again: lift what an identify added, never what a person or an
            // unsubscribe event added.
            suppression::Entity::delete_many()
                .filter(suppression::Column::List.eq(GLOBAL))
                .filter(suppression::Column::Email.eq(email.as_str()))
                .filter(suppression::Column::Source.eq(IDENTIFY))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// [`feed`] from an ingestion group commit: its stored events and its identify traits.
pub async fn feed_ingested(
    db: &impl ConnectionTrait,
    batches: &[crate::ingest::store::Batch],
    stored: &std::collections::HashSet<&str>,
) -> Result<(), DbErr> {
    let events: Vec<(String, String)> = batches
        .iter()
        .flat_map(|b| b.rows.iter())
        .filter_map(|r| {
            let id = r.id.try_as_ref()?;
            let contract = r.event_type.try_as_ref()?;
            (stored.contains(id.as_str()) && contract == UNSUBSCRIBED)
                .then(|| Some((contract.clone(), r.payload.try_as_ref()?.clone())))
                .flatten()
        })
        .collect();
    let identifies: Vec<(Option<String>, Value)> = batches
        .iter()
        .flat_map(|b| b.contacts.iter())
        // Only identifies stored now: a duplicate changes nothing, as for the contact store.
        .filter(|(event_id, _)| stored.contains(event_id.as_str()))
        .map(|(_, (_, email, traits))| (email.clone(), traits.clone()))
        .collect();
    if events.is_empty() && identifies.is_empty() {
        return Ok(());
    }
    feed(db, &events, &identifies).await
}
