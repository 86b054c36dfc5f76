//! Deprecation notices: publish one (platform teams, `lifecycle` on the item), read them with
//! the instances they affect, and read your own notifications.

use super::{actor, state};
use crate::access::{self, Ask};
use crate::catalog::{self, definitions::Kind};
use crate::deprecations::{self, Notice};
use crate::error::ApiError;
use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use entity::{deprecation, instance, notification};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// A live workflow a deprecation touches.
#[derive(SimpleObject)]
pub struct AffectedInstance {
    pub id: i64,
    pub name: String,
    pub template: String,
    pub template_version: String,
    pub owner: String,
    pub status: String,
}

impl From<instance::Model> for AffectedInstance {
    fn from(m: instance::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            template: m.template,
            template_version: m.template_version,
            owner: m.owner,
            status: m.status,
        }
    }
}

#[derive(SimpleObject)]
pub struct DeprecationNotice {
    pub kind: Kind,
    pub key: String,
    pub version: String,
    pub announced_at: String,
    pub sunset_at: String,
    /// Whether the sunset has passed (new instantiations are refused).
    pub sunset_passed: bool,
    pub replacement: Option<String>,
    pub notes: String,
    pub created_by: String,
    /// Live instances using the version that you may see; their owners were notified.
    pub affected_instances: Vec<AffectedInstance>,
}

async fn to_notice(ctx: &Context<'_>, m: deprecation::Model) -> Result<DeprecationNotice> {
    let st = state(ctx)?;
    let kind = Kind::parse(&m.kind).ok_or_else(|| ApiError::internal("stored kind"))?;
    let me = actor(ctx)?;
    // Only the workflows the caller may read (`read` on `workflow:<template>`, for its owner).
    let hit = deprecations::affected(&st.db, kind, &m.key, &m.version)
        .await?
        .into_iter()
        .filter(|i| {
            let obj = access::workflow_object(&i.template);
            let owner = access::instance_owner(i);
            access::allows(&st.policy, me, Ask::owned(&obj, "read", &owner))
        });
    Ok(DeprecationNotice {
        sunset_passed: deprecations::sunset_passed(&m),
        kind,
        key: m.key,
        version: m.version,
        announced_at: m.announced_at,
        sunset_at: m.sunset_at,
        replacement: m.replacement,
        notes: m.notes,
        created_by: m.created_by,
        affected_instances: hit.map(Into::into).collect(),
    })
}

#[derive(InputObject)]
pub struct DeprecationInput {
    pub kind: Kind,
    pub key: String,
    pub version: String,
    /// When the version stops being usable for new workflows (RFC 3339, in the future).
    pub sunset_at: chrono::DateTime<chrono::Utc>,
    /// What to use instead, e.g. `lead-capture 2.0.0`.
    pub replacement: Option<String>,
    /// How to migrate, in plain words.
    pub notes: String,
}

#[derive(SimpleObject)]
pub struct Notification {
    pub id: i64,
    pub topic: String,
    pub target: String,
    pub message: String,
    pub created_at: String,
}

#[derive(Default)]
pub struct DeprecationQuery;

#[Object]
impl DeprecationQuery {
    /// Deprecation notices, newest first; narrow with `kind` and `key`. Requires `read` on each
    /// item (notices on items you cannot read are left out).
    async fn deprecation_notices(
        &self,
        ctx: &Context<'_>,
        kind: Option<Kind>,
        key: Option<String>,
    ) -> Result<Vec<DeprecationNotice>> {
        let st = state(ctx)?;
        let subject = actor(ctx)?.subject();
        let rows = deprecations::list(&st.db, kind, key.as_deref()).await?;
        let mut out = Vec::new();
        for r in rows {
            let Some(k) = Kind::parse(&r.kind) else {
                continue;
            };
            if st
                .policy
                .decide(&subject, &catalog::object(k, &r.key), "read")
                .allowed
            {
                out.push(to_notice(ctx, r).await?);
            }
        }
        Ok(out)
    }

    /// Messages for the caller, newest first (e.g. a deprecation affecting your workflow).
    async fn my_notifications(&self, ctx: &Context<'_>) -> Result<Vec<Notification>> {
        let st = state(ctx)?;
        let rows = notification::Entity::find()
            .filter(notification::Column::Recipient.eq(actor(ctx)?.sub.as_str()))
            .order_by_desc(notification::Column::Id)
            .limit(100)
            .all(&st.db)
            .await
            .map_err(ApiError::from)?;
        Ok(rows
            .into_iter()
            .map(|n| Notification {
                id: n.id,
                topic: n.topic,
                target: n.target,
                message: n.message,
                created_at: n.created_at,
            })
            .collect())
    }
}

#[derive(Default)]
pub struct DeprecationMutation;

#[Object]
impl DeprecationMutation {
    /// Announces that a version is deprecated: it becomes `deprecated`, the owners of every live
    /// instance using it are notified, and after `sunsetAt` no new instance may use it.
    async fn publish_deprecation_notice(
        &self,
        ctx: &Context<'_>,
        input: DeprecationInput,
    ) -> Result<DeprecationNotice> {
        let st = state(ctx)?;
        let (saved, _) = deprecations::publish(
            &st.db,
            &st.policy,
            actor(ctx)?,
            Notice {
                kind: input.kind,
                key: input.key,
                version: input.version,
                sunset_at: input.sunset_at,
                replacement: input.replacement.filter(|r| !r.trim().is_empty()),
                notes: input.notes,
            },
        )
        .await?;
        to_notice(ctx, saved).await
    }
}
