//! `me`: who the caller is and what the policy lets them do.

use super::{actor, state};
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct MeQuery;

pub struct Me {
    sub: String,
    roles: Vec<String>,
}

#[Object]
impl MeQuery {
    /// The authenticated caller.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let a = actor(ctx)?;
        Ok(Me {
            sub: a.sub.clone(),
            roles: a.roles.clone(),
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

    /// Whether the policy allows `action` on `object` for the caller
    /// (e.g. `object: "catalog:template:lead-capture", action: "instantiate"`).
    async fn can(&self, ctx: &Context<'_>, object: String, action: String) -> Result<bool> {
        let st = state(ctx)?;
        Ok(st
            .policy
            .decide(&actor(ctx)?.subject(), &object, &action)
            .allowed)
    }
}
