//! `me`: who the caller is and what the policy lets them do.

use super::{actor, state};
use crate::error::ApiError;
use crate::policy::Relation;
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct MeQuery;

pub struct Me {
    sub: String,
    roles: Vec<String>,
    team: Option<String>,
}

#[Object]
impl MeQuery {
    /// The authenticated caller.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let a = actor(ctx)?;
        Ok(Me {
            sub: a.sub.clone(),
            roles: a.roles.clone(),
            team: a.team.clone(),
        })
    }
}

#[Object]
impl Me {
    /// The token's subject.
    async fn sub(&self) -> &str {
        &self.sub
    }

    /// The roles from the token's `roles` claim.
    async fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The caller's team: the token's `team` claim, else the server's `[teams]` configuration.
    async fn team(&self) -> Option<&str> {
        self.team.as_deref()
    }

    /// Whether the policy allows `action` on `object` for the caller
    /// (e.g. `object: "catalog:template:lead-capture", action: "instantiate"`), standing in
    /// `relation` to its owner: `own`, `team`, `other`, or `none` (default) for objects nobody
    /// owns.
    async fn can(
        &self,
        ctx: &Context<'_>,
        object: String,
        action: String,
        relation: Option<String>,
    ) -> Result<bool> {
        let st = state(ctx)?;
        let rel = parse_relation(relation.as_deref())?;
        Ok(st
            .policy
            .decide_rel(&actor(ctx)?.subject(), &object, &action, rel)
            .allowed)
    }
}

/// A `relation` argument: `own`, `team`, `other` or `none` (the default).
pub(crate) fn parse_relation(relation: Option<&str>) -> Result<Relation, ApiError> {
    let raw = relation.map(str::trim).unwrap_or("none");
    Relation::parse(raw).ok_or_else(|| {
        ApiError::bad_input(
            "relation",
            format!("`{raw}` is not a relation; use own, team, other or none"),
        )
    })
}
