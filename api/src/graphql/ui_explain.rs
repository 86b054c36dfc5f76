//! Read-only questions the web UI asks about governance: why the policy allows or denies
//! something (what `switchyard policy explain` prints), the policy files as rules a person can
//! read, and whether the audit hash chain verifies (`switchyard audit verify`).
//!
//! Never changes anything. Explaining one's own access needs no permission; explaining anyone
//! else's needs `explain` on `policy:files`, reading the files `read` on `policy:files`, and the
//! chain status `read` on `audit:log`.

use super::{actor, state};
use crate::audit;
use crate::error::ApiError;
use crate::policy::{self, MODEL_FILE, POLICY_FILE, TESTS_FILE};
use async_graphql::{Context, Object, Result, SimpleObject};

#[derive(Default)]
pub struct UiExplainQuery;

/// An allow/deny decision with the rule that made it.
#[derive(SimpleObject)]
pub struct Explanation {
    pub allowed: bool,
    /// The casbin subjects asked about (`user:alice`, `role:marketer`).
    pub subjects: Vec<String>,
    pub object: String,
    pub action: String,
    /// The relation to the object's owner asked about (`own`, `team`, `other`, `none`).
    pub relation: String,
    /// `policy.csv:LINE: p, …` of the deciding rule; absent when nothing matched (default deny).
    pub rule: Option<String>,
    /// Roles the policy would allow: who to ask when denied.
    pub roles_that_may: Vec<String>,
}

/// One line of `policy.csv`: a `p` rule, or a `g` role membership (member → role).
#[derive(SimpleObject)]
pub struct PolicyRule {
    pub line: i32,
    /// `p` (permission) or `g` (role membership).
    pub kind: String,
    /// `p`: who; `g`: the member.
    pub subject: String,
    /// `p`: the object pattern; `g`: the role the member inherits.
    pub object: String,
    /// `p` only.
    pub action: Option<String>,
    /// `p` only: whose objects the rule covers — `any`, `own` or `team`.
    pub scope: Option<String>,
    /// `p` only: `allow` or `deny`.
    pub effect: Option<String>,
}

/// The policy directory's files.
#[derive(SimpleObject)]
pub struct PolicyFiles {
    pub model: String,
    pub policy: String,
    pub tests: String,
    pub rules: Vec<PolicyRule>,
}

/// The outcome of walking the audit hash chain.
#[derive(SimpleObject)]
pub struct ChainStatus {
    /// Whether every entry links to the one before and matches its hash.
    pub ok: bool,
    /// Entries verified.
    pub entries: i64,
    /// The first bad entry, when not ok.
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
    pub checked_at: String,
}

#[Object]
impl UiExplainQuery {
    /// Why the policy allows or denies `action` on `object`, for a caller standing in
    /// `relation` (`own`, `team`, `other`; default `none`: nobody owns it) to its owner.
    /// Without `sub` and `roles` it explains the caller's own access; about anyone else it
    /// requires `explain` on `policy:files`.
    async fn explain_decision(
        &self,
        ctx: &Context<'_>,
        object: String,
        action: String,
        sub: Option<String>,
        roles: Option<Vec<String>>,
        relation: Option<String>,
    ) -> Result<Explanation> {
        let st = state(ctx)?;
        let rel = super::me::parse_relation(relation.as_deref())?;
        let me = actor(ctx)?.subject();
        let subjects = if sub.is_none() && roles.is_none() {
            let mut s = vec![format!("user:{}", me.sub)];
            s.extend(me.roles.iter().map(|r| format!("role:{r}")));
            s
        } else {
            st.policy.authorize(&me, "policy:files", "explain")?;
            let mut s = Vec::new();
            if let Some(sub) = sub.filter(|s| !s.trim().is_empty()) {
                s.push(format!("user:{}", sub.trim()));
            }
            s.extend(
                roles
                    .unwrap_or_default()
                    .iter()
                    .filter(|r| !r.trim().is_empty())
                    .map(|r| format!("role:{}", r.trim())),
            );
            if s.is_empty() {
                return Err(ApiError::bad_input("sub", "name a user or at least one role").into());
            }
            s
        };
        let d = st.policy.decide_for_rel(&subjects, &object, &action, rel);
        let roles_that_may = st.policy.roles_allowed_rel(&object, &action, rel);
        Ok(Explanation {
            allowed: d.allowed,
            subjects,
            object,
            action,
            relation: rel.as_str().to_string(),
            rule: d.rule,
            roles_that_may,
        })
    }

    /// The policy files and their rules. Requires `read` on `policy:files`.
    async fn policy_files(&self, ctx: &Context<'_>) -> Result<PolicyFiles> {
        let st = state(ctx)?;
        st.policy
            .authorize(&actor(ctx)?.subject(), "policy:files", "read")?;
        let dir = st.policy.dir();
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| ApiError::internal(format!("{name}: cannot read: {e}")))
        };
        let policy_text = read(POLICY_FILE)?;
        let rules = policy::parse_policy(&policy_text)
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|(line, f)| {
                let field = |i: usize| f.get(i).cloned().unwrap_or_default();
                PolicyRule {
                    line: i32::try_from(line).unwrap_or(i32::MAX),
                    kind: field(0),
                    subject: field(1),
                    object: field(2),
                    action: f.get(3).cloned(),
                    scope: f.get(4).filter(|_| f.len() == 6).cloned(),
                    effect: f.get(5).cloned(),
                }
            })
            .collect();
        Ok(PolicyFiles {
            model: read(MODEL_FILE)?,
            tests: read(TESTS_FILE).unwrap_or_default(),
            policy: policy_text,
            rules,
        })
    }

    /// Walks the audit hash chain now. Requires `read` on `audit:log`.
    async fn audit_chain_status(&self, ctx: &Context<'_>) -> Result<ChainStatus> {
        let st = state(ctx)?;
        st.policy
            .authorize(&actor(ctx)?.subject(), "audit:log", "read")?;
        let report = audit::verify(&st.db).await.map_err(ApiError::from)?;
        let (first_bad_seq, problem) = match report.problem {
            Some((seq, why)) => (Some(seq), Some(why)),
            None => (None, None),
        };
        Ok(ChainStatus {
            ok: problem.is_none(),
            entries: report.entries,
            first_bad_seq,
            problem,
            checked_at: audit::now_string(),
        })
    }
}
