//! Workflow instances: instantiate a template under policy, approve (four eyes), pause, resume,
//! retire, move to a newer template version.

use super::{actor, state};
use crate::catalog::{self, definitions::Kind};
use crate::instances::{self, Action, Request};
use async_graphql::{ComplexObject, Context, InputObject, Object, Result, SimpleObject};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Instance {
    pub id: i64,
    pub template: String,
    pub template_version: String,
    pub name: String,
    pub owner: String,
    /// The owner's team, when they had one.
    pub owner_team: Option<String>,
    pub params: Value,
    /// Slot → connection id.
    pub bindings: Value,
    /// Slot → {category, fields: {field: class as sent}, rules: {field: rule}, withheld:
    /// {field: {class, rule}}}: what policy lets leave for each destination, and what it keeps.
    pub flows: Value,
    /// Version (content hash) of the policy the flows were decided under.
    pub policy_version: Option<String>,
    /// `pending_approval`, `active`, `paused` or `retired`.
    pub status: String,
    pub approved_by: Option<String>,
    /// Roles that may approve it (for pending instances).
    pub approver_roles: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[ComplexObject]
impl Instance {
    /// How the workflow is doing over `window`: events, runs, deliveries, latency, freshness
    /// against its SLA, completeness of the records it sent.
    async fn health(
        &self,
        ctx: &Context<'_>,
        window: crate::health::Window,
    ) -> Result<super::health::WorkflowHealth> {
        let st = state(ctx)?;
        let row = readable(ctx, self.id).await?;
        let rows = [row];
        let h = crate::health::for_instances(&st.db, &rows, window).await?;
        Ok(super::health::shape(h, window, &rows))
    }
}

/// Instance `id` if the caller may read it (`read` on `workflow:<template>` for its owner).
async fn readable(ctx: &Context<'_>, id: i64) -> Result<entity::instance::Model> {
    use sea_orm::EntityTrait;
    let st = state(ctx)?;
    let row = entity::instance::Entity::find_by_id(id)
        .one(&st.db)
        .await
        .map_err(crate::error::ApiError::from)?
        .ok_or_else(|| crate::error::ApiError::NotFound(format!("id: no instance {id}")))?;
    let (obj, owner) = (
        crate::access::workflow_object(&row.template),
        crate::access::instance_owner(&row),
    );
    crate::access::check(
        &st.policy,
        actor(ctx)?,
        crate::access::Ask::owned(&obj, "read", &owner),
    )?;
    Ok(row)
}

/// The GraphQL shape of an instance row.
pub(crate) fn shape(st: &crate::state::AppState, m: entity::instance::Model) -> Instance {
    to_graphql(st, m)
}

fn to_graphql(st: &crate::state::AppState, m: entity::instance::Model) -> Instance {
    let parse = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
    let decision = entity::documents::flow::FlowDecision::parse(&m.flows).unwrap_or_default();
    Instance {
        flows: serde_json::to_value(&decision.slots).unwrap_or(Value::Null),
        policy_version: decision.policy_version.clone(),
        approver_roles: crate::governance::approvals::approver_roles(
            &st.policy,
            &m.template,
            &decision,
        )
        .unwrap_or_else(|| {
            st.policy
                .roles_allowed(&catalog::object(Kind::Template, &m.template), "approve")
        }),
        params: parse(&m.params),
        bindings: parse(&m.bindings),
        id: m.id,
        template: m.template,
        template_version: m.template_version,
        name: m.name,
        owner: m.owner,
        owner_team: m.owner_team,
        status: m.status,
        approved_by: m.approved_by,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// A connection bound to a template slot.
#[derive(InputObject)]
pub struct SlotBinding {
    pub slot: String,
    pub connection: i64,
}

#[derive(Default)]
pub struct InstanceQuery;

#[Object]
impl InstanceQuery {
    /// Instances the caller may read (`read` on `workflow:<template>` for their owner), newest
    /// first; `template` narrows to one template.
    async fn instances(
        &self,
        ctx: &Context<'_>,
        template: Option<String>,
    ) -> Result<Vec<Instance>> {
        let st = state(ctx)?;
        let rows = instances::list(&st.db, &st.policy, actor(ctx)?, template.as_deref()).await?;
        Ok(rows.into_iter().map(|r| to_graphql(st, r)).collect())
    }

    /// One workflow instance the caller may read.
    async fn instance(&self, ctx: &Context<'_>, id: i64) -> Result<Instance> {
        let row = readable(ctx, id).await?;
        Ok(to_graphql(state(ctx)?, row))
    }
}

#[derive(Default)]
pub struct InstanceMutation;

#[Object]
impl InstanceMutation {
    /// Creates a workflow from a template version (the current one when `version` is omitted).
    async fn instantiate_template(
        &self,
        ctx: &Context<'_>,
        template: String,
        version: Option<String>,
        name: String,
        params: Value,
        connections: Vec<SlotBinding>,
    ) -> Result<Instance> {
        let st = state(ctx)?;
        let bindings: BTreeMap<String, i64> = connections
            .into_iter()
            .map(|b| (b.slot, b.connection))
            .collect();
        let req = Request {
            template,
            version,
            name,
            params,
            bindings,
        };
        let row = instances::instantiate(&st.db, &st.policy, actor(ctx)?, req).await?;
        Ok(to_graphql(st, row))
    }

    /// Gives the approvals a pending instance needs that the caller may give (`approve` on the
    /// policy's `approval:…` objects; `approve` on the template when the policy requires none),
    /// never as its owner; it becomes active once none is missing.
    async fn approve_instance(&self, ctx: &Context<'_>, id: i64) -> Result<Instance> {
        let st = state(ctx)?;
        let row = crate::governance::approvals::approve(
            &st.db,
            &st.policy,
            &st.config.approvals,
            actor(ctx)?,
            id,
        )
        .await?;
        Ok(to_graphql(st, row))
    }

    /// Pauses an active instance; needs `pause` on `workflow:<template>` for its owner.
    async fn pause_instance(&self, ctx: &Context<'_>, id: i64) -> Result<Instance> {
        transition(ctx, id, Action::Pause).await
    }

    /// Resumes a paused instance; needs `resume` on `workflow:<template>` for its owner.
    async fn resume_instance(&self, ctx: &Context<'_>, id: i64) -> Result<Instance> {
        transition(ctx, id, Action::Resume).await
    }

    /// Retires an instance for good; needs `retire` on `workflow:<template>` for its owner.
    async fn retire_instance(&self, ctx: &Context<'_>, id: i64) -> Result<Instance> {
        transition(ctx, id, Action::Retire).await
    }

    /// Moves a workflow to a newer version of its template, keeping its id, runs and history.
    /// Checks the parameters (`params`, else the current ones) against the new version's
    /// schema, the caller's right to instantiate the template and manage the workflow (`retire`),
    /// and the data flows under the current policy. `dryRun` (the default) only shows what would
    /// change; otherwise the switch is atomic and audited (`instance.migrate`, before and after).
    /// Runs already in flight finish on the version they started on. Older, equal or unknown
    /// versions and parameters failing the schema are refused and change nothing.
    async fn migrate_instance(
        &self,
        ctx: &Context<'_>,
        instance: i64,
        to_version: String,
        params: Option<Value>,
        dry_run: Option<bool>,
    ) -> Result<MigrationPreview> {
        let st = state(ctx)?;
        let p = instances::migrate::migrate(
            &st.db,
            &st.policy,
            actor(ctx)?,
            instance,
            &to_version,
            params,
            dry_run.unwrap_or(true),
        )
        .await?;
        Ok(MigrationPreview {
            from_version: p.from_version,
            to_version: p.to_version,
            applied: p.applied,
            steps_added: p.steps_added,
            steps_removed: p.steps_removed,
            fields_added: p.fields_added,
            fields_removed: p.fields_removed,
            slots_added: p.slots_added,
            slots_removed: p.slots_removed,
            flows_gained: p.flows_gained,
            flows_lost: p.flows_lost,
            unbound_slots: p.unbound_slots,
            params: p.params,
        })
    }
}

/// What moving a workflow to another version changes (`migrateInstance`).
#[derive(SimpleObject)]
pub struct MigrationPreview {
    pub from_version: String,
    pub to_version: String,
    /// False for a dry run.
    pub applied: bool,
    /// Steps as `id (type)`.
    pub steps_added: Vec<String>,
    pub steps_removed: Vec<String>,
    /// Fields read, as `contract.field`.
    pub fields_added: Vec<String>,
    pub fields_removed: Vec<String>,
    /// Destinations (slots).
    pub slots_added: Vec<String>,
    pub slots_removed: Vec<String>,
    /// Flow decisions as `slot.field (class)`: data that may now reach / no longer reaches a
    /// destination under the current policy.
    pub flows_gained: Vec<String>,
    pub flows_lost: Vec<String>,
    /// Slots of the new version no connection is bound to: nothing reaches them.
    pub unbound_slots: Vec<String>,
    /// The parameters the workflow runs with on the new version (defaults filled in).
    pub params: Value,
}

async fn transition(ctx: &Context<'_>, id: i64, action: Action) -> Result<Instance> {
    let st = state(ctx)?;
    let row = instances::transition(&st.db, &st.policy, actor(ctx)?, id, action).await?;
    Ok(to_graphql(st, row))
}
