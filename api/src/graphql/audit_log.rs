//! `auditLog`: the tamper-evident log, for compliance and admins.

use super::{actor, decode_cursor, encode_cursor, page_size, state};
use crate::audit::{self, AuditFilter, ExportedEntry};
use crate::error::ApiError;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Audit entries, oldest first. Requires `read` on `audit:log`.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, ExportedEntry>> {
        let st = state(ctx)?;
        let a = actor(ctx)?;
        st.policy.authorize(&a.subject(), "audit:log", "read")?;
        let limit = page_size(first)?;
        let after_seq = match after {
            Some(c) => decode_cursor(&c)?
                .parse::<i64>()
                .map_err(|_| ApiError::bad_input("after", "not a cursor returned by this API"))?,
            None => 0,
        };
        let filter = filter.unwrap_or_default();
        let mut rows = audit::list(&st.db, &filter, after_seq, limit + 1).await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut conn = Connection::new(after_seq > 0, has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|r| Edge::new(encode_cursor(&r.seq.to_string()), ExportedEntry::from(r))),
        );
        Ok(conn)
    }
}
