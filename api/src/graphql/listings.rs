//! Catalog listings kept as the bytes they were answered with.
//!
//! Browsing is most of the API's traffic, and a browser asks for the same page over and over:
//! the same `templates(first: 20)` document from the same caller. Executing it means resolving
//! every field of every row (20 × 9 fields for a plain listing page), which cost several times
//! what the rest of the request does. So an operation whose every root field is a catalog
//! listing (`templates`, `connectors`, `contracts`; see [`is_listing`]) is answered once and kept
//! by what its answer depends on:
//!
//! - the caller: the whole [`Subject`] (name, roles, team) — the resolvers filter rows by what
//!   the caller may read, so one caller's page is never another's;
//! - the request body, byte for byte (document, variables, operation name);
//! - the policy in force: its content hash, read before rendering ([`Policy::fingerprint`]);
//! - the catalog: its write generation, read before rendering (any committed catalog write in
//!   this process drops every kept listing), and the age of the oldest catalog entry it was
//!   rendered from ([`pages::noting_reads`]): a kept listing is dropped when its rows would be,
//!   after [`pages::TTL`], so a write by another process shows as soon as it does in a freshly
//!   executed one.
//!
//! Only answers without errors are kept. A kept answer is served after the request has been
//! authenticated and rate-limited like any other; its bytes are what executing it would return.

use crate::auth::Subject;
use crate::catalog::{generation, pages};
use crate::policy::Policy;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use axum::body::Bytes;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

/// Most listings kept; beyond it the map starts over.
const MAX_ENTRIES: usize = 256;
/// Longest request body kept, in bytes.
const MAX_REQUEST: usize = 4096;
/// Longest answer kept, in bytes (so at most 16 MiB in all).
const MAX_ANSWER: usize = 64 * 1024;

/// Root fields whose answers depend on the catalog, the policy and the caller only.
const LISTING_ROOTS: [&str; 4] = ["templates", "connectors", "contracts", "__typename"];

/// Whether every operation of `doc` is a query whose root fields are all catalog listings.
/// Anything else (a mutation, a root fragment, another root field) is executed every time.
pub fn is_listing(doc: &ExecutableDocument) -> bool {
    let listing =
        |op: &async_graphql::Positioned<async_graphql::parser::types::OperationDefinition>| {
            op.node.ty == OperationType::Query
                && op.node.selection_set.node.items.iter().all(|item| {
                    matches!(&item.node, Selection::Field(f)
                    if LISTING_ROOTS.contains(&f.node.name.node.as_str()))
                })
        };
    match &doc.operations {
        DocumentOperations::Single(op) => listing(op),
        DocumentOperations::Multiple(ops) => ops.values().all(listing),
    }
}

#[derive(PartialEq, Eq, Hash)]
struct Key {
    subject: Subject,
    request: Bytes,
}

struct Kept {
    generation: u64,
    policy: [u8; 32],
    /// When the oldest catalog entry the answer was rendered from was read.
    oldest_read: Instant,
    answer: Bytes,
}

/// What the catalog and the policy were when a listing started to render.
pub struct Seen {
    generation: u64,
    policy: [u8; 32],
}

/// The kept listing answers of one server.
#[derive(Default)]
pub struct Listings {
    kept: RwLock<HashMap<Key, Kept>>,
}

impl Listings {
    /// The answer kept for `subject` sending `request`, while it is still what executing the
    /// request would answer.
    pub fn get(&self, policy: &Policy, subject: &Subject, request: &Bytes) -> Option<Bytes> {
        if request.len() > MAX_REQUEST {
            return None;
        }
        let map = self.kept.read().ok()?;
        let key = Key {
            subject: subject.clone(),
            request: request.clone(),
        };
        let kept = map.get(&key)?;
        let fresh = kept.generation == generation()
            && kept.oldest_read.elapsed() < pages::TTL
            && kept.policy == policy.fingerprint();
        fresh.then(|| kept.answer.clone())
    }

    /// Call before rendering a listing that may be kept.
    pub fn seen(policy: &Policy) -> Seen {
        Seen {
            generation: generation(),
            policy: policy.fingerprint(),
        }
    }

    /// Keeps `answer`, rendered from catalog entries read no earlier than `oldest_read`, after
    /// [`Self::seen`] returned `seen`.
    pub fn put(
        &self,
        subject: &Subject,
        request: &Bytes,
        seen: Seen,
        oldest_read: Instant,
        answer: Bytes,
    ) {
        if request.len() > MAX_REQUEST || answer.len() > MAX_ANSWER {
            return;
        }
        if let Ok(mut map) = self.kept.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            let key = Key {
                subject: subject.clone(),
                request: request.clone(),
            };
            let kept = Kept {
                generation: seen.generation,
                policy: seen.policy,
                oldest_read,
                answer,
            };
            map.insert(key, kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_listing;
    use async_graphql::parser::parse_query;

    fn listing(query: &str) -> bool {
        is_listing(&parse_query(query).expect("parses"))
    }

    #[test]
    fn only_queries_of_catalog_listings_are_kept() {
        assert!(listing(
            "{ templates(first: 20) { edges { node { key } } } }"
        ));
        assert!(listing(
            "query Q($n: Int) { __typename connectors(first: $n) { edges { node { key } } } \
             contracts { pageInfo { hasNextPage } } }"
        ));
        // Another root field, a mutation, a fragment at the root.
        assert!(!listing("{ templates { edges { cursor } } me { sub } }"));
        assert!(!listing("{ template(key: \"lead-capture\") { key } }"));
        assert!(!listing(
            "mutation { setLifecycle(kind: TEMPLATE, key: \"a\", version: \"1.0.0\", lifecycle: DEPRECATED) { version } }"
        ));
        assert!(!listing(
            "{ ...F } fragment F on Query { templates { edges { cursor } } }"
        ));
        assert!(!listing(
            "query A { templates { edges { cursor } } } query B { instances { edges { cursor } } }"
        ));
    }
}
