//! Live updates: GraphQL subscriptions over graphql-transport-ws at `/graphql/ws`.
//! `runUpdated(instance)` and `deliveryUpdated(instance)` stream the runs and deliveries of one
//! workflow as workers record them (`worker::changes`); `alertsChanged` streams alerts. Each
//! subscription is authorized like the matching query (`read` on the workflow for its owner)
//! when it starts, and every item is masked as the query would mask it.

use super::runs::{Delivery, Run, to_delivery, to_run};
use super::{actor, state};
use crate::access::{self, Ask};
use crate::error::ApiError;
use async_graphql::{Context, Result, Subscription};
use entity::{delivery, instance, run};
use futures::{Stream, StreamExt};
use sea_orm::EntityTrait;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Default)]
pub struct LiveSubscription;

/// Instance `id` if the caller may read it.
async fn readable(ctx: &Context<'_>, id: i64) -> Result<instance::Model> {
    let st = state(ctx)?;
    let row = instance::Entity::find_by_id(id)
        .one(&st.db)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("instance: no instance {id}")))?;
    let (obj, owner) = (
        access::workflow_object(&row.template),
        access::instance_owner(&row),
    );
    access::check(&st.policy, actor(ctx)?, Ask::owned(&obj, "read", &owner))?;
    Ok(row)
}

#[Subscription]
impl LiveSubscription {
    /// Each run of `instance` as it is recorded or changes status.
    async fn run_updated(
        &self,
        ctx: &Context<'_>,
        instance: i64,
    ) -> Result<impl Stream<Item = Run>> {
        let inst = readable(ctx, instance).await?;
        let st = state(ctx)?.clone();
        let act = actor(ctx)?.clone();
        let changes = BroadcastStream::new(st.changes.subscribe());
        Ok(changes
            .filter_map(move |c| {
                let keep = c
                    .ok()
                    .filter(|c| c.instance == instance && c.delivery.is_none())
                    .and_then(|c| c.run);
                async move { keep }
            })
            .then(move |id| {
                let (st, act, inst) = (st.clone(), act.clone(), inst.clone());
                async move {
                    let row = run::Entity::find_by_id(id)
                        .one(&st.db)
                        .await
                        .ok()
                        .flatten()?;
                    let rows = crate::visibility::runs(
                        &st.db,
                        &st.policy,
                        &act,
                        &inst,
                        vec![row],
                        &format!("run:{id}"),
                    )
                    .await
                    .ok()?;
                    rows.into_iter().next().map(to_run)
                }
            })
            .filter_map(|r| async move { r }))
    }

    /// Each alert about a workflow the caller may read, as it is raised, escalates, is
    /// acknowledged or snoozed, or resolves.
    async fn alerts_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = super::alerts::Alert>> {
        let st = state(ctx)?.clone();
        let act = actor(ctx)?.clone();
        let changes = BroadcastStream::new(st.changes.subscribe());
        Ok(changes
            .filter_map(|c| async move { c.ok().and_then(|c| c.alert) })
            .then(move |id| {
                let (st, act) = (st.clone(), act.clone());
                async move {
                    let a = entity::alert::Entity::find_by_id(id)
                        .one(&st.db)
                        .await
                        .ok()
                        .flatten()?;
                    let inst = instance::Entity::find_by_id(a.instance_id)
                        .one(&st.db)
                        .await
                        .ok()
                        .flatten()?;
                    let (obj, owner) = (
                        access::workflow_object(&inst.template),
                        access::instance_owner(&inst),
                    );
                    access::allows(&st.policy, &act, Ask::owned(&obj, "read", &owner))
                        .then(|| super::alerts::to_alert(a))
                }
            })
            .filter_map(|a| async move { a }))
    }

    /// Each delivery of `instance` as it is made and as each attempt is recorded.
    async fn delivery_updated(
        &self,
        ctx: &Context<'_>,
        instance: i64,
    ) -> Result<impl Stream<Item = Delivery>> {
        let inst = readable(ctx, instance).await?;
        let st = state(ctx)?.clone();
        let act = actor(ctx)?.clone();
        let changes = BroadcastStream::new(st.changes.subscribe());
        Ok(changes
            .filter_map(move |c| {
                let keep = c
                    .ok()
                    .filter(|c| c.instance == instance)
                    .and_then(|c| c.delivery);
                async move { keep }
            })
            .then(move |id| {
                let (st, act, inst) = (st.clone(), act.clone(), inst.clone());
                async move {
                    let row = delivery::Entity::find_by_id(id)
                        .one(&st.db)
                        .await
                        .ok()
                        .flatten()?;
                    let rows = crate::visibility::deliveries(
                        &st.db,
                        &st.policy,
                        &act,
                        &inst,
                        vec![row],
                        &format!("delivery:{id}"),
                    )
                    .await
                    .ok()?;
                    rows.into_iter().next().map(to_delivery)
                }
            })
            .filter_map(|d| async move { d }))
    }
}
