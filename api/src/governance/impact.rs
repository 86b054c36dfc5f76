//! What a proposed policy would change, before it is in force (`switchyard policy diff`, the
//! `policyImpact` query) and as it comes into force (the reload's audit entry): the rules added
//! and removed, the live workflows it would block or narrow with the fields each destination
//! would lose, the approvals they would newly need, and who would gain or lose the right to
//! instantiate which templates — each with the rule that decides it. Reads only.

use super::approvals;
use super::evaluate::{self, Effect, Evaluation, FieldChange, Reads};
use crate::catalog::{self, definitions::Kind};
use crate::error::ApiResult;
use crate::policy::{Policy, administrators};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::BTreeSet;

/// One live workflow the proposal would block or narrow (or give fields back to).
#[derive(Debug, Clone, Serialize)]
pub struct InstanceImpact {
    pub id: i64,
    pub name: String,
    pub template: String,
    pub owner: String,
    pub status: String,
    pub effect: Effect,
    pub lost: Vec<FieldChange>,
    pub gained: Vec<FieldChange>,
}

impl InstanceImpact {
    pub fn of(e: &Evaluation) -> Self {
        Self {
            id: e.instance.id,
            name: e.instance.name.clone(),
            template: e.instance.template.clone(),
            owner: e.instance.owner.clone(),
            status: e.instance.status.clone(),
            effect: e.effect,
            lost: e.lost.clone(),
            gained: e.gained.clone(),
        }
    }
}

/// A subject gaining or losing the right to instantiate a template.
#[derive(Debug, Clone, Serialize)]
pub struct RightChange {
    /// `role:marketer` or `user:alice`.
    pub subject: String,
    pub template: String,
    /// `gain` or `lose`.
    pub change: String,
    pub rule: String,
}

/// A live workflow that would need a (new) approval, or no longer need one.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalImpact {
    pub instance: i64,
    pub name: String,
    /// The policy object (`approval:flow:hashed:ads`).
    pub requirement: String,
    /// Who may give it (for `require`), or who gave it (for `release`).
    pub roles: Vec<String>,
    /// `require` (it goes back to pending until approved) or `release`.
    pub change: String,
    pub rule: String,
}

/// Everything a proposal would change.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    pub current_version: String,
    pub proposed_version: String,
    pub model_changed: bool,
    pub rules_added: Vec<String>,
    pub rules_removed: Vec<String>,
    /// Live workflows blocked, narrowed or given fields back.
    pub instances: Vec<InstanceImpact>,
    pub rights: Vec<RightChange>,
    /// Approvals live workflows would newly need, or no longer need.
    pub approvals: Vec<ApprovalImpact>,
    /// Why a reload would refuse the proposal (it would lock every administrator out).
    pub refused: Option<String>,
    /// Workflows that could not be evaluated (a template version gone), with why.
    pub unchecked: Vec<String>,
}

impl Impact {
    /// Live workflows that would be blocked (paused).
    pub fn blocked(&self) -> impl Iterator<Item = &InstanceImpact> {
        self.instances
            .iter()
            .filter(|i| i.effect == Effect::Blocked)
    }

    /// Whether a pull request with this proposal should fail: something live would be blocked,
    /// or the reload would refuse it.
    pub fn blocking(&self) -> bool {
        self.refused.is_some() || self.blocked().next().is_some()
    }
}

fn rule_set(p: &Policy) -> BTreeSet<String> {
    p.rules().into_iter().map(|(_, f)| f.join(", ")).collect()
}

/// Compares `current` with `proposed`; with a database, over its live workflows and catalog.
pub async fn impact(
    db: Option<&DatabaseConnection>,
    current: &Policy,
    proposed: &Policy,
) -> ApiResult<Impact> {
    let (now, next) = (rule_set(current), rule_set(proposed));
    let mut out = Impact {
        current_version: current.version(),
        proposed_version: proposed.version(),
        model_changed: current.texts().0 != proposed.texts().0,
        rules_added: next.difference(&now).cloned().collect(),
        rules_removed: now.difference(&next).cloned().collect(),
        instances: Vec::new(),
        rights: Vec::new(),
        approvals: Vec::new(),
        refused: lockout(current, proposed),
        unchecked: Vec::new(),
    };
    let mut templates: BTreeSet<String> = BTreeSet::new();
    if let Some(db) = db {
        let mut reads = Reads::default();
        for inst in evaluate::live(db).await? {
            let before = match evaluate::decide(db, current, &mut reads, &inst).await {
                Ok((d, _)) => d,
                Err(e) => {
                    out.unchecked
                        .push(format!("instance {} ({}): {e}", inst.id, inst.name));
                    continue;
                }
            };
            let e = evaluate::evaluate(db, proposed, &mut reads, &inst, Some(before)).await?;
            if e.effect != Effect::Unchanged || !e.gained.is_empty() {
                out.instances.push(InstanceImpact::of(&e));
            }
            let was = approvals::required_of(db, current, &mut reads, &inst, &e.before).await?;
            let now = approvals::required_of(db, proposed, &mut reads, &inst, &e.after).await?;
            for (change, reqs, other) in [("require", &now, &was), ("release", &was, &now)] {
                for r in reqs.iter().filter(|r| {
                    !other
                        .iter()
                        .any(|o| o.object == r.object && o.roles == r.roles)
                }) {
                    out.approvals.push(ApprovalImpact {
                        instance: inst.id,
                        name: inst.name.clone(),
                        requirement: r.object.clone(),
                        roles: r.roles.clone(),
                        change: change.into(),
                        rule: r.rule.clone(),
                    });
                }
            }
        }
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let items = entity::catalog_item::Entity::find()
            .filter(entity::catalog_item::Column::Kind.eq(Kind::Template.as_str()))
            .all(db)
            .await?;
        templates.extend(items.into_iter().map(|i| i.key));
    }
    templates.extend(
        now.iter()
            .chain(next.iter())
            .filter_map(|r| r.split(", ").nth(2))
            .filter_map(|o| o.strip_prefix("catalog:template:"))
            .filter(|k| !k.contains('*'))
            .map(str::to_string),
    );
    out.rights = rights(current, proposed, &templates);
    Ok(out)
}

fn lockout(current: &Policy, proposed: &Policy) -> Option<String> {
    let today = administrators(current);
    let tomorrow = administrators(proposed);
    (!today.is_empty() && !today.iter().any(|s| tomorrow.contains(s))).then(|| {
        format!(
            "a reload would refuse it: it locks every administrator out ({} would lose the right to read the policy and the audit log)",
            today.join(", ")
        )
    })
}

/// Who would gain or lose `instantiate` on each template.
fn rights(current: &Policy, proposed: &Policy, templates: &BTreeSet<String>) -> Vec<RightChange> {
    let mut subjects: BTreeSet<String> = current.subjects().into_iter().collect();
    subjects.extend(proposed.subjects());
    let mut out = Vec::new();
    for subject in subjects
        .iter()
        .filter(|s| s.starts_with("role:") || s.starts_with("user:"))
    {
        for key in templates {
            let obj = catalog::object(Kind::Template, key);
            let who = std::slice::from_ref(subject);
            let before = current.decide_for(who, &obj, "instantiate");
            let after = proposed.decide_for(who, &obj, "instantiate");
            if before.allowed == after.allowed {
                continue;
            }
            let (change, rule) = if after.allowed {
                ("gain", after.rule)
            } else {
                let rule = after.rule.or_else(|| {
                    before
                        .rule
                        .map(|r| format!("no rule allows it any more (was {r})"))
                });
                ("lose", rule)
            };
            out.push(RightChange {
                subject: subject.clone(),
                template: key.clone(),
                change: change.into(),
                rule: rule.unwrap_or_else(|| "no rule allows it".into()),
            });
        }
    }
    out
}

/// The impact as text, for `switchyard policy diff`.
pub fn render(i: &Impact) -> String {
    let mut s = format!(
        "policy diff: {} (in force) -> {} (proposed)\n",
        i.current_version, i.proposed_version
    );
    if let Some(why) = &i.refused {
        s.push_str(&format!("REFUSED: {why}\n"));
    }
    if i.model_changed {
        s.push_str("model.conf changed\n");
    }
    for r in &i.rules_removed {
        s.push_str(&format!("  - {r}\n"));
    }
    for r in &i.rules_added {
        s.push_str(&format!("  + {r}\n"));
    }
    for inst in &i.instances {
        let what = match inst.effect {
            Effect::Blocked => "BLOCKED (would be paused)",
            Effect::Narrowed => "narrowed (keeps running without the fields)",
            Effect::Unchanged => "gains fields back",
        };
        s.push_str(&format!(
            "instance {} '{}' ({}, owner {}, {}): {what}\n",
            inst.id, inst.name, inst.template, inst.owner, inst.status
        ));
        for f in &inst.lost {
            s.push_str(&format!(
                "    withheld: `{}` ({}) from slot {} ({} {}): {}\n",
                f.field, f.class, f.slot, f.category, f.connector, f.rule
            ));
        }
        for f in &inst.gained {
            s.push_str(&format!(
                "    allowed again: `{}` ({}) to slot {} ({} {}): {}\n",
                f.field, f.class, f.slot, f.category, f.connector, f.rule
            ));
        }
    }
    for r in &i.rights {
        s.push_str(&format!(
            "{} would {} the right to instantiate {}: {}\n",
            r.subject, r.change, r.template, r.rule
        ));
    }
    for a in &i.approvals {
        let what = if a.change == "require" {
            format!(
                "would need an approval from {} (it waits, pending)",
                a.roles.join(" or ")
            )
        } else {
            "would no longer need its approval".to_string()
        };
        s.push_str(&format!(
            "instance {} '{}' {what}: {} — {}\n",
            a.instance, a.name, a.requirement, a.rule
        ));
    }
    for u in &i.unchecked {
        s.push_str(&format!("not checked: {u}\n"));
    }
    let blocked = i.blocked().count();
    let narrowed = i
        .instances
        .iter()
        .filter(|x| x.effect == Effect::Narrowed)
        .count();
    s.push_str(&format!(
        "{blocked} blocked, {narrowed} narrowed, {} rights changed, {} rules added, {} removed\n",
        i.rights.len(),
        i.rules_added.len(),
        i.rules_removed.len()
    ));
    s
}
