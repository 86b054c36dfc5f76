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
//!
//! Two ways in, one check. HTTP requests go through [`RequestGuard::admit`] before they reach
//! async-graphql, which then executes the document parsed here: the HTTP schema has no
//! extension, and async-graphql resolves every field directly only when a schema has none (with
//! one, each field and list item goes through the boxed extension chain — the catalog listing
//! served a third fewer requests per second that way). WebSocket subscriptions are executed
//! inside async-graphql-axum, so their schema keeps the guard as an extension ([`Guard`]).

mod shape;
mod strings;

use crate::config::GraphqlLimits;
use crate::error::{ApiError, Code};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::registry::Registry;
use async_graphql::{
    ErrorExtensions as _, Request, SchemaEnv, ServerError, ServerResult, Variables,
};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

pub use shape::{INTROSPECTION_MAX_DEPTH, INTROSPECTION_MAX_LISTS, INTROSPECTION_MAX_ROOTS};
pub use strings::max_length;

/// Both checks on a parsed document.
fn check(
    limits: &GraphqlLimits,
    registry: &Registry,
    doc: &ExecutableDocument,
    variables: &Variables,
) -> Result<(), ServerError> {
    shape::check(doc, limits.max_depth)?;
    strings::check(registry, doc, variables, limits.max_string_length)
}

/// The guard as an async-graphql extension, for the WebSocket schema (registered by
/// `Graphql::build`). It also hands out the schema's registry for [`RequestGuard`]: async-graphql
/// exposes it only to extensions.
pub struct Guard {
    limits: Arc<GraphqlLimits>,
    env: Arc<OnceLock<SchemaEnv>>,
}

impl Guard {
    pub fn new(limits: &GraphqlLimits) -> Self {
        Self {
            limits: Arc::new(limits.clone()),
            env: Arc::default(),
        }
    }

    /// Where the schema's environment lands once a request has been parsed by a schema with
    /// this extension.
    pub fn env(&self) -> Arc<OnceLock<SchemaEnv>> {
        Arc::clone(&self.env)
    }
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension {
            limits: Arc::clone(&self.limits),
            env: Arc::clone(&self.env),
        })
    }
}

struct GuardExtension {
    limits: Arc<GraphqlLimits>,
    env: Arc<OnceLock<SchemaEnv>>,
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
        self.env.get_or_init(|| ctx.schema_env.clone());
        let doc = next.run(ctx, query, variables).await?;
        check(&self.limits, &ctx.schema_env.registry, &doc, variables)?;
        Ok(doc)
    }
}

/// The guard for HTTP requests: checks each request before async-graphql sees it.
///
/// Clients send the same few documents over and over (a page asks for the same listing each
/// time), and parsing was the largest single cost of serving a catalog page, so documents that
/// parsed and passed the shape check are kept by their text ([`PARSED_MAX`] of them, each at
/// most [`PARSED_MAX_TEXT`] long) and cloned instead of parsed again. The string check depends on
/// the variables and runs on every request.
pub struct RequestGuard {
    limits: GraphqlLimits,
    env: SchemaEnv,
    parsed: RwLock<HashMap<String, ExecutableDocument>>,
}

/// Most documents kept parsed; beyond it the map starts over.
const PARSED_MAX: usize = 256;
/// Longest document text kept parsed, in bytes.
const PARSED_MAX_TEXT: usize = 4096;

impl RequestGuard {
    /// `env`: the environment of a schema with the same types as the one requests run on.
    pub fn new(limits: &GraphqlLimits, env: SchemaEnv) -> Self {
        Self {
            limits: limits.clone(),
            env,
            parsed: RwLock::default(),
        }
    }

    /// The request, carrying its parsed document, when both checks pass; the refusal otherwise.
    /// A document that does not parse is passed on as it is (`false`: it carries no document):
    /// async-graphql reports the syntax error the same way for both schemas.
    pub fn admit(&self, mut request: Request) -> Result<(Request, bool), ServerError> {
        let kept = self
            .parsed
            .read()
            .ok()
            .and_then(|map| map.get(&request.query).cloned());
        let doc = match kept {
            Some(doc) => doc,
            None => {
                let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
                    return Ok((request, false));
                };
                shape::check(&doc, self.limits.max_depth)?;
                if request.query.len() <= PARSED_MAX_TEXT
                    && let Ok(mut map) = self.parsed.write()
                {
                    if map.len() >= PARSED_MAX {
                        map.clear();
                    }
                    map.insert(request.query.clone(), doc.clone());
                }
                doc
            }
        };
        strings::check(
            &self.env.registry,
            &doc,
            &request.variables,
            self.limits.max_string_length,
        )?;
        request.set_parsed_query(doc);
        Ok((request, true))
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
