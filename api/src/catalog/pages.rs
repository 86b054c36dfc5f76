//! Catalog reads kept briefly, for one database: the rows of a listing page ([`super::list`])
//! and the versions of an item ([`super::versions`]), as they are before any caller's policy
//! filters them. Browsing the catalog is most of the API's reads, and the catalog changes
//! rarely.
//!
//! A [`CatalogPages`] lives in [`crate::state::AppState`], one per served database, so a
//! process serving several databases (the test suite, tenants) never answers one database's
//! listing with another's rows. An entry is dropped by any committed catalog write in this
//! process ([`super::changed`] moves [`super::generation`]; the counter is process-wide, which
//! only drops more than needed and keeps two servers of one process on one database coherent)
//! and after [`TTL`] in any case, so a write by another process on a shared database shows
//! within a second.
//!
//! Never decides what a caller may see: the resolvers filter the cached rows per request.
//! Never used inside a write transaction: writes read the database itself.
//!
//! A response rendered from these entries and kept in turn (the GraphQL listings,
//! `graphql::listings`) must not outlive them: [`noting_reads`] tells it the oldest entry it
//! was rendered from, so a kept response is as fresh as the rows it shows.

use super::definitions::Kind;
use super::{ListFilter, generation};
use crate::error::ApiResult;
use entity::{catalog_item, catalog_version};
use sea_orm::DatabaseConnection;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long an entry is reused before the database is read again.
pub const TTL: Duration = Duration::from_secs(1);

/// Most entries kept per map; beyond it the map starts over. Pages asked for are few; the
/// bound keeps varied searches from holding much (at most 256 pages of at most 100 rows).
const MAX_ENTRIES: usize = 256;

/// A listing page: its rows and whether there is a next page.
pub type Page = (Vec<catalog_item::Model>, bool);

/// The catalog reads of one database, kept for [`TTL`] or until the next catalog write.
#[derive(Default)]
pub struct CatalogPages {
    pages: Entries<PageKey, Page>,
    versions: Entries<i64, Vec<catalog_version::Model>>,
}

/// Everything a listing page depends on.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PageKey {
    kind: Kind,
    search: Option<String>,
    category: Option<String>,
    lifecycle: Option<&'static str>,
    owner: Option<String>,
    after: Option<String>,
    limit: u64,
}

impl CatalogPages {
    /// [`super::list`], from this cache when it holds the page.
    pub async fn list(
        &self,
        db: &DatabaseConnection,
        kind: Kind,
        filter: &ListFilter,
        after_key: Option<&str>,
        limit: u64,
    ) -> ApiResult<Page> {
        let key = PageKey {
            kind,
            search: filter.search.clone(),
            category: filter.category.clone(),
            lifecycle: filter.lifecycle.map(|l| l.as_str()),
            owner: filter.owner.clone(),
            after: after_key.map(str::to_string),
            limit,
        };
        if let Some(hit) = self.pages.get(&key) {
            return Ok(hit);
        }
        // Read before the database: a write committed meanwhile moves it, so the page read
        // now is never served after that write.
        let seen = generation();
        let page = super::list(db, kind, filter, after_key, limit).await?;
        self.pages.put(key, seen, page.clone());
        Ok(page)
    }

    /// [`super::versions`] of item `item_id`, newest first, from this cache when it holds them.
    pub async fn versions(
        &self,
        db: &DatabaseConnection,
        item_id: i64,
    ) -> ApiResult<Vec<catalog_version::Model>> {
        if let Some(hit) = self.versions.get(&item_id) {
            return Ok(hit);
        }
        let seen = generation();
        let versions = super::versions(db, item_id).await?;
        self.versions.put(item_id, seen, versions.clone());
        Ok(versions)
    }
}

tokio::task_local! {
    /// While [`noting_reads`] runs: when the oldest entry it was served was read.
    static OLDEST_READ: Cell<Instant>;
}

/// Runs `work`, and returns with its output when the oldest catalog read it used was made:
/// the earliest read time of the entries served to it, or its own start when it read the
/// database (or nothing) itself. Resolvers run on the task that awaits them, so every read of
/// `work` is seen.
pub async fn noting_reads<F: Future>(work: F) -> (F::Output, Instant) {
    OLDEST_READ
        .scope(Cell::new(Instant::now()), async move {
            let output = work.await;
            let oldest = OLDEST_READ.with(Cell::get);
            (output, oldest)
        })
        .await
}

/// Values by key, each with the catalog generation it was read at and when.
struct Entries<K, V>(RwLock<HashMap<K, (u64, Instant, V)>>);

impl<K, V> Default for Entries<K, V> {
    fn default() -> Self {
        Self(RwLock::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Entries<K, V> {
    /// The value, while the catalog has not changed since it was read and it is younger than
    /// [`TTL`].
    fn get(&self, key: &K) -> Option<V> {
        let map = self.0.read().ok()?;
        let (seen, at, value) = map.get(key)?;
        if *seen != generation() || at.elapsed() >= TTL {
            return None;
        }
        // Outside `noting_reads` there is no one to tell.
        let _ = OLDEST_READ.try_with(|oldest| oldest.set(oldest.get().min(*at)));
        Some(value.clone())
    }

    /// Keeps `value`, read while the catalog was at generation `seen`.
    fn put(&self, key: K, seen: u64, value: V) {
        if let Ok(mut map) = self.0.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, (seen, Instant::now(), value));
        }
    }
}
