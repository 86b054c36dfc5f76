//! Erasing one person over GraphQL: `eraseContact(email | id)`, which needs `erase` on
//! `contact:data` (compliance). The answer lists what was removed and which destinations had
//! received the data; the audit entry names the person by a salted hash.

use super::{actor, state};
use crate::access::{self, Ask};
use crate::error::ApiError;
use crate::governance::erasure::{self, Subject};
use async_graphql::{Context, Object, Result, SimpleObject};

/// How many of one kind of record were removed or erased.
#[derive(SimpleObject)]
pub struct ErasedCount {
    /// `contacts`, `events`, `runs`, `deliveries`, `dead_letters`, `audience_members`.
    pub what: String,
    pub count: i64,
}

/// A destination that had received the person's data: follow up with it.
#[derive(SimpleObject)]
pub struct ErasedDestination {
    pub instance: i64,
    pub workflow: String,
    pub template: String,
    pub slot: String,
    pub connector: String,
    pub connection: i64,
    pub connection_name: Option<String>,
    /// The fields it received.
    pub fields: Vec<String>,
    pub deliveries: i64,
    pub last_delivered_at: String,
}

/// What an erasure did.
#[derive(SimpleObject)]
pub struct Erasure {
    /// The salted hash the audit log names the person by.
    pub subject: String,
    pub removed: Vec<ErasedCount>,
    pub destinations: Vec<ErasedDestination>,
    /// What was kept on purpose, and why.
    pub kept: Vec<String>,
}

#[derive(Default)]
pub struct ErasureMutation;

#[Object]
impl ErasureMutation {
    /// Erases one person, by `email` or by the contact store's `id`, from the contact store,
    /// events, runs, deliveries and dead letters. Needs `erase` on `contact:data`; audited as
    /// `contact.erase` naming the person by a salted hash. An unknown person is `NOT_FOUND`.
    async fn erase_contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 320))] email: Option<String>,
        id: Option<i64>,
    ) -> Result<Erasure> {
        let st = state(ctx)?;
        let act = actor(ctx)?;
        access::authorize(
            &st.db,
            &st.policy,
            act,
            Ask::unowned("contact:data", "erase"),
            ("contact.erase", "contact"),
        )
        .await?;
        let who = match (email, id) {
            (Some(e), None) => Subject::Email(e),
            (None, Some(id)) => Subject::Contact(id),
            _ => return Err(ApiError::bad_input("email", "give either `email` or `id`").into()),
        };
        let e = erasure::erase(&st.db, &st.secrets, act, who).await?;
        Ok(Erasure {
            subject: e.subject,
            removed: e
                .removed
                .into_iter()
                .map(|(what, n)| ErasedCount {
                    what,
                    count: i64::try_from(n).unwrap_or(i64::MAX),
                })
                .collect(),
            destinations: e
                .destinations
                .into_iter()
                .map(|d| ErasedDestination {
                    instance: d.instance,
                    workflow: d.workflow,
                    template: d.template,
                    slot: d.slot,
                    connector: d.connector,
                    connection: d.connection,
                    connection_name: d.connection_name,
                    fields: d.fields,
                    deliveries: i64::try_from(d.deliveries).unwrap_or(i64::MAX),
                    last_delivered_at: d.last_delivered_at,
                })
                .collect(),
            kept: e.kept,
        })
    }
}
