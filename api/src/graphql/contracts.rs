//! Contract checks and drift: "would this version break anyone?" before publishing, and how
//! often live events break each rule.

use super::catalog::PublishInput;
use super::{actor, state};
use crate::catalog::{self, definitions::Kind};
use crate::contracts::registry::{self, Report};
use crate::visibility::ContractView;
use async_graphql::{Context, Object, Result, SimpleObject};
use entity::contract_drift;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

#[derive(Default)]
pub struct ContractsQuery;

/// How often events broke one rule of a contract version.
#[derive(SimpleObject)]
pub struct Drift {
    pub version: String,
    /// JSON Schema keyword (`enum`, `required`, `format`…).
    pub rule: String,
    /// Where in the event (`/payload/source_category`; array indices shown as `*`).
    pub pointer: String,
    pub count: i64,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub last_message: String,
}

#[Object]
impl ContractsQuery {
    /// Checks a proposed contract version without publishing it: the changes from the newest
    /// registered version, the verdict under the contract's compatibility mode, and every
    /// consumer with whether the change breaks it. Requires `read` on the contract.
    async fn check_contract_compatibility(
        &self,
        ctx: &Context<'_>,
        input: PublishInput,
    ) -> Result<Report> {
        let st = state(ctx)?;
        st.policy.authorize(
            &actor(ctx)?.subject(),
            &catalog::object(Kind::Contract, &input.key),
            "read",
        )?;
        let doc = input.into_doc(Kind::Contract);
        // Only what the comparison needs: publishing checks the rest (PII classes, SLA…).
        let def: crate::catalog::definitions::ContractDef =
            crate::catalog::definitions::typed(&doc.definition).map_err(|e| e.within("input"))?;
        crate::catalog::definitions::check_json_schema("definition.schema", &def.schema)
            .map_err(|e| e.within("input"))?;
        Ok(registry::check(&st.db, &doc).await?)
    }

    /// Violation counts of live events against contract `name`, most frequent first. A last
    /// message about a personal or sensitive field (it may quote the value) reads
    /// `[masked: <class>]` unless you may read that class of data in every workflow.
    async fn contract_drift(&self, ctx: &Context<'_>, name: String) -> Result<Vec<Drift>> {
        let st = state(ctx)?;
        let a = actor(ctx)?;
        st.policy.authorize(
            &a.subject(),
            &catalog::object(Kind::Contract, &name),
            "read",
        )?;
        let rows = contract_drift::Entity::find()
            .filter(contract_drift::Column::Contract.eq(name.as_str()))
            .order_by_desc(contract_drift::Column::Count)
            .all(&st.db)
            .await?;
        let mut view = ContractView::load(&st.db, &st.policy, a, &name).await?;
        let out = rows
            .into_iter()
            .map(|r| Drift {
                last_message: view.message(&r.pointer, r.last_message),
                version: r.version,
                rule: r.rule,
                pointer: r.pointer,
                count: r.count,
                first_seen_at: r.first_seen_at,
                last_seen_at: r.last_seen_at,
            })
            .collect();
        view.audit_reads(&st.db).await?;
        Ok(out)
    }
}
