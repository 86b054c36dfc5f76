//! Policy-driven approvals over GraphQL: the approvals an instance was given and how each ended
//! (`approvals`, `read` on `workflow:<template>` for its owner), and rebinding an instance's
//! slots (`rebindInstance`, `rebind` on `workflow:<template>`), which revokes approvals of the
//! destinations it replaces. Approving itself is `approveInstance` (`instances`).

use super::{actor, state};
use crate::access::{self, Ask};
use crate::error::ApiError;
use crate::governance::{approvals, rebind};
use async_graphql::{Context, Object, Result, SimpleObject};
use sea_orm::EntityTrait;
use serde_json::Value;
use std::collections::BTreeMap;

/// An approval the policy required of an instance.
#[derive(SimpleObject)]
pub struct Approval {
    pub id: i64,
    pub instance: i64,
    /// The policy object of the requirement (`approval:sensitive:audience-sync`).
    pub requirement: String,
    /// The rule that required it.
    pub rule: String,
    pub approver_roles: Vec<String>,
    pub approved_by: String,
    pub approved_at: String,
    pub expires_at: Option<String>,
    /// What it approved: template version, destinations, fields.
    pub inputs: Value,
    /// The policy version it was given under.
    pub policy_version: String,
    /// `valid`, `revoked`, `expired` or `released`.
    pub status: String,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
}

#[derive(Default)]
pub struct ApprovalQuery;

#[Object]
impl ApprovalQuery {
    /// The approvals instance `instance` was given, newest first.
    async fn approvals(&self, ctx: &Context<'_>, instance: i64) -> Result<Vec<Approval>> {
        let st = state(ctx)?;
        let row = entity::instance::Entity::find_by_id(instance)
            .one(&st.db)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("instance: no instance {instance}")))?;
        let owner = access::instance_owner(&row);
        access::check(
            &st.policy,
            actor(ctx)?,
            Ask::owned(&access::workflow_object(&row.template), "read", &owner),
        )?;
        Ok(approvals::of_instance(&st.db, instance)
            .await?
            .into_iter()
            .map(|a| Approval {
                approver_roles: serde_json::from_str(&a.approver_roles).unwrap_or_default(),
                inputs: serde_json::from_str(&a.inputs).unwrap_or(Value::Null),
                id: a.id,
                instance: a.instance_id,
                requirement: a.requirement,
                rule: a.rule,
                approved_by: a.approved_by,
                approved_at: a.approved_at,
                expires_at: a.expires_at,
                policy_version: a.policy_version,
                status: a.status,
                ended_at: a.ended_at,
                end_reason: a.end_reason,
            })
            .collect())
    }
}

#[derive(Default)]
pub struct ApprovalMutation;

#[Object]
impl ApprovalMutation {
    /// Points slots of instance `id` at other connections (`rebind` on `workflow:<template>`,
    /// `use` on each connection); the flows are decided again, and approvals of what it was
    /// bound to are revoked (the instance goes back to pending approval).
    async fn rebind_instance(
        &self,
        ctx: &Context<'_>,
        id: i64,
        connections: Vec<super::instances::SlotBinding>,
    ) -> Result<super::instances::Instance> {
        let st = state(ctx)?;
        let changes: BTreeMap<String, i64> = connections
            .into_iter()
            .map(|b| (b.slot, b.connection))
            .collect();
        let row = rebind::rebind(&st.db, &st.policy, actor(ctx)?, id, changes).await?;
        Ok(super::instances::shape(st, row))
    }
}
