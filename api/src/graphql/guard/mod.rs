//! Request guards that async-graphql cannot express on its own, run right after a document is
//! parsed and before it is validated or executed, so a refused request does nothing:
//!
//! - [`shape`]: nesting depth counted *without* the introspection type system, so standard
//!   clients (gql, GraphiQL, graphql-js 17's nine-level `ofType` query) load the schema, while
//!   introspection subtrees get their own bounds (nested lists, depth, how many per document)
//!   and a depth bomb on the data graph is still refused;
//! - [`strings`]: every `String`/`ID` argument, nested input fields and list items included, has
//!   a length limit, refused as `BAD_USER_INPUT` naming the argument path.
//!
//! Complexity and directive limits stay with async-graphql's own validation (`limit_complexity`,
//! `limit_directives`). Nothing here logs a query or a variable: they may carry personal data.

mod shape;
mod strings;

use crate::config::GraphqlLimits;
use crate::error::{ApiError, Code};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensions as _, ServerError, ServerResult, Variables};
use std::sync::Arc;

pub use shape::{INTROSPECTION_MAX_DEPTH, INTROSPECTION_MAX_LISTS, INTROSPECTION_MAX_ROOTS};
pub use strings::max_length;

/// The guard as an async-graphql extension (registered by `graphql::build`).
pub struct Guard {
    limits: Arc<GraphqlLimits>,
}

impl Guard {
    pub fn new(limits: &GraphqlLimits) -> Self {
        Self {
            limits: Arc::new(limits.clone()),
        }
    }
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension {
            limits: Arc::clone(&self.limits),
        })
    }
}

struct GuardExtension {
    limits: Arc<GraphqlLimits>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for GuardExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        shape::check(&doc, self.limits.max_depth)?;
        strings::check(
            &ctx.schema_env.registry,
            &doc,
            variables,
            self.limits.max_string_length,
        )?;
        Ok(doc)
    }
}

/// A `BAD_USER_INPUT` error, naming the argument path `field` when there is one.
fn refuse(field: Option<&str>, message: String) -> ServerError {
    let error = match field {
        Some(field) => ApiError::bad_input(field, message).extend(),
        None => async_graphql::Error::new(message)
            .extend_with(|_, e| e.set("code", Code::BadUserInput.as_str())),
    };
    error.into_server_error(Default::default())
}
