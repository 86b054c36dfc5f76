//! The one door to the policy for domain objects: every action on a catalog item, and on an
//! owned object (a connection, a workflow instance and its runs, deliveries and dead letters),
//! is asked here with the object's owner, so the policy decides with the caller's relation to
//! that owner (`own`, `team`, `other`; `none` for objects nobody owns).
//!
//! A check on an object's kind is not a check on whose it is: callers pass the owner of the very
//! object they are about to touch, loaded first. [`authorize`] is for changes and records a
//! denial in the audit log; [`check`] is for reads, which are not audited when denied.
//!
//! Never decides anything itself: the scopes live in `policies/`, matched by the casbin model.

use crate::audit::{self, Actor};
use crate::error::ApiResult;
use crate::policy::{self, Owner, Policy, Relation};
use entity::{connection, instance};
use sea_orm::DatabaseConnection;

/// One question to the policy: may the caller `action` the `object`, owned by `owner`?
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub object: &'a str,
    pub action: &'a str,
    /// Whose object it is; `None` for objects nobody owns (catalog items, write keys, logs).
    pub owner: Option<&'a Owner>,
}

impl<'a> Ask<'a> {
    /// A question about an object nobody owns.
    pub fn unowned(object: &'a str, action: &'a str) -> Self {
        Self {
            object,
            action,
            owner: None,
        }
    }

    /// A question about an object `owner` owns.
    pub fn owned(object: &'a str, action: &'a str, owner: &'a Owner) -> Self {
        Self {
            object,
            action,
            owner: Some(owner),
        }
    }
}

/// Authorizes a change. A denial is recorded in the audit log (`audit_action` on
/// `audit_target`, outcome `denied`) in its own transaction, and returned as `FORBIDDEN`.
pub async fn authorize(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    ask: Ask<'_>,
    (audit_action, audit_target): (&str, &str),
) -> ApiResult<Relation> {
    match check(policy, actor, ask) {
        Ok(rel) => Ok(rel),
        Err(e) => {
            audit::record_denied(db, actor, audit_action, audit_target).await?;
            Err(e)
        }
    }
}

/// Checks a read (or a step of a change already audited elsewhere): `FORBIDDEN` when denied.
/// Returns the caller's relation to the owner.
pub fn check(policy: &Policy, actor: &Actor, ask: Ask<'_>) -> ApiResult<Relation> {
    let subject = actor.subject();
    let rel = policy::relation(&subject, ask.owner);
    policy.authorize_rel(&subject, ask.object, ask.action, rel)?;
    Ok(rel)
}

/// Whether the caller may (no error, no audit): for filtering lists.
pub fn allows(policy: &Policy, actor: &Actor, ask: Ask<'_>) -> bool {
    let subject = actor.subject();
    let rel = policy::relation(&subject, ask.owner);
    policy
        .decide_rel(&subject, ask.object, ask.action, rel)
        .allowed
}

/// The policy object of connections to connector `key`: `connection:<key>`.
pub fn connection_object(connector: &str) -> String {
    format!("connection:{connector}")
}

/// The policy object of workflows built from template `key`: `workflow:<key>`.
pub fn workflow_object(template: &str) -> String {
    format!("workflow:{template}")
}

/// The policy object of data of PII `class` in workflows of `template`: `data:<class>:<key>`.
pub fn data_object(class: &str, template: &str) -> String {
    format!("data:{class}:{template}")
}

/// The owner of a connection.
pub fn connection_owner(row: &connection::Model) -> Owner {
    Owner::new(&row.owner, row.owner_team.as_deref())
}

/// The owner of a workflow instance — and of its runs, deliveries and dead letters.
pub fn instance_owner(row: &instance::Model) -> Owner {
    Owner::new(&row.owner, row.owner_team.as_deref())
}
