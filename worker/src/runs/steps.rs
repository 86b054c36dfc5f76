//! What each step kind does to a run's state, and the decision it records. Steps have no effect
//! outside Switchyard's database: `dedupe` claims its key (in the run's transaction), `enrich`
//! and `suppress` read the contact store and suppression lists; only deliveries reach
//! destinations, and those are made by the interpreter from `deliver` and `notify` steps.

use super::cel;
use entity::contact;
use entity::documents::record::Decision;
use entity::documents::template::{
    DedupeConfig, DelayConfig, EnrichConfig, EnrichSource, MapConfig, OnFail, OnMissing,
    RouteConfig, SlaConfig, Step, SuppressConfig, ValidateConfig,
};
use entity::status::{DeliveryStatus, RunStatus};
use entity::suppression;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// A record built by a `map` step: output fields and, for each, the input fields it came from
/// (so the one field rule can withhold whatever a destination may not receive).
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub object: String,
    pub fields: Map<String, Value>,
    pub sources: BTreeMap<String, BTreeSet<String>>,
    /// Output fields the step defines that this input could not fill (their source is absent).
    pub missing: Vec<String>,
}

/// The state a run carries from step to step.
#[derive(Debug, Clone)]
pub struct RunState {
    /// The input (event payload, manual input, segment) plus what earlier steps added.
    pub event: Value,
    pub params: Value,
    pub record: Option<Record>,
}

/// What a step decided for the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    Continue,
    /// The run ends here with this status (skipped, rejected, failed).
    Stop(RunStatus),
    /// Continue from the next step after `seconds`.
    Wait {
        seconds: i64,
    },
    /// Wait for a person; expire after `hours` when given.
    Approve {
        hours: Option<u64>,
    },
}

/// A step's decision: for the record, and for the run.
#[derive(Debug, Clone)]
pub struct Done {
    pub decision: Decision,
    pub detail: String,
    pub data: Value,
    pub flow: Flow,
}

impl Done {
    pub fn go(decision: Decision, detail: impl Into<String>, data: Value) -> Self {
        Self {
            decision,
            detail: detail.into(),
            data,
            flow: Flow::Continue,
        }
    }

    pub fn stop(status: RunStatus, decision: Decision, detail: impl Into<String>) -> Self {
        Self {
            decision,
            detail: detail.into(),
            data: Value::Null,
            flow: Flow::Stop(status),
        }
    }
}

/// Reads `a.b.c` from a JSON value (a null counts as absent).
pub fn path<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted
        .split('.')
        .try_fold(value, |v, part| v.get(part))
        .filter(|v| !v.is_null())
}

/// The number in the parameter named `name`, if the step names one.
fn param_u64(params: &Value, name: Option<&String>) -> Option<u64> {
    name.and_then(|p| params.get(p)).and_then(Value::as_u64)
}

/// `validate`: every rule's check must hold; without rules, the fields the step reads must be
/// present.
pub fn validate(step: &Step, cfg: &ValidateConfig, st: &RunState, accepted_at: &str) -> Done {
    if let Some(days) = param_u64(&st.params, cfg.since_days_from_param.as_ref()) {
        let old = entity::clock::parse(accepted_at).is_some_and(|t| {
            chrono::Utc::now() - t
                > chrono::Duration::days(i64::try_from(days).unwrap_or(i64::MAX / 86_400_000))
        });
        if old {
            return Done::stop(
                RunStatus::Skipped,
                Decision::Skipped,
                format!("older than {days} days"),
            );
        }
    }
    if cfg.rules.is_empty() {
        let missing: Vec<&str> = step
            .reads
            .iter()
            .map(String::as_str)
            .filter(|f| path(&st.event, f).is_none())
            .collect();
        if missing.is_empty() {
            return Done::go(Decision::Passed, "every field is present", Value::Null);
        }
        let detail = format!("missing {}", missing.join(", "));
        return match cfg.on_fail.unwrap_or(OnFail::Reject) {
            OnFail::Skip => Done::stop(RunStatus::Skipped, Decision::Skipped, detail),
            OnFail::Reject => Done::stop(RunStatus::Rejected, Decision::Rejected, detail),
        };
    }
    for (i, rule) in cfg.rules.iter().enumerate() {
        // A check that cannot be evaluated (a field missing) counts as failed.
        if cel::condition(&rule.check, &st.event, &st.params).unwrap_or(false) {
            continue;
        }
        let message = rule.message.clone().unwrap_or_else(|| rule.check.clone());
        let mut done = match rule.on_fail {
            OnFail::Skip => Done::stop(RunStatus::Skipped, Decision::Skipped, message),
            OnFail::Reject => Done::stop(RunStatus::Rejected, Decision::Rejected, message),
        };
        done.data = json!({"rule": i + 1, "check": rule.check});
        return done;
    }
    Done::go(
        Decision::Passed,
        format!("{} checks passed", cfg.rules.len()),
        Value::Null,
    )
}

/// `validate` with a `lookup`: finds the record the check is about — e.g. the segment a
/// campaign names (`{contract: segment, by: segment_id, value: "params.segment_id"}`) — and adds
/// its fields to the run's input (missing ones take the contract's defaults), so the rules and
/// later steps read them as `event.<field>`. Contacts and leads come from the contact store,
/// accounts from its `account:<domain>` entries, other contracts from the newest accepted event
/// of that type whose `by` field holds the value. `Err(done)` when it is not found.
pub async fn lookup(
    db: &DatabaseConnection,
    cfg: &ValidateConfig,
    st: &mut RunState,
) -> Result<Result<(), Done>, DbErr> {
    let Some(l) = &cfg.lookup else {
        return Ok(Ok(()));
    };
    let stop = |detail: String| {
        let status = match cfg.on_fail.unwrap_or(OnFail::Reject) {
            OnFail::Skip => RunStatus::Skipped,
            OnFail::Reject => RunStatus::Rejected,
        };
        let mut d = Done::stop(status, Decision::NotFound, detail);
        d.data = json!({"lookup": l.contract, "by": l.by});
        d
    };
    let wanted = match cel::eval(&l.value, &st.event, &st.params) {
        Ok(Value::String(s)) => s,
        Ok(Value::Null) | Err(_) => {
            return Ok(Err(stop(format!(
                "nothing to look the {} up by: {} has no value",
                l.contract, l.value
            ))));
        }
        Ok(other) => other.to_string(),
    };
    let found: Option<Map<String, Value>> = match l.contract.as_str() {
        "contact" | "lead" => contact::Entity::find()
            .filter(contact::Column::Email.eq(wanted.to_lowercase()))
            .one(db)
            .await?
            .map(|c| serde_json::from_str(&c.traits).unwrap_or_default()),
        "account" => contact::Entity::find()
            .filter(contact::Column::ExternalId.eq(format!("account:{}", wanted.to_lowercase())))
            .one(db)
            .await?
            .map(|c| serde_json::from_str(&c.traits).unwrap_or_default()),
        contract => newest_record(db, contract, &l.by, &wanted).await?,
    };
    let Some(mut found) = found else {
        return Ok(Err(stop(format!(
            "no {} with {} = {wanted}",
            l.contract, l.by
        ))));
    };
    if let Some(def) = crate::catalog::current(db, "contract", &l.contract).await?
        && let Some(props) = def.definition["schema"]["properties"].as_object()
    {
        for (name, prop) in props {
            if let Some(default) = prop.get("default") {
                found.entry(name.clone()).or_insert_with(|| default.clone());
            }
        }
    }
    if let Some(obj) = st.event.as_object_mut() {
        obj.extend(found);
    } else {
        st.event = Value::Object(found);
    }
    Ok(Ok(()))
}

/// The newest accepted `contract` event whose payload field `by` equals `value`.
async fn newest_record(
    db: &DatabaseConnection,
    contract: &str,
    by: &str,
    value: &str,
) -> Result<Option<Map<String, Value>>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut q = entity::event::Entity::find()
        .filter(entity::event::Column::EventType.eq(contract))
        .filter(entity::event::Column::Status.eq("accepted"));
    // Narrow in the database when the value needs no escaping in LIKE; check exactly below.
    if !value.contains(['%', '_', '\\', '"']) {
        q = q.filter(entity::event::Column::Payload.contains(value));
    }
    let rows = q
        .order_by_desc(entity::event::Column::ReceivedAt)
        .limit(1000)
        .all(db)
        .await?;
    Ok(rows.into_iter().find_map(|e| {
        let payload: Map<String, Value> = serde_json::from_str(&e.payload).ok()?;
        let hit = match path(&Value::Object(payload.clone()), by)? {
            Value::String(s) => s == value,
            other => serde_json::from_str::<Value>(value).ok().as_ref() == Some(other),
        };
        hit.then_some(payload)
    }))
}

/// A dedupe key the run claims when it is recorded.
#[derive(Debug, Clone)]
pub struct DedupeClaim {
    pub step: String,
    pub key_hash: String,
    pub window_minutes: u64,
}

/// `dedupe`: the key this run claims; whether an earlier run holds it is settled in the run's
/// transaction (a run within the window ends as a duplicate).
pub fn dedupe(step: &Step, cfg: &DedupeConfig, st: &RunState) -> (Done, DedupeClaim) {
    let mut hasher = Sha256::new();
    hasher.update(step.id.as_bytes());
    for k in &cfg.key {
        hasher.update(b"\x1f");
        let v = path(&st.event, k).map(|v| match v {
            Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        });
        hasher.update(v.unwrap_or_default().as_bytes());
    }
    let key_hash = hex::encode(hasher.finalize());
    let minutes = param_u64(&st.params, cfg.window_minutes_from_param.as_ref())
        .or_else(|| param_u64(&st.params, cfg.window_days_from_param.as_ref()).map(|d| d * 1440))
        .or(cfg.window_minutes)
        .unwrap_or(1440);
    let done = Done::go(
        Decision::Passed,
        format!("first {} within {minutes} minutes", cfg.key.join(" + ")),
        json!({"key": cfg.key, "key_hash": key_hash, "window_minutes": minutes}),
    );
    (
        done,
        DedupeClaim {
            step: step.id.clone(),
            key_hash,
            window_minutes: minutes,
        },
    )
}

/// `enrich`: looks a record up in the contact store and adds the chosen fields under `as`.
/// Accounts are contacts whose external id is `account:<domain>`.
pub async fn enrich(
    db: &DatabaseConnection,
    cfg: &EnrichConfig,
    st: &mut RunState,
) -> Result<Done, DbErr> {
    let by = cfg.by.as_deref().unwrap_or("email");
    let target = cfg
        .into
        .clone()
        .unwrap_or_else(|| cfg.lookup.as_str().to_string());
    let value = path(&st.event, by)
        .and_then(Value::as_str)
        .map(str::to_string);
    let found = match (cfg.lookup, value) {
        (EnrichSource::Account, Some(v)) => {
            contact::Entity::find()
                .filter(contact::Column::ExternalId.eq(format!("account:{}", v.to_lowercase())))
                .one(db)
                .await?
        }
        (EnrichSource::Contact | EnrichSource::Lead, Some(v)) => {
            contact::Entity::find()
                .filter(contact::Column::Email.eq(v))
                .one(db)
                .await?
        }
        (EnrichSource::ContractHealth, _) => {
            return Ok(Done::stop(
                RunStatus::Failed,
                Decision::Failed,
                "contract health is measured by the alert rules, not by a workflow step",
            ));
        }
        _ => None,
    };
    let Some(found) = found else {
        let detail = format!("no {} found for {by}", cfg.lookup.as_str());
        return Ok(match cfg.on_missing {
            OnMissing::Skip => Done::stop(RunStatus::Skipped, Decision::NotFound, detail),
            OnMissing::Continue => Done::go(Decision::NotFound, detail, Value::Null),
        });
    };
    let traits: Map<String, Value> = serde_json::from_str(&found.traits).unwrap_or_default();
    let picked: Map<String, Value> = traits
        .into_iter()
        .filter(|(k, _)| cfg.fields.is_empty() || cfg.fields.contains(k))
        .collect();
    let names: Vec<&String> = picked.keys().collect();
    let data = json!({"lookup": cfg.lookup.as_str(), "by": by, "fields": names});
    if let Some(obj) = st.event.as_object_mut() {
        obj.insert(target.clone(), Value::Object(picked));
    }
    Ok(Done::go(
        Decision::Enriched,
        format!(
            "found the {} by {by}; added as {target}",
            cfg.lookup.as_str()
        ),
        data,
    ))
}

/// `route`: the first rule whose `when` holds assigns its owner to `event.<assign_to>`.
pub fn route(cfg: &RouteConfig, st: &mut RunState) -> Done {
    let field = cfg.assign_to.as_deref().unwrap_or("owner");
    let mut chosen = (cfg.default_owner.clone(), None);
    for (i, rule) in cfg.rules.iter().enumerate() {
        if cel::condition(&rule.when, &st.event, &st.params).unwrap_or(false) {
            chosen = (Some(rule.owner.clone()), Some(i));
            break;
        }
    }
    let (owner, rule) = chosen;
    if let Some(obj) = st.event.as_object_mut() {
        obj.insert(
            field.to_string(),
            owner.clone().map_or(Value::Null, Value::String),
        );
    }
    let to = owner.unwrap_or_else(|| "nobody".into());
    let (detail, data) = match rule {
        Some(i) => (
            format!("routed to {to} by rule {} ({})", i + 1, cfg.rules[i].when),
            json!({"to": to, "rule": i + 1, "when": cfg.rules[i].when, "field": field}),
        ),
        None => (
            format!("routed to {to} (no rule matched: the default)"),
            json!({"to": to, "rule": Value::Null, "field": field}),
        ),
    };
    Done::go(Decision::Routed, detail, data)
}

/// `suppress`: people on the list, without consent, or matching `suppress_when` are skipped.
pub async fn suppress(
    db: &DatabaseConnection,
    cfg: &SuppressConfig,
    st: &RunState,
) -> Result<Done, DbErr> {
    let suppressed = |why: String, data: Value| {
        let mut d = Done::stop(RunStatus::Skipped, Decision::Suppressed, why);
        d.data = data;
        d
    };
    if let Some(field) = &cfg.consent_field
        && path(&st.event, field).and_then(Value::as_bool) != Some(true)
    {
        return Ok(suppressed(
            format!("suppressed: no consent ({field} is not true)"),
            json!({"reason": "consent", "field": field}),
        ));
    }
    if let (Some(list), Some(email)) = (&cfg.list, path(&st.event, "email").and_then(Value::as_str))
    {
        let listed = suppression::Entity::find()
            .filter(suppression::Column::List.eq(list.as_str()))
            .filter(suppression::Column::Email.eq(email.to_lowercase()))
            .one(db)
            .await?;
        if listed.is_some() {
            return Ok(suppressed(
                format!("suppressed: on suppression list {list}"),
                json!({"reason": "list", "list": list}),
            ));
        }
    }
    if let Some(expr) = &cfg.suppress_when
        && cel::condition(expr, &st.event, &st.params).unwrap_or(true)
    {
        return Ok(suppressed(
            format!("suppressed: {expr}"),
            json!({"reason": "rule", "when": expr}),
        ));
    }
    Ok(Done::go(Decision::Passed, "not suppressed", Value::Null))
}

/// `map`: builds the outgoing record from field mappings and computed CEL fields.
pub fn map(step: &Step, cfg: &MapConfig, st: &mut RunState) -> Done {
    let mut rec = Record {
        object: cfg.object.clone().unwrap_or_else(|| "record".into()),
        ..Record::default()
    };
    for (out, from) in &cfg.fields {
        if let Some(v) = path(&st.event, from) {
            rec.fields.insert(out.clone(), v.clone());
            rec.sources
                .insert(out.clone(), BTreeSet::from([from.clone()]));
        } else {
            rec.missing.push(out.clone());
        }
    }
    for (out, expr) in &cfg.computed {
        let v = match cel::eval(expr, &st.event, &st.params) {
            Ok(v) => v,
            // An optional field the input does not carry: the computed field is left out.
            Err(e) if e.contains("No such key") => {
                rec.missing.push(out.clone());
                continue;
            }
            Err(e) => {
                return Done::stop(
                    RunStatus::Failed,
                    Decision::Failed,
                    format!("step {} computed field {out}: {e}", step.id),
                );
            }
        };
        rec.fields.insert(out.clone(), v);
        rec.sources.insert(out.clone(), cel::event_paths(expr));
    }
    let names: Vec<&String> = rec.fields.keys().collect();
    let done = Done::go(
        Decision::Mapped,
        format!("built a {} with {} fields", rec.object, names.len()),
        json!({"object": rec.object, "fields": names}),
    );
    st.record = Some(rec);
    done
}

/// `delay`: wait `minutes` (or the parameter named by `minutes_from_param`).
pub fn delay(cfg: &DelayConfig, st: &RunState) -> Done {
    let minutes = param_u64(&st.params, cfg.minutes_from_param.as_ref())
        .or(cfg.minutes)
        .unwrap_or(0);
    if minutes == 0 {
        return Done::go(Decision::Passed, "no wait", Value::Null);
    }
    Done {
        decision: Decision::Waiting,
        detail: format!("waiting {minutes} minutes"),
        data: json!({"minutes": minutes}),
        flow: Flow::Wait {
            seconds: i64::try_from(minutes.saturating_mul(60)).unwrap_or(i64::MAX),
        },
    }
}

/// Minutes of an `sla` step (its parameter, else `minutes`, else 30).
fn sla_minutes(cfg: &SlaConfig, st: &RunState) -> u64 {
    param_u64(&st.params, cfg.minutes_from_param.as_ref())
        .or(cfg.minutes)
        .unwrap_or(30)
}

/// `sla` when first reached: wait out the SLA, then check (`sla_verdict`).
pub fn sla_wait(cfg: &SlaConfig, st: &RunState) -> Done {
    let minutes = sla_minutes(cfg, st);
    Done {
        decision: Decision::Waiting,
        detail: format!(
            "waiting up to {minutes} minutes for {} to be accepted",
            cfg.watch
        ),
        data: json!({"minutes": minutes, "watch": cfg.watch}),
        flow: Flow::Wait {
            seconds: i64::try_from(minutes.saturating_mul(60)).unwrap_or(i64::MAX),
        },
    }
}

/// `sla` after its time: within the SLA when the watched delivery (`status`) was accepted and
/// the owner field is set; otherwise the run is re-routed to the fallback owner and
/// `event.sla_breached` is set for the steps that follow.
pub fn sla_verdict(cfg: &SlaConfig, st: &mut RunState, status: Option<DeliveryStatus>) -> Done {
    let field = cfg.assign_to.as_deref().unwrap_or("owner");
    let minutes = sla_minutes(cfg, st);
    let owner = path(&st.event, field)
        .and_then(Value::as_str)
        .filter(|o| !o.trim().is_empty())
        .map(str::to_string);
    let accepted = status == Some(DeliveryStatus::Delivered);
    let state = status.map_or("not made", |s| s.as_str());
    let Some(obj) = st.event.as_object_mut() else {
        return Done::stop(
            RunStatus::Failed,
            Decision::Failed,
            "the input is not an object",
        );
    };
    if accepted && owner.is_some() {
        obj.insert("sla_breached".into(), Value::Bool(false));
        return Done::go(
            Decision::Passed,
            format!("{} was accepted within {minutes} minutes", cfg.watch),
            json!({"watch": cfg.watch, "delivery": state, "owner": owner}),
        );
    }
    let fallback = param_str(&st.params, cfg.fallback_owner_from_param.as_ref())
        .or_else(|| cfg.fallback_owner.clone())
        .unwrap_or_else(|| "unassigned".into());
    let why = if accepted {
        format!("no {field} was set")
    } else {
        format!("{} was not accepted (delivery {state})", cfg.watch)
    };
    let previous = owner.clone().unwrap_or_else(|| "nobody".into());
    obj.insert("previous_owner".into(), Value::String(previous.clone()));
    obj.insert(field.to_string(), Value::String(fallback.clone()));
    obj.insert("sla_breached".into(), Value::Bool(true));
    obj.insert("sla_minutes".into(), json!(minutes));
    Done::go(
        Decision::Routed,
        format!(
            "SLA of {minutes} minutes breached: {why}; re-routed from {previous} to {fallback}"
        ),
        json!({"watch": cfg.watch, "delivery": state, "from": previous, "to": fallback,
               "breached": true}),
    )
}

/// The string in the parameter named `name`, if the step names one.
fn param_str(params: &Value, name: Option<&String>) -> Option<String> {
    name.and_then(|p| params.get(p))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Fills `{{event.x}}` / `{{params.x}}` placeholders of a message.
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
    use entity::documents::template::{StepKind, TemplateDef};

    fn step(kind: &str, config: Value) -> Step {
        let def = TemplateDef::parse(&json!({
            "parameters": {"type": "object"}, "trigger": {"type": "manual"},
            "steps": [{"id": "s", "type": kind, "config": config}]
        }))
        .expect("parses");
        def.steps.into_iter().next().expect("one step")
    }

    #[test]
    fn route_picks_the_first_matching_rule_and_says_which() {
        let s = step(
            "route",
            json!({"assign_to": "owner", "default_owner": "amer", "rules": [
                {"when": "event.source_category == 'partner'", "owner": "partner-desk"},
                {"when": "event.country in params.emea", "owner": "emea"}]}),
        );
        let StepKind::Route(cfg) = &s.kind else {
            panic!("route")
        };
        let mut st = RunState {
            event: json!({"source_category": "web", "country": "DE"}),
            params: json!({"emea": ["DE"]}),
            record: None,
        };
        let done = route(cfg, &mut st);
        assert_eq!(st.event["owner"], json!("emea"));
        assert_eq!(done.data["rule"], json!(2));
        assert!(done.detail.contains("rule 2"), "{}", done.detail);
    }

    #[test]
    fn map_tracks_where_each_field_came_from() {
        let s = step(
            "map",
            json!({"object": "lead", "fields": {"mail": "email"},
                   "computed": {"h": "sha256(lower(event.email))", "status": "'new'"}}),
        );
        let StepKind::Map(cfg) = &s.kind else {
            panic!("map")
        };
        let mut st = RunState {
            event: json!({"email": "a@b.c"}),
            params: json!({}),
            record: None,
        };
        let done = map(&s, cfg, &mut st);
        assert_eq!(done.decision, Decision::Mapped);
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
