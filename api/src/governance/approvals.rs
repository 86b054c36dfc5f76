//! Policy-driven approvals (issue 9, part 5). The policy, not the template, says when a workflow
//! needs an approval and from whom: a rule `p, role:R, approval:<what>, approve, any, allow`
//! means workflows matching `<what>` need one, and R may give it (never the workflow's owner).
//! `<what>` is `template:<key>` (every workflow of a template), `sensitive:<key>` (of a template
//! marked sensitive) or `flow:<class>:<category>` (sending data of that class to that kind of
//! destination).
//!
//! An approval records the requirement, the rule that required it, who gave it, and the inputs
//! it approved — template version, destinations, fields — by hash. It ends by itself: expired
//! (`[approvals] expire_after`), revoked when its rule changes or when what it approved changes,
//! released when the policy no longer requires it. A workflow missing an approval goes back to
//! `pending_approval`; its owner and the approver are notified; every ending is audited.

use super::evaluate::Reads;
use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::error::{ApiError, ApiResult};
use crate::instances::{self, Action};
use crate::policy::Policy;
use entity::documents::flow::FlowDecision;
use entity::documents::template::TemplateDef;
use entity::{approval, instance};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, Set,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// `[approvals]`: how long an approval the policy required stays valid.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalConfig {
    /// `90s`, `30m`, `12h`, `30d`; absent: until revoked.
    pub expire_after: Option<String>,
}

impl ApprovalConfig {
    /// The validity in seconds, `None` for no expiry; `Err` naming the key when malformed.
    pub fn expire_after_seconds(&self) -> Result<Option<i64>, String> {
        self.expire_after
            .as_deref()
            .map(|s| {
                crate::cli::parse_ttl(s).map_err(|e| {
                    format!(
                        "approvals.expire_after: {}",
                        e.to_string().replace("--ttl: ", "")
                    )
                })
            })
            .transpose()
    }
}

/// One approval the policy requires of a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// `approval:sensitive:audience-sync`, `approval:flow:personal:ads`, …
    pub object: String,
    /// Roles that may give it.
    pub roles: Vec<String>,
    /// The rule that requires it (`policy.csv:NN: p, role:…`).
    pub rule: String,
}

/// A rule without its line number: moving a rule is not changing it.
fn rule_text(rule: &str) -> &str {
    rule.split_once(": ").map_or(rule, |(_, r)| r)
}

/// The approvals `policy` requires of a workflow of `template` with `flows`.
pub fn required(
    policy: &Policy,
    template: &str,
    def: &TemplateDef,
    flows: &FlowDecision,
) -> Vec<Requirement> {
    let mut objects = BTreeSet::new();
    objects.insert(format!("approval:template:{template}"));
    if def.sensitive {
        objects.insert(format!("approval:sensitive:{template}"));
    }
    for slot in flows.slots.values() {
        for class in slot.fields.values() {
            objects.insert(format!("approval:flow:{class}:{}", slot.category));
        }
    }
    objects
        .into_iter()
        .filter_map(|object| {
            let roles = policy.roles_allowed(&object, "approve");
            let first = roles.first()?;
            let rule = policy
                .decide_for(&[format!("role:{first}")], &object, "approve")
                .rule
                .unwrap_or_default();
            Some(Requirement {
                object,
                roles,
                rule,
            })
        })
        .collect()
}

/// Roles that may give the approvals the policy requires of a workflow of `template` because of
/// the template itself or the data it sends (`None`: nothing of that kind; sensitivity needs the
/// template's definition and is not looked at here).
pub fn approver_roles(
    policy: &Policy,
    template: &str,
    flows: &FlowDecision,
) -> Option<Vec<String>> {
    let mut objects = vec![format!("approval:template:{template}")];
    for slot in flows.slots.values() {
        for class in slot.fields.values() {
            objects.push(format!("approval:flow:{class}:{}", slot.category));
        }
    }
    let roles: BTreeSet<String> = objects
        .iter()
        .flat_map(|o| policy.roles_allowed(o, "approve"))
        .collect();
    (!roles.is_empty()).then(|| roles.into_iter().collect())
}

/// What an approval of `inst` approves: its template version, destinations and fields.
pub fn inputs(inst: &instance::Model, flows: &FlowDecision) -> Value {
    let destinations: Value = serde_json::from_str(&inst.bindings).unwrap_or(Value::Null);
    let fields: BTreeMap<&String, (&String, &BTreeMap<String, String>)> = flows
        .slots
        .iter()
        .map(|(slot, f)| (slot, (&f.category, &f.fields)))
        .collect();
    json!({
        "template_version": inst.template_version,
        "destinations": destinations,
        "fields": fields,
    })
}

fn hash(inputs: &Value) -> String {
    entity::chain::sha256_hex(entity::chain::canonical_json(inputs).as_bytes())
}

/// What changed between two sets of approved inputs, in words.
fn what_changed(before: &Value, after: &Value) -> String {
    let mut out = Vec::new();
    if before["template_version"] != after["template_version"] {
        out.push(format!(
            "template version {} -> {}",
            before["template_version"], after["template_version"]
        ));
    }
    let slots: BTreeSet<String> = [&before["destinations"], &after["destinations"]]
        .iter()
        .filter_map(|v| v.as_object())
        .flat_map(|m| m.keys().cloned())
        .collect();
    for slot in &slots {
        let (b, a) = (&before["destinations"][slot], &after["destinations"][slot]);
        if b != a {
            out.push(format!("destination {slot}: connection {b} -> {a}"));
        }
        let (bf, af) = (&before["fields"][slot], &after["fields"][slot]);
        if bf != af {
            out.push(format!("fields sent to {slot}: {bf} -> {af}"));
        }
    }
    if out.is_empty() {
        "what it approved changed".into()
    } else {
        out.join("; ")
    }
}

async fn valid(db: &impl ConnectionTrait, id: i64) -> ApiResult<Vec<approval::Model>> {
    Ok(approval::Entity::find()
        .filter(approval::Column::InstanceId.eq(id))
        .filter(approval::Column::Status.eq("valid"))
        .all(db)
        .await?)
}

fn satisfied(r: &Requirement, approvals: &[approval::Model], inputs_hash: &str) -> bool {
    let now = audit::now_string();
    approvals.iter().any(|a| {
        a.requirement == r.object
            && rule_text(&a.rule) == rule_text(&r.rule)
            && a.inputs_hash == inputs_hash
            && a.expires_at.as_deref().is_none_or(|e| e > now.as_str())
    })
}

/// Approves instance `id`: gives every pending approval the caller may give (never as its
/// owner). The workflow becomes active once nothing is pending. A workflow the policy requires
/// nothing of is approved as before (`approve` on its template).
pub async fn approve(
    db: &DatabaseConnection,
    policy: &Policy,
    cfg: &ApprovalConfig,
    actor: &Actor,
    id: i64,
) -> ApiResult<instance::Model> {
    let row = instance::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("id: no instance {id}")))?;
    if row.status != "pending_approval" {
        return instances::transition(db, policy, actor, id, Action::Approve).await;
    }
    let mut reads = Reads::default();
    let (def, _) = reads
        .template(db, &row.template, &row.template_version)
        .await?;
    let (flows, _) = super::evaluate::decide(db, policy, &mut reads, &row).await?;
    let reqs = required(policy, &row.template, &def, &flows);
    let given = valid(db, id).await?;
    let inputs = inputs(&row, &flows);
    let inputs_hash = hash(&inputs);
    let pending: Vec<&Requirement> = reqs
        .iter()
        .filter(|r| !satisfied(r, &given, &inputs_hash))
        .collect();
    if pending.is_empty() {
        return instances::transition(db, policy, actor, id, Action::Approve).await;
    }
    let target = format!("instance:{id}");
    let owner = access::instance_owner(&row);
    let mine: Vec<&Requirement> = pending
        .iter()
        .copied()
        .filter(|r| access::allows(policy, actor, Ask::owned(&r.object, "approve", &owner)))
        .collect();
    if mine.is_empty() {
        audit::record_denied(db, actor, "instance.approve", &target).await?;
        let needs: Vec<String> = pending
            .iter()
            .map(|r| format!("{} ({})", r.roles.join(" or "), r.rule))
            .collect();
        return Err(ApiError::Forbidden(format!(
            "`{}` may not approve instance {id}: it needs an approval from {}",
            actor.sub,
            needs.join("; and from ")
        )));
    }
    if row.owner == actor.sub {
        audit::record_denied(db, actor, "instance.approve", &target).await?;
        return Err(ApiError::Forbidden(
            "four eyes: the person who requested an instance cannot approve it".into(),
        ));
    }
    // Nothing is approved that the policy in force would not let run.
    super::apply::runnable(db, policy, &row).await?;
    let now = chrono::Utc::now();
    let expires = cfg
        .expire_after_seconds()
        .map_err(ApiError::internal)?
        .map(|s| entity::clock::format(now + chrono::Duration::seconds(s)));
    let still: Vec<&Requirement> = pending
        .iter()
        .copied()
        .filter(|r| !mine.contains(r))
        .collect();
    let tx = crate::db::begin_write(db).await?;
    for r in &mine {
        approval::ActiveModel {
            instance_id: Set(id),
            requirement: Set(r.object.clone()),
            rule: Set(r.rule.clone()),
            approver_roles: Set(json!(r.roles).to_string()),
            approved_by: Set(actor.sub.clone()),
            approved_at: Set(entity::clock::format(now)),
            expires_at: Set(expires.clone()),
            inputs: Set(inputs.to_string()),
            inputs_hash: Set(inputs_hash.clone()),
            policy_version: Set(policy.version()),
            status: Set("valid".into()),
            ended_at: Set(None),
            end_reason: Set(None),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
    }
    let status = if still.is_empty() {
        "active"
    } else {
        "pending_approval"
    };
    let mut active: instance::ActiveModel = row.clone().into();
    active.status = Set(status.to_string());
    active.flows = Set(flows.to_json());
    if still.is_empty() {
        active.approved_by = Set(Some(actor.sub.clone()));
    }
    active.updated_at = Set(audit::now_string());
    let updated = active.update(&tx).await?;
    let approved: Vec<Value> = mine
        .iter()
        .map(|r| json!({ "requirement": r.object, "rule": r.rule }))
        .collect();
    let waiting: Vec<Value> = still
        .iter()
        .map(|r| json!({ "requirement": r.object, "roles": r.roles, "rule": r.rule }))
        .collect();
    audit::record(
        &tx,
        actor,
        Change {
            action: "instance.approve".into(),
            target,
            before: Some(json!({ "status": row.status })),
            after: Some(json!({ "status": status, "approved": approved,
                "still_needed": waiting, "expires_at": expires, "inputs": inputs })),
        },
    )
    .await?;
    let message = format!(
        "{} approved your workflow '{}' ({}){}.",
        actor.sub,
        row.name,
        mine.iter()
            .map(|r| r.rule.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        if still.is_empty() {
            "; it is active".to_string()
        } else {
            format!(
                "; it still needs an approval from {}",
                still
                    .iter()
                    .map(|r| r.roles.join(" or "))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        }
    );
    super::apply::notify(&tx, &row.owner, "approval", id, &message).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Ends an approval (`revoked`, `expired`, `released`) with why.
async fn end(
    tx: &DatabaseTransaction,
    a: &approval::Model,
    status: &str,
    reason: &str,
) -> ApiResult<bool> {
    let n = approval::Entity::update_many()
        .col_expr(approval::Column::Status, Expr::value(status))
        .col_expr(approval::Column::EndedAt, Expr::value(audit::now_string()))
        .col_expr(approval::Column::EndReason, Expr::value(reason))
        .filter(approval::Column::Id.eq(a.id))
        .filter(approval::Column::Status.eq("valid"))
        .exec(tx)
        .await?
        .rows_affected;
    Ok(n == 1)
}

/// A policy activation, as approvals see it: what the new policy requires of a workflow, and
/// which of those it did not require before.
pub struct PolicyChange<'a> {
    pub now: &'a [Requirement],
    pub new: &'a [Requirement],
}

/// Why one approval ends, if it does.
fn ending(
    a: &approval::Model,
    change: Option<&PolicyChange<'_>>,
    current: &Value,
    current_hash: &str,
    now: &str,
) -> Option<(&'static str, String)> {
    if let Some(e) = a.expires_at.as_deref().filter(|e| *e <= now) {
        return Some(("expired", format!("it expired at {e}")));
    }
    if let Some(change) = change {
        match change.now.iter().find(|r| r.object == a.requirement) {
            None => return Some(("released", "the policy no longer requires it".into())),
            Some(r) if rule_text(&r.rule) != rule_text(&a.rule) => {
                return Some((
                    "revoked",
                    format!(
                        "the rule that required it changed: {} -> {}",
                        a.rule, r.rule
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    (a.inputs_hash != current_hash).then(|| {
        let before: Value = serde_json::from_str(&a.inputs).unwrap_or(Value::Null);
        (
            "revoked",
            format!(
                "what it approved changed: {}",
                what_changed(&before, current)
            ),
        )
    })
}

/// Checks `inst`'s approvals against what it is now — and, on a policy activation, against what
/// the policy requires now: ends those that expired, whose inputs or rule changed, or that are
/// no longer required. A running workflow left missing an approval (or newly needing one) goes
/// back to `pending_approval`, its owner and the approvers notified; every ending is audited.
/// Returns whether it went back to pending.
pub async fn revalidate(
    tx: &DatabaseTransaction,
    inst: &instance::Model,
    change: Option<PolicyChange<'_>>,
) -> ApiResult<bool> {
    let flows = FlowDecision::parse(&inst.flows).unwrap_or_default();
    let current = inputs(inst, &flows);
    let current_hash = hash(&current);
    let now = audit::now_string();
    let mut ended = Vec::new();
    let mut kept = Vec::new();
    for a in valid(tx, inst.id).await? {
        match ending(&a, change.as_ref(), &current, &current_hash, &now) {
            Some((status, reason)) => {
                if end(tx, &a, status, &reason).await? {
                    ended.push((a, status, reason));
                }
            }
            None => kept.push(a),
        }
    }
    let newly: Vec<&Requirement> = change
        .as_ref()
        .map(|c| {
            c.new
                .iter()
                .filter(|r| !kept.iter().any(|a| a.requirement == r.object))
                .collect()
        })
        .unwrap_or_default();
    let missing = ended.iter().any(|(_, s, _)| *s != "released") || !newly.is_empty();
    let back = missing && matches!(inst.status.as_str(), "active" | "paused");
    if back {
        instance::Entity::update_many()
            .col_expr(instance::Column::Status, Expr::value("pending_approval"))
            .col_expr(instance::Column::UpdatedAt, Expr::value(now.clone()))
            .filter(instance::Column::Id.eq(inst.id))
            .filter(instance::Column::Status.eq(inst.status.as_str()))
            .exec(tx)
            .await?;
    }
    let status_after = if back {
        "pending_approval"
    } else {
        inst.status.as_str()
    };
    let waits = if back {
        " The workflow waits for a new approval."
    } else {
        ""
    };
    let actor = super::system();
    for (a, status, reason) in &ended {
        let action = match *status {
            "revoked" => "approval.revoke",
            "expired" => "approval.expire",
            _ => "approval.release",
        };
        audit::record(
            tx,
            &actor,
            Change {
                action: action.into(),
                target: format!("instance:{}", inst.id),
                before: Some(json!({ "approval": a.id, "requirement": a.requirement,
                    "rule": a.rule, "approved_by": a.approved_by, "status": inst.status,
                    "inputs": serde_json::from_str::<Value>(&a.inputs).unwrap_or(Value::Null) })),
                after: Some(json!({ "status": status_after, "approval": status,
                    "reason": reason, "inputs": current })),
            },
        )
        .await?;
        if *status == "released" {
            continue;
        }
        let message = format!(
            "The approval of workflow '{}' by {} ({}) was {status}: {reason}.{waits}",
            inst.name, a.approved_by, a.rule
        );
        super::apply::notify(tx, &inst.owner, "approval", inst.id, &message).await?;
        if a.approved_by != inst.owner {
            super::apply::notify(tx, &a.approved_by, "approval", inst.id, &message).await?;
        }
    }
    for r in &newly {
        audit::record(
            tx,
            &actor,
            Change {
                action: "approval.require".into(),
                target: format!("instance:{}", inst.id),
                before: Some(json!({ "status": inst.status })),
                after: Some(json!({ "status": status_after, "requirement": r.object,
                    "roles": r.roles, "rule": r.rule })),
            },
        )
        .await?;
        let message = format!(
            "Workflow '{}' now needs an approval from {} ({}).{waits}",
            inst.name,
            r.roles.join(" or "),
            r.rule
        );
        super::apply::notify(tx, &inst.owner, "approval", inst.id, &message).await?;
    }
    Ok(back)
}

/// Whether one of `inst`'s approvals has expired or no longer matches what it approved.
pub async fn stale(db: &DatabaseConnection, inst: &instance::Model) -> ApiResult<bool> {
    let flows = FlowDecision::parse(&inst.flows).unwrap_or_default();
    let current = inputs(inst, &flows);
    let current_hash = hash(&current);
    let now = audit::now_string();
    Ok(valid(db, inst.id)
        .await?
        .iter()
        .any(|a| ending(a, None, &current, &current_hash, &now).is_some()))
}

/// Instances with a valid approval, for the sweep (expiry, changed inputs).
pub async fn approved_instances(db: &DatabaseConnection) -> ApiResult<Vec<instance::Model>> {
    let ids: BTreeSet<i64> = approval::Entity::find()
        .filter(approval::Column::Status.eq("valid"))
        .all(db)
        .await?
        .into_iter()
        .map(|a| a.instance_id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(instance::Entity::find()
        .filter(instance::Column::Id.is_in(ids))
        .all(db)
        .await?)
}

/// Every approval of instance `id`, newest first.
pub async fn of_instance(db: &DatabaseConnection, id: i64) -> ApiResult<Vec<approval::Model>> {
    use sea_orm::QueryOrder;
    Ok(approval::Entity::find()
        .filter(approval::Column::InstanceId.eq(id))
        .order_by_desc(approval::Column::Id)
        .all(db)
        .await?)
}

/// The approvals a workflow of `inst`'s template needs under `policy` with `flows` (reads the
/// template version).
pub async fn required_of(
    db: &DatabaseConnection,
    policy: &Policy,
    reads: &mut Reads,
    inst: &instance::Model,
    flows: &FlowDecision,
) -> ApiResult<Vec<Requirement>> {
    let (def, _) = reads
        .template(db, &inst.template, &inst.template_version)
        .await?;
    Ok(required(policy, &inst.template, &def, flows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_moved_to_another_line_is_the_same_rule() {
        assert_eq!(
            rule_text(
                "policy.csv:12: p, role:compliance, approval:flow:*:ads, approve, any, allow"
            ),
            rule_text(
                "policy.csv:40: p, role:compliance, approval:flow:*:ads, approve, any, allow"
            )
        );
    }

    #[test]
    fn changed_inputs_are_named() {
        let before = json!({"template_version": "1.0.0", "destinations": {"ads": 3},
            "fields": {"ads": ["ads", {"email": "hashed"}]}});
        let after = json!({"template_version": "1.0.0", "destinations": {"ads": 5},
            "fields": {"ads": ["ads", {"email": "hashed"}]}});
        assert_eq!(
            what_changed(&before, &after),
            "destination ads: connection 3 -> 5"
        );
    }
}
