//! JSON Schema compatibility engine, with Confluent Schema Registry semantics.
//!
//! [`diff`] compares two schemas structurally (Confluent's `SchemaDiff.compare(original,
//! update)`) and returns typed [`Change`]s — Confluent's change code, a JSON pointer, a sentence,
//! and whether the change keeps BACKWARD compatibility (a reader using the update accepts every
//! document the original accepted). [`check`] turns that into a [`Verdict`] for a proposed
//! schema against the registered versions under a compatibility [`Mode`]: BACKWARD diffs
//! `(existing, proposed)`, FORWARD diffs `(proposed, existing)` (old readers must read new
//! data), FULL does both, `_TRANSITIVE` checks every version instead of the latest, NONE
//! accepts everything but still reports the changes.
//!
//! Nothing is ever fetched: only local `$ref`s (`#`, `#/$defs/…`, `#/definitions/…`, any
//! `#/pointer`) are followed, with a guard for recursive schemas; any other reference is
//! reported as `REFERENCE_UNRESOLVED_*`.
//!
//! Files: `model` is the typed view of a schema and `load` builds it from JSON; `diff` walks two
//! of them; `combined`, `objects`, `arrays` and `scalars` compare each shape; `kinds` is the
//! change vocabulary; `message` phrases changes; `conformance` and `tests` are the tests.

mod arrays;
mod combined;
mod diff;
mod kinds;
mod load;
mod message;
mod model;
mod objects;
mod scalars;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use kinds::{ChangeKind, Policy};

/// A contract's compatibility mode, as in Confluent Schema Registry (the typed shape lives with
/// the contract document in `entity`).
pub use entity::documents::contract::Compatibility as Mode;

/// One structural difference between two schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Confluent's code, e.g. `ENUM_ARRAY_EXTENDED`.
    pub kind: ChangeKind,
    /// JSON pointer into the schema, e.g. `#/properties/source_category/enum` (`#/` is the root).
    pub pointer: String,
    /// A sentence a data engineer understands.
    pub message: String,
    /// Whether this change keeps compatibility in the direction it was found: for [`diff`] and
    /// BACKWARD breaks, a reader using the update accepts every document the original accepted.
    pub compatible: bool,
}

/// Which readers a breaking change fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    /// Readers using the proposed schema reject documents written with an existing version.
    Backward,
    /// Readers still on an existing version reject documents written with the proposed schema.
    Forward,
}

/// One incompatibility of a proposed schema with a registered version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breaking {
    /// Index into the `existing` slice given to [`check`] (oldest first).
    pub against_version_index: usize,
    pub direction: Direction,
    /// For [`Direction::Forward`], `kind`, `pointer` and `compatible` are those of
    /// `diff(proposed, existing)` (Confluent's FORWARD report); `message` is phrased from the
    /// publisher's side, as an evolution from the existing version to the proposed one.
    pub change: Change,
}

/// Verdict of a proposed schema against the existing versions under a mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub compatible: bool,
    /// Every incompatibility, per version and direction checked (empty under NONE).
    pub breaking: Vec<Breaking>,
    /// Every change from the latest version to the proposed schema (BACKWARD orientation),
    /// reported under every mode, NONE included.
    pub changes: Vec<Change>,
}

/// Confluent's `SchemaDiff.compare(original, update)` under the strict policy.
pub fn diff(original: &Value, update: &Value) -> Vec<Change> {
    diff_with(Policy::Strict, original, update)
}

/// [`diff`] under a chosen [`Policy`].
pub fn diff_with(policy: Policy, original: &Value, update: &Value) -> Vec<Change> {
    raw_diff(policy, original, update)
        .iter()
        .map(|raw| to_change(raw, false))
        .collect()
}

/// Checks `proposed` against `existing` (oldest first) under `mode` and the strict policy.
pub fn check(mode: Mode, existing: &[&Value], proposed: &Value) -> Verdict {
    check_with(Policy::Strict, mode, existing, proposed)
}

/// [`check`] under a chosen [`Policy`].
pub fn check_with(policy: Policy, mode: Mode, existing: &[&Value], proposed: &Value) -> Verdict {
    let Some(latest) = existing.len().checked_sub(1) else {
        return Verdict {
            compatible: true,
            breaking: Vec::new(),
            changes: Vec::new(),
        };
    };
    let first = if mode.is_transitive() { 0 } else { latest };
    let mut changes = Vec::new();
    let mut breaking = Vec::new();
    for (index, version) in existing.iter().enumerate().skip(first) {
        // BACKWARD: readers of the proposed schema read what `version` wrote.
        let backward = raw_diff(policy, version, proposed);
        if mode.checks_backward() {
            breaking.extend(breaks(&backward, Direction::Backward, index));
        }
        if index == latest {
            changes = backward.iter().map(|raw| to_change(raw, false)).collect();
        }
        // FORWARD: readers of `version` read what the proposed schema writes.
        if mode.checks_forward() {
            breaking.extend(breaks(
                &raw_diff(policy, proposed, version),
                Direction::Forward,
                index,
            ));
        }
    }
    Verdict {
        compatible: breaking.is_empty(),
        breaking,
        changes,
    }
}

fn breaks(raws: &[diff::Raw], direction: Direction, index: usize) -> Vec<Breaking> {
    let swapped = direction == Direction::Forward;
    raws.iter()
        .filter(|raw| !raw.compatible)
        .map(|raw| Breaking {
            against_version_index: index,
            direction,
            change: to_change(raw, swapped),
        })
        .collect()
}

fn raw_diff(policy: Policy, original: &Value, update: &Value) -> Vec<diff::Raw> {
    let mut cx = diff::Cx::new(original, update, policy);
    let (o, u) = (
        load::load(original, cx.orig.dialect),
        load::load(update, cx.upd.dialect),
    );
    diff::compare(&mut cx, &o, &u);
    cx.finish()
}

fn to_change(raw: &diff::Raw, swapped: bool) -> Change {
    Change {
        kind: raw.kind,
        pointer: pointer(&raw.path),
        message: message::render(raw, swapped),
        compatible: raw.compatible,
    }
}

/// `#/a/b`, with `~` and `/` escaped inside segments (`#/` for the root, as Confluent writes).
fn pointer(path: &[String]) -> String {
    let escaped: Vec<String> = path
        .iter()
        .map(|s| s.replace('~', "~0").replace('/', "~1"))
        .collect();
    format!("#/{}", escaped.join("/"))
}
