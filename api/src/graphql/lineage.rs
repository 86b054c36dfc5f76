//! Lineage in GraphQL: `lineage(event | delivery)` and `contactLineage(email | contactId)`
//! (see `crate::lineage`).

use super::{actor, state};
use crate::error::ApiError;
use crate::lineage::{self, Hop};
use async_graphql::{Context, Object, Result, SimpleObject};
use serde_json::Value;

#[derive(SimpleObject)]
pub struct LineageEvent {
    pub id: String,
    pub contract: String,
    pub contract_version: String,
    /// The write key it arrived with, else the `source` it named (`workflow:<instance>` for an
    /// event a workflow emitted).
    pub source: Option<String>,
    pub received_at: String,
    /// The run whose `emit` step emitted it (workflows starting workflows).
    pub emitted_by_run: Option<i64>,
    /// The workflow instances its chain went through, oldest first.
    pub chain: Vec<i64>,
}

fn event(s: lineage::Source) -> LineageEvent {
    LineageEvent {
        chain: s.event.chain(),
        emitted_by_run: s.event.parent_run_id,
        id: s.event.id,
        contract: s.event.event_type,
        contract_version: s.event.version,
        source: s.write_key.or(s.event.source),
        received_at: s.event.received_at,
    }
}

#[derive(SimpleObject)]
pub struct LineageStep {
    pub step: String,
    pub kind: String,
    /// `passed`, `deduplicated`, `routed`, `suppressed`, `mapped`, `delivery`, …
    pub decision: String,
    pub detail: String,
    pub data: Value,
}

#[derive(SimpleObject)]
pub struct LineageField {
    pub field: String,
    /// PII class as it travelled (`none`, `personal`, `sensitive`, `hashed`).
    pub class: String,
    /// The flow rule that let it go, or that withheld it.
    pub rule: Option<String>,
}

#[derive(SimpleObject)]
pub struct LineageDelivery {
    pub id: i64,
    pub step: String,
    pub slot: String,
    pub connector: String,
    pub connection: i64,
    pub status: String,
    pub attempts: i32,
    /// The destination's answer to the last attempt.
    pub response_code: Option<i32>,
    pub error: Option<String>,
    pub updated_at: String,
    pub sent: Vec<LineageField>,
    pub withheld: Vec<LineageField>,
    /// Fields the template meant to send that the input did not carry.
    pub missing: Vec<String>,
}

#[derive(SimpleObject)]
pub struct LineageHop {
    pub instance: i64,
    pub instance_name: String,
    pub template: String,
    pub template_version: String,
    pub run: i64,
    pub run_status: String,
    /// The event the run ran for (absent for scheduled and manual runs).
    pub event: Option<LineageEvent>,
    pub steps: Vec<LineageStep>,
    pub deliveries: Vec<LineageDelivery>,
    /// Events the run emitted, each starting the workflows its contract triggers.
    pub emitted: Vec<String>,
}

#[derive(SimpleObject)]
pub struct Lineage {
    pub event: Option<LineageEvent>,
    pub hops: Vec<LineageHop>,
}

/// Where one person's data went, as a data-subject answer.
#[derive(SimpleObject)]
pub struct ContactLineage {
    pub hops: Vec<LineageHop>,
    /// The same answer as one JSON document, for export.
    pub json: Value,
}

fn hop(h: Hop) -> LineageHop {
    LineageHop {
        instance: h.instance.id,
        instance_name: h.instance.name,
        template: h.instance.template,
        template_version: h.instance.template_version,
        run: h.run.id,
        run_status: h.run.status.as_str().to_string(),
        event: h.event.map(event),
        emitted: h.emitted,
        steps: h
            .steps
            .into_iter()
            .map(|s| LineageStep {
                step: s.step,
                kind: s.kind,
                decision: serde_json::to_value(s.decision)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                detail: s.detail,
                data: s.data,
            })
            .collect(),
        deliveries: h
            .reaches
            .into_iter()
            .map(|r| {
                let field = |f: lineage::Field| LineageField {
                    field: f.field,
                    class: f.class,
                    rule: f.rule,
                };
                LineageDelivery {
                    id: r.delivery.id,
                    step: r.delivery.step_id,
                    slot: r.delivery.slot,
                    connector: r.delivery.connector,
                    connection: r.delivery.connection_id,
                    status: r.delivery.status.as_str().to_string(),
                    attempts: r.delivery.attempts,
                    response_code: r.delivery.last_status_code,
                    error: r.delivery.last_error,
                    updated_at: r.delivery.updated_at,
                    sent: r.sent.into_iter().map(field).collect(),
                    withheld: r.withheld.into_iter().map(field).collect(),
                    missing: r.missing,
                }
            })
            .collect(),
    }
}

fn shape(l: lineage::Lineage) -> Lineage {
    Lineage {
        event: l.source.map(event),
        hops: l.hops.into_iter().map(hop).collect(),
    }
}

#[derive(Default)]
pub struct LineageQuery;

#[Object]
impl LineageQuery {
    /// Where an event went (`event`) or where a delivery came from (`delivery`): source event →
    /// workflow → template version → each step's decision → destination, with the fields sent
    /// and withheld and the destination's answer. Give exactly one of the two.
    async fn lineage(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 200))] event: Option<String>,
        delivery: Option<i64>,
    ) -> Result<Lineage> {
        let st = state(ctx)?;
        let act = actor(ctx)?;
        let l = match (event, delivery) {
            (Some(e), None) => lineage::of_event(&st.db, &st.policy, act, &e).await?,
            (None, Some(d)) => lineage::of_delivery(&st.db, &st.policy, act, d).await?,
            _ => {
                return Err(
                    ApiError::bad_input("event", "give either `event` or `delivery`").into(),
                );
            }
        };
        Ok(shape(l))
    }

    /// Every destination that received one person's fields: which fields, when, under which
    /// rule. By `email`, or by the contact store's `contactId`. Needs `read` on `lineage:contacts`.
    async fn contact_lineage(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 320))] email: Option<String>,
        contact_id: Option<i64>,
    ) -> Result<ContactLineage> {
        use sea_orm::EntityTrait;
        let st = state(ctx)?;
        let act = actor(ctx)?;
        crate::access::authorize(
            &st.db,
            &st.policy,
            act,
            crate::access::Ask::unowned("lineage:contacts", "read"),
            ("contact.lineage", "lineage:contacts"),
        )
        .await?;
        let email = match (email, contact_id) {
            (Some(e), None) => e,
            (None, Some(id)) => entity::contact::Entity::find_by_id(id)
                .one(&st.db)
                .await
                .map_err(ApiError::from)?
                .and_then(|c| c.email)
                .ok_or_else(|| {
                    ApiError::NotFound(format!("contactId: no contact {id} with an email"))
                })?,
            _ => {
                return Err(
                    ApiError::bad_input("email", "give either `email` or `contactId`").into(),
                );
            }
        };
        let hops: Vec<LineageHop> =
            lineage::of_contact(&st.db, &st.policy, &st.secrets, act, &email)
                .await?
                .into_iter()
                .map(hop)
                .collect();
        let json = serde_json::json!({
            "destinations": hops.iter().flat_map(|h| h.deliveries.iter().map(move |d| serde_json::json!({
                "workflow": h.instance_name, "template": h.template, "connector": d.connector,
                "connection": d.connection, "delivered_at": d.updated_at,
                "fields": d.sent.iter().map(|f| serde_json::json!({"field": f.field, "class": f.class, "rule": f.rule})).collect::<Vec<_>>(),
            }))).collect::<Vec<_>>()
        });
        Ok(ContactLineage { hops, json })
    }
}
