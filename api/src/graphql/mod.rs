//! The GraphQL schema: one module per domain noun, merged here, with the limits async-graphql
//! leaves off by default (complexity, directives) set explicitly, and [`guard`] for the ones it
//! cannot express (depth without introspection, string argument lengths).
//!
//! Resolvers get the shared [`AppState`] and the request's [`Actor`] from the context; they call
//! the domain services (`catalog`, `audit`) and never touch policy or tables on their own.

mod alerts;
mod approvals;
mod audit_log;
mod catalog;
mod catalog_types;
mod connections;
mod contracts;
mod deprecations;
mod erasure;
pub mod guard;
mod health;
mod instances;
mod lineage;
mod listings;
mod live;
mod me;
mod policy_versions;
mod retention;
mod runs;
mod suppressions;
mod ui_explain;
mod write_keys;

use crate::audit::Actor;
use crate::auth::Subject;
use crate::config::GraphqlLimits;
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use crate::state::AppState;
use async_graphql::{Context, MergedObject, Schema};
use axum::body::Bytes;
use base64::Engine as _;
use std::sync::Arc;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    me::MeQuery,
    catalog::CatalogQuery,
    connections::ConnectionQuery,
    instances::InstanceQuery,
    runs::RunQuery,
    deprecations::DeprecationQuery,
    health::HealthQuery,
    alerts::AlertQuery,
    lineage::LineageQuery,
    contracts::ContractsQuery,
    audit_log::AuditQuery,
    ui_explain::UiExplainQuery,
    suppressions::SuppressionQuery,
    policy_versions::PolicyVersionQuery,
    retention::RetentionQuery,
    approvals::ApprovalQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    catalog::CatalogMutation,
    connections::ConnectionMutation,
    instances::InstanceMutation,
    runs::RunMutation,
    alerts::AlertMutation,
    deprecations::DeprecationMutation,
    write_keys::WriteKeyMutation,
    suppressions::SuppressionMutation,
    retention::RetentionMutation,
    erasure::ErasureMutation,
    approvals::ApprovalMutation,
);

pub type SwitchyardSchema = Schema<QueryRoot, MutationRoot, live::LiveSubscription>;

/// What `/graphql` serves: the same types twice, once per way in.
#[derive(Clone)]
pub struct Graphql {
    /// Queries and mutations over HTTP, checked by `guard` before they run. No extension, so
    /// async-graphql resolves fields directly (see `guard`).
    http: SwitchyardSchema,
    /// Subscriptions over WebSocket, checked by the [`guard::Guard`] extension.
    pub ws: SwitchyardSchema,
    guard: Arc<guard::RequestGuard>,
    /// Catalog listings answered before, by caller and request ([`listings`]).
    listings: Arc<listings::Listings>,
    policy: Arc<Policy>,
}

impl Graphql {
    /// Both schemas on `state`, with `limits`.
    pub async fn build(state: AppState, limits: &GraphqlLimits) -> ApiResult<Self> {
        let extension = guard::Guard::new(limits);
        let env = extension.env();
        let ws = schema(Some(state.clone()), limits, Some(extension));
        // async-graphql shows a schema's registry only to its extensions: one parse hands it over.
        let _ = ws.execute("{ __typename }").await;
        let env = env
            .get()
            .cloned()
            .ok_or_else(|| ApiError::internal("the GraphQL guard did not see the schema"))?;
        Ok(Self {
            policy: Arc::clone(&state.policy),
            http: schema(Some(state), limits, None),
            ws,
            guard: Arc::new(guard::RequestGuard::new(limits, env)),
            listings: Arc::default(),
        })
    }

    /// One HTTP operation: the guard's checks, then async-graphql. A refused operation runs
    /// nothing.
    pub async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        match self.guard.admit(request) {
            Ok((request, _)) => self.http.execute(request).await,
            Err(refusal) => async_graphql::Response::from_errors(vec![refusal]),
        }
    }

    /// The JSON answer kept for `subject` sending the single operation `body`, while it is
    /// what executing `body` would answer ([`listings`]).
    pub fn kept_answer(&self, subject: &Subject, body: &Bytes) -> Option<Bytes> {
        self.listings.get(&self.policy, subject, body)
    }

    /// A single HTTP operation, `request` as parsed from `body`: like [`Self::execute`], and
    /// when it is a catalog listing answered without errors, its JSON answer, kept for the
    /// next time `subject` sends `body`. `Err` holds the response of anything else.
    pub async fn execute_single(
        &self,
        subject: &Subject,
        body: &Bytes,
        request: async_graphql::Request,
    ) -> Result<Bytes, async_graphql::Response> {
        let (mut request, parsed) = match self.guard.admit(request) {
            Ok(admitted) => admitted,
            Err(refusal) => return Err(async_graphql::Response::from_errors(vec![refusal])),
        };
        // Only a document the guard parsed: one that does not parse is not parsed again here
        // (async-graphql reports the syntax error).
        let listing = parsed && request.parsed_query().is_ok_and(listings::is_listing);
        if !listing {
            return Err(self.http.execute(request).await);
        }
        let seen = listings::Listings::seen(&self.policy);
        let (response, oldest_read) =
            crate::catalog::pages::noting_reads(self.http.execute(request)).await;
        if !response.errors.is_empty() {
            return Err(response);
        }
        match serde_json::to_vec(&response) {
            Ok(answer) => {
                let answer = Bytes::from(answer);
                self.listings
                    .put(subject, body, seen, oldest_read, answer.clone());
                Ok(answer)
            }
            Err(_) => Err(response),
        }
    }
}

/// Builds a schema. `state` is `None` only for printing the SDL.
fn schema(
    state: Option<AppState>,
    limits: &GraphqlLimits,
    guard: Option<guard::Guard>,
) -> SwitchyardSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        live::LiveSubscription,
    )
    .limit_complexity(limits.max_complexity)
    .limit_directives(limits.max_directives)
    .limit_recursive_depth(32)
    .disable_suggestions();
    if let Some(guard) = guard {
        builder = builder.extension(guard);
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The SDL of the schema (`switchyard schema`).
pub fn sdl() -> String {
    schema(None, &GraphqlLimits::default(), None).sdl()
}

pub(crate) fn state<'a>(ctx: &Context<'a>) -> ApiResult<&'a AppState> {
    ctx.data::<AppState>()
        .map_err(|_| ApiError::internal("schema built without state"))
}

pub(crate) fn actor<'a>(ctx: &Context<'a>) -> ApiResult<&'a Actor> {
    ctx.data::<Actor>()
        .map_err(|_| ApiError::Unauthenticated("a bearer token is required".into()))
}

/// Page size from `first`: 1–100, default 20.
pub(crate) fn page_size(first: Option<i32>) -> ApiResult<u64> {
    match first {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n as u64),
        Some(n) => Err(ApiError::bad_input(
            "first",
            format!("must be between 1 and 100, got {n}"),
        )),
    }
}

pub(crate) fn encode_cursor(raw: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(crate) fn decode_cursor(cursor: &str) -> ApiResult<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_input("after", "not a cursor returned by this API"))
}
