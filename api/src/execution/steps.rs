//! What each step of the fixed vocabulary does to a run's state. Steps are pure over the run
//! state except `dedupe` (which records the key) and the lookups of `enrich` and `suppress`;
//! none of them has an effect outside Switchyard's database — only deliveries do, and those
//! are created by the runner from the `deliver`/`notify` steps.

use super::cel_eval;
use crate::catalog::definitions::Step;
use crate::catalog::expressions;
use entity::{contact, dedupe_key, suppression};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// A record built by a `map` step: output fields and, for each, the event fields it came from
/// (so delivery can drop whatever a destination may not receive).
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub object: String,
    pub fields: Map<String, Value>,
    pub sources: BTreeMap<String, BTreeSet<String>>,
}

/// The state a run carries from step to step.
#[derive(Debug, Clone)]
pub struct RunState {
    pub event: Value,
    pub params: Value,
    pub record: Option<Record>,
}

/// What a step decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    Continue,
    /// The run ends here without delivering: `skipped` (filtered, duplicate, suppressed) or
    /// `rejected` (the event fails a check marked `on_fail: reject`).
    Stop {
        status: &'static str,
        reason: String,
    },
    /// Continue later (delay).
    Wait {
        seconds: i64,
        reason: String,
    },
}

fn stop(status: &'static str, reason: impl Into<String>) -> Flow {
    Flow::Stop {
        status,
        reason: reason.into(),
    }
}

/// Reads `a.b.c` from a JSON value.
pub fn path<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted
        .split('.')
        .try_fold(value, |v, part| v.get(part))
        .filter(|v| !v.is_null())
}

fn param_u64(params: &Value, config: &Value, key: &str) -> Option<u64> {
    config
        .get(key)
        .and_then(Value::as_str)
        .and_then(|p| params.get(p))
        .and_then(Value::as_u64)
}

/// `validate`: every rule's `check` must hold; `on_fail: skip|reject`. Without rules, the
/// fields the step reads must be present.
pub fn validate(step: &Step, st: &RunState) -> Result<Flow, String> {
    let rules = step.config.get("rules").and_then(Value::as_array);
    let Some(rules) = rules else {
        let missing: Vec<&str> = step
            .reads
            .iter()
            .map(String::as_str)
            .filter(|f| path(&st.event, f).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(Flow::Continue);
        }
        let on_fail = step.config.get("on_fail").and_then(Value::as_str);
        let status = if on_fail == Some("skip") {
            "skipped"
        } else {
            "rejected"
        };
        return Ok(stop(status, format!("missing {}", missing.join(", "))));
    };
    for rule in rules {
        let Some(check) = rule.get("check").and_then(Value::as_str) else {
            continue;
        };
        // A check that cannot be evaluated (a field missing) counts as failed.
        let ok = cel_eval::condition(check, &st.event, &st.params).unwrap_or(false);
        if !ok {
            let message = rule
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or(check)
                .to_string();
            let status = match rule.get("on_fail").and_then(Value::as_str) {
                Some("reject") => "rejected",
                _ => "skipped",
            };
            return Ok(stop(status, message));
        }
    }
    Ok(Flow::Continue)
}

/// `dedupe`: the same key values within the window end the run, unless the key was recorded
/// by this very run (a re-run after a crash).
pub async fn dedupe(
    db: &DatabaseConnection,
    instance_id: i64,
    run_id: i64,
    step: &Step,
    st: &RunState,
) -> Result<Flow, DbErr> {
    let keys: Vec<String> = step
        .config
        .get("key")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(step.id.as_bytes());
    for k in &keys {
        hasher.update(b"\x1f");
        let v = path(&st.event, k).map(|v| match v {
            Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        });
        hasher.update(v.unwrap_or_default().as_bytes());
    }
    let key_hash = hex::encode(hasher.finalize());
    let minutes = param_u64(&st.params, &step.config, "window_minutes_from_param")
        .or_else(|| param_u64(&st.params, &step.config, "window_days_from_param").map(|d| d * 1440))
        .or_else(|| step.config.get("window_minutes").and_then(Value::as_u64))
        .unwrap_or(1440);
    let now = chrono::Utc::now();
    let now_s = crate::audit::now_string();
    dedupe_key::Entity::insert(dedupe_key::ActiveModel {
        instance_id: Set(instance_id),
        key_hash: Set(key_hash.clone()),
        run_id: Set(run_id),
        seen_at: Set(now_s.clone()),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([dedupe_key::Column::InstanceId, dedupe_key::Column::KeyHash])
    .exec_without_returning(db)
    .await?;
    let Some(row) = dedupe_key::Entity::find()
        .filter(dedupe_key::Column::InstanceId.eq(instance_id))
        .filter(dedupe_key::Column::KeyHash.eq(key_hash.as_str()))
        .one(db)
        .await?
    else {
        return Ok(Flow::Continue);
    };
    if row.run_id == run_id {
        return Ok(Flow::Continue);
    }
    let seen = chrono::DateTime::parse_from_rfc3339(&row.seen_at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now);
    let window = chrono::Duration::minutes(i64::try_from(minutes).unwrap_or(i64::MAX / 120));
    if now - seen < window {
        return Ok(stop(
            "skipped",
            format!(
                "duplicate of run {} within {minutes} minutes ({})",
                row.run_id,
                keys.join(" + ")
            ),
        ));
    }
    let mut active: dedupe_key::ActiveModel = row.into();
    active.run_id = Set(run_id);
    active.seen_at = Set(now_s);
    active.update(db).await?;
    Ok(Flow::Continue)
}

/// `enrich`: looks a record up in the contact store and adds the chosen fields under `as`.
/// Accounts are contacts whose external id is `account:<domain>`.
pub async fn enrich(
    db: &DatabaseConnection,
    step: &Step,
    st: &mut RunState,
) -> Result<Flow, DbErr> {
    let cfg = &step.config;
    let lookup = cfg
        .get("lookup")
        .and_then(Value::as_str)
        .unwrap_or("contact");
    let by = cfg.get("by").and_then(Value::as_str).unwrap_or("email");
    let target = cfg
        .get("as")
        .and_then(Value::as_str)
        .unwrap_or(lookup)
        .to_string();
    let on_missing = cfg
        .get("on_missing")
        .and_then(Value::as_str)
        .unwrap_or("continue");
    let value = path(&st.event, by)
        .and_then(Value::as_str)
        .map(str::to_string);
    let found = match (lookup, value) {
        ("account", Some(v)) => {
            contact::Entity::find()
                .filter(contact::Column::ExternalId.eq(format!("account:{}", v.to_lowercase())))
                .one(db)
                .await?
        }
        ("contact" | "lead", Some(v)) => {
            contact::Entity::find()
                .filter(contact::Column::Email.eq(v))
                .one(db)
                .await?
        }
        _ => None,
    };
    let Some(found) = found else {
        return Ok(if on_missing == "skip" {
            stop("skipped", format!("no {lookup} found for {by}"))
        } else {
            Flow::Continue
        });
    };
    let traits: Map<String, Value> = serde_json::from_str(&found.traits).unwrap_or_default();
    let wanted: Vec<&str> = cfg
        .get("fields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let picked: Map<String, Value> = traits
        .into_iter()
        .filter(|(k, _)| wanted.is_empty() || wanted.contains(&k.as_str()))
        .collect();
    if let Some(obj) = st.event.as_object_mut() {
        obj.insert(target, Value::Object(picked));
    }
    Ok(Flow::Continue)
}

/// `route`: the first rule whose `when` holds assigns its owner to `event.<assign_to>`.
pub fn route(step: &Step, st: &mut RunState) -> Flow {
    let cfg = &step.config;
    let field = cfg
        .get("assign_to")
        .and_then(Value::as_str)
        .unwrap_or("owner");
    let mut chosen = cfg.get("default_owner").cloned().unwrap_or(Value::Null);
    for rule in cfg
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let when = rule.get("when").and_then(Value::as_str).unwrap_or("false");
        if cel_eval::condition(when, &st.event, &st.params).unwrap_or(false) {
            chosen = rule.get("owner").cloned().unwrap_or(Value::Null);
            break;
        }
    }
    if let Some(obj) = st.event.as_object_mut() {
        obj.insert(field.to_string(), chosen);
    }
    Flow::Continue
}

/// `suppress`: people on the list, without consent, or matching `suppress_when` are skipped.
pub async fn suppress(db: &DatabaseConnection, step: &Step, st: &RunState) -> Result<Flow, DbErr> {
    let cfg = &step.config;
    if let Some(field) = cfg.get("consent_field").and_then(Value::as_str)
        && path(&st.event, field).and_then(Value::as_bool) != Some(true)
    {
        return Ok(stop("skipped", format!("no consent ({field} is not true)")));
    }
    if let (Some(list), Some(email)) = (
        cfg.get("list").and_then(Value::as_str),
        path(&st.event, "email").and_then(Value::as_str),
    ) {
        let listed = suppression::Entity::find()
            .filter(suppression::Column::List.eq(list))
            .filter(suppression::Column::Email.eq(email.to_lowercase()))
            .one(db)
            .await?;
        if listed.is_some() {
            return Ok(stop("skipped", format!("on suppression list {list}")));
        }
    }
    if let Some(expr) = cfg.get("suppress_when").and_then(Value::as_str)
        && cel_eval::condition(expr, &st.event, &st.params).unwrap_or(true)
    {
        return Ok(stop("skipped", format!("suppressed: {expr}")));
    }
    Ok(Flow::Continue)
}

/// `map`: builds the outgoing record from field mappings and computed CEL fields.
pub fn map(step: &Step, st: &mut RunState) -> Result<Flow, String> {
    let cfg = &step.config;
    let mut rec = Record {
        object: cfg
            .get("object")
            .and_then(Value::as_str)
            .unwrap_or("record")
            .to_string(),
        ..Record::default()
    };
    for (out, from) in cfg
        .get("fields")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(from) = from.as_str() else { continue };
        if let Some(v) = path(&st.event, from) {
            rec.fields.insert(out.clone(), v.clone());
            let root = from.split('.').next().unwrap_or(from).to_string();
            rec.sources.insert(out.clone(), BTreeSet::from([root]));
        }
    }
    for (out, expr) in cfg
        .get("computed")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(expr) = expr.as_str() else { continue };
        let v = match cel_eval::eval(expr, &st.event, &st.params) {
            Ok(v) => v,
            // An optional field the event does not carry: the computed field is left out.
            Err(e) if e.contains("No such key") => continue,
            Err(e) => return Err(format!("step {} computed field {out}: {e}", step.id)),
        };
        rec.fields.insert(out.clone(), v);
        rec.sources
            .insert(out.clone(), expressions::event_refs(expr));
    }
    st.record = Some(rec);
    Ok(Flow::Continue)
}

/// `delay`: wait `minutes` (or the parameter named by `minutes_from_param`).
pub fn delay(step: &Step, st: &RunState) -> Flow {
    let minutes = param_u64(&st.params, &step.config, "minutes_from_param")
        .or_else(|| step.config.get("minutes").and_then(Value::as_u64))
        .unwrap_or(0);
    if minutes == 0 {
        return Flow::Continue;
    }
    Flow::Wait {
        seconds: i64::try_from(minutes.saturating_mul(60)).unwrap_or(i64::MAX),
        reason: format!("waiting {minutes} minutes ({})", step.id),
    }
}

/// Fills `{{event.x}}` / `{{params.x}}` placeholders of a notify message.
pub fn render(template: &str, st: &RunState) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = after[..end].trim();
        let value = if let Some(p) = expr.strip_prefix("event.") {
            path(&st.event, p)
        } else if let Some(p) = expr.strip_prefix("params.") {
            path(&st.params, p)
        } else {
            None
        };
        match value {
            Some(Value::String(s)) => out.push_str(s),
            Some(v) => out.push_str(&v.to_string()),
            None => out.push('?'),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(kind: &str, config: Value) -> Step {
        serde_json::from_value(json!({"id": "s", "type": kind, "config": config})).expect("step")
    }

    #[test]
    fn route_picks_the_first_matching_rule() {
        let s = step(
            "route",
            json!({"assign_to": "owner", "default_owner": "amer", "rules": [
                {"when": "event.source_category == 'partner'", "owner": "partner-desk"},
                {"when": "event.country in params.emea", "owner": "emea"}]}),
        );
        let mut st = RunState {
            event: json!({"source_category": "web", "country": "DE"}),
            params: json!({"emea": ["DE"]}),
            record: None,
        };
        route(&s, &mut st);
        assert_eq!(st.event["owner"], json!("emea"));
    }

    #[test]
    fn map_tracks_where_each_field_came_from() {
        let s = step(
            "map",
            json!({"object": "lead", "fields": {"mail": "email"},
                   "computed": {"h": "sha256(lower(event.email))", "status": "'new'"}}),
        );
        let mut st = RunState {
            event: json!({"email": "a@b.c"}),
            params: json!({}),
            record: None,
        };
        map(&s, &mut st).expect("maps");
        let rec = st.record.expect("record");
        assert_eq!(rec.fields["mail"], json!("a@b.c"));
        assert_eq!(rec.sources["h"], BTreeSet::from(["email".to_string()]));
        assert!(rec.sources["status"].is_empty());
    }

    #[test]
    fn render_fills_placeholders() {
        let st = RunState {
            event: json!({"company": "Acme", "n": 3}),
            params: json!({"x": "y"}),
            record: None,
        };
        assert_eq!(
            render(
                "{{event.company}} {{event.n}} {{params.x}} {{event.nope}}",
                &st
            ),
            "Acme 3 y ?"
        );
    }
}
