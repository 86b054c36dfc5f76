//! Policy versions and impact previews over GraphQL: `policyVersions` (when each version became
//! active, by whom, with its diff) and `policyImpact` (what a proposed policy would block,
//! narrow, withhold and change in instantiate rights, before anyone edits the files). Both need
//! `read` on `policy:files`. Never changes anything.

use super::{actor, state};
use crate::error::ApiError;
use crate::governance::{evaluate::FieldChange, impact, versions};
use crate::policy::{MODEL_FILE, Policy};
use async_graphql::{Context, Object, Result, SimpleObject};
use serde_json::Value;

#[derive(Default)]
pub struct PolicyVersionQuery;

/// One activation of a policy version.
#[derive(SimpleObject)]
pub struct PolicyVersion {
    /// The first 16 hex digits of the content hash: what decisions and audit entries record.
    pub version: String,
    pub hash: String,
    pub activated_at: String,
    pub activated_by: String,
    /// The policy directory it was read from.
    pub source: String,
    /// The version it replaced.
    pub previous: Option<String>,
    /// Whether it is the version in force.
    pub active: bool,
    /// The rule diff against the version it replaced: `rules_added`, `rules_removed`,
    /// `model_changed`.
    pub diff: Option<Value>,
}

/// A field a destination would lose or get back.
#[derive(SimpleObject)]
pub struct FieldImpact {
    pub slot: String,
    pub category: String,
    pub connector: String,
    pub field: String,
    pub class: String,
    /// The rule that would withhold (or allow) it.
    pub rule: String,
}

impl From<FieldChange> for FieldImpact {
    fn from(c: FieldChange) -> Self {
        Self {
            slot: c.slot,
            category: c.category,
            connector: c.connector,
            field: c.field,
            class: c.class,
            rule: c.rule,
        }
    }
}

/// A live workflow the proposal would block (pause), narrow, or give fields back to.
#[derive(SimpleObject)]
pub struct InstanceImpact {
    pub instance: i64,
    pub name: String,
    pub template: String,
    pub owner: String,
    pub status: String,
    /// `blocked`, `narrowed` or `unchanged` (fields given back only).
    pub effect: String,
    pub withheld: Vec<FieldImpact>,
    pub allowed_again: Vec<FieldImpact>,
}

/// A subject gaining or losing the right to instantiate a template.
#[derive(SimpleObject)]
pub struct RightImpact {
    pub subject: String,
    pub template: String,
    /// `gain` or `lose`.
    pub change: String,
    pub rule: String,
}

/// A live workflow that would need a new approval, or no longer need one.
#[derive(SimpleObject)]
pub struct ApprovalChange {
    pub instance: i64,
    pub name: String,
    pub requirement: String,
    pub roles: Vec<String>,
    /// `require` or `release`.
    pub change: String,
    pub rule: String,
}

/// What a proposed policy would change.
#[derive(SimpleObject)]
pub struct PolicyImpact {
    pub current_version: String,
    pub proposed_version: String,
    pub model_changed: bool,
    pub rules_added: Vec<String>,
    pub rules_removed: Vec<String>,
    pub instances: Vec<InstanceImpact>,
    pub rights: Vec<RightImpact>,
    pub approvals: Vec<ApprovalChange>,
    /// Something live would be blocked, or a reload would refuse the proposal.
    pub blocking: bool,
    /// Why a reload would refuse it (it would lock every administrator out).
    pub refused: Option<String>,
}

fn shape(i: impact::Impact) -> PolicyImpact {
    PolicyImpact {
        blocking: i.blocking(),
        current_version: i.current_version,
        proposed_version: i.proposed_version,
        model_changed: i.model_changed,
        rules_added: i.rules_added,
        rules_removed: i.rules_removed,
        instances: i
            .instances
            .into_iter()
            .map(|x| InstanceImpact {
                instance: x.id,
                name: x.name,
                template: x.template,
                owner: x.owner,
                status: x.status,
                effect: x.effect.as_str().to_string(),
                withheld: x.lost.into_iter().map(Into::into).collect(),
                allowed_again: x.gained.into_iter().map(Into::into).collect(),
            })
            .collect(),
        rights: i
            .rights
            .into_iter()
            .map(|r| RightImpact {
                subject: r.subject,
                template: r.template,
                change: r.change,
                rule: r.rule,
            })
            .collect(),
        approvals: i
            .approvals
            .into_iter()
            .map(|a| ApprovalChange {
                instance: a.instance,
                name: a.name,
                requirement: a.requirement,
                roles: a.roles,
                change: a.change,
                rule: a.rule,
            })
            .collect(),
        refused: i.refused,
    }
}

#[Object]
impl PolicyVersionQuery {
    /// Policy versions, newest first: when each became active and what it changed. Requires
    /// `read` on `policy:files`.
    async fn policy_versions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> Result<Vec<PolicyVersion>> {
        let st = state(ctx)?;
        st.policy
            .authorize(&actor(ctx)?.subject(), "policy:files", "read")?;
        let limit = super::page_size(first.or(Some(100)))?;
        let rows = versions::history(&st.db, limit)
            .await
            .map_err(ApiError::from)?;
        let newest = rows.first().map(|r| r.id);
        Ok(rows
            .into_iter()
            .map(|r| PolicyVersion {
                active: Some(r.id) == newest,
                diff: r.summary.and_then(|s| serde_json::from_str(&s).ok()),
                version: r.version,
                hash: r.hash,
                activated_at: r.activated_at,
                activated_by: r.activated_by,
                source: r.source,
                previous: r.previous,
            })
            .collect())
    }

    /// What the proposed `policyCsv` (the text of a policy.csv, up to 20,000 characters;
    /// `modelConf`, the text of a model.conf, defaults to the model in force) would change
    /// against the policy in force. Requires `read` on `policy:files`. Larger proposals:
    /// `switchyard policy diff --against DIR`.
    async fn policy_impact(
        &self,
        ctx: &Context<'_>,
        policy_csv: String,
        model_conf: Option<String>,
    ) -> Result<PolicyImpact> {
        let (policy, model) = (policy_csv, model_conf);
        let st = state(ctx)?;
        st.policy
            .authorize(&actor(ctx)?.subject(), "policy:files", "read")?;
        let model = model.unwrap_or_else(|| st.policy.texts().0);
        let proposed = Policy::from_texts(st.policy.dir(), &model, &policy)
            .await
            .map_err(|e| {
                let field = if format!("{e:#}").starts_with(MODEL_FILE) {
                    "modelConf"
                } else {
                    "policyCsv"
                };
                ApiError::bad_input(field, format!("{e:#}"))
            })?;
        let i = impact::impact(Some(&st.db), &st.policy, &proposed).await?;
        Ok(shape(i))
    }
}
