//! `allOf` / `anyOf` / `oneOf` against each other (Confluent's combined-schema rules): the
//! criterion may only move towards `anyOf` (or between singletons); more `anyOf`/`oneOf`
//! branches is a sum type extended, fewer `allOf` branches a product type narrowed; and the
//! branches must pair up compatibly — a maximum bipartite matching over compatible pairs must
//! cover the smaller side, else the subschemas changed.
//!
//! Implicit `allOf`s (several keyword families in one object, e.g. `type` + `enum`) follow the
//! same rules, but when a part finds no compatible partner and a part of the same shape is left
//! on the other side, the two are compared directly, so that the report names the real change
//! (e.g. the enum that lost a value) instead of an opaque "subschemas changed".

use serde_json::Value;

use super::diff::{Cx, Raw, all_compatible, compare};
use super::kinds::ChangeKind;
use super::model::{Combined, Criterion, Node, shape};

pub(crate) fn compare_combined<'a>(cx: &mut Cx<'a>, o: &Combined<'a>, u: &Combined<'a>) {
    if criteria(cx, o, u) == Some(ChangeKind::CombinedTypeChanged) {
        return;
    }
    let orig = distinct(&o.members);
    let upd = distinct(&u.members);
    if orig.len() < upd.len() {
        cx.add(if u.criterion == Criterion::All {
            ChangeKind::ProductTypeExtended
        } else {
            ChangeKind::SumTypeExtended
        });
    } else if orig.len() > upd.len() {
        cx.add(if o.criterion == Criterion::All {
            ChangeKind::ProductTypeNarrowed
        } else {
            ChangeKind::SumTypeNarrowed
        });
    }
    let mut edges: Vec<Vec<(usize, Vec<Raw>)>> = Vec::with_capacity(orig.len());
    for (i, a) in orig.iter().enumerate() {
        let segment = format!("{}/{i}", o.criterion.keyword());
        let mut row = Vec::new();
        for (j, b) in upd.iter().enumerate() {
            let found = cx.sub(|cx| within(cx, o.synthetic, &segment, |cx| compare(cx, a, b)));
            if all_compatible(&found) {
                row.push((j, found));
            }
        }
        row.sort_by_key(|(_, found)| found.len());
        edges.push(row);
    }
    let matched = matching(&edges, upd.len());
    let mut covered = 0;
    for (i, row) in edges.iter_mut().enumerate() {
        if let Some(j) = matched[i]
            && let Some(pos) = row.iter().position(|(k, _)| *k == j)
        {
            cx.extend(std::mem::take(&mut row[pos].1));
            covered += 1;
        }
    }
    if covered < orig.len().min(upd.len()) {
        if o.synthetic && u.synthetic {
            covered += explain(cx, &orig, &upd, &matched);
        }
        if covered < orig.len().min(upd.len()) {
            cx.add(ChangeKind::CombinedTypeSubschemasChanged);
        }
    }
}

fn within<'a>(cx: &mut Cx<'a>, synthetic: bool, segment: &str, f: impl FnOnce(&mut Cx<'a>)) {
    if synthetic {
        f(cx);
    } else {
        let parts: Vec<&str> = segment.split('/').collect();
        cx.at(&parts, f);
    }
}

/// Records how the criterion changed; `COMBINED_TYPE_CHANGED` ends the comparison.
fn criteria(cx: &mut Cx<'_>, o: &Combined<'_>, u: &Combined<'_>) -> Option<ChangeKind> {
    let single = |c: &Combined<'_>| c.members.len() == 1;
    if o.criterion == u.criterion {
        return None;
    }
    // Towards `anyOf`; between singletons; a singleton `oneOf` from a singleton; a singleton
    // from `allOf`: each accepts at least what the original accepted.
    let widens = u.criterion == Criterion::Any
        || (single(o) && (single(u) || u.criterion == Criterion::One))
        || (single(u) && o.criterion == Criterion::All);
    let kind = if widens {
        ChangeKind::CombinedTypeExtended
    } else {
        ChangeKind::CombinedTypeChanged
    };
    let name = |c: &Combined<'_>| Some(Value::String(c.criterion.keyword().to_string()));
    cx.add_with(kind, name(o), name(u));
    Some(kind)
}

/// The members with duplicates (same JSON) collapsed, first occurrence kept.
fn distinct<'n, 'a>(members: &'n [Node<'a>]) -> Vec<&'n Node<'a>> {
    let mut out: Vec<&Node<'a>> = Vec::new();
    for m in members {
        let duplicate = m.part == 0 && out.iter().any(|seen| seen.part == 0 && seen.src == m.src);
        if !duplicate {
            out.push(m);
        }
    }
    out
}

/// Maximum bipartite matching (augmenting paths); `edges[i]` lists the update members that
/// original member `i` may pair with, best first. Returns the partner of each original member.
fn matching(edges: &[Vec<(usize, Vec<Raw>)>], right: usize) -> Vec<Option<usize>> {
    let mut owner: Vec<Option<usize>> = vec![None; right];
    for i in 0..edges.len() {
        let mut seen = vec![false; right];
        augment(i, edges, &mut owner, &mut seen);
    }
    let mut partner = vec![None; edges.len()];
    for (j, o) in owner.iter().enumerate() {
        if let Some(i) = o {
            partner[*i] = Some(j);
        }
    }
    partner
}

fn augment(
    i: usize,
    edges: &[Vec<(usize, Vec<Raw>)>],
    owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for (j, _) in &edges[i] {
        if seen[*j] {
            continue;
        }
        seen[*j] = true;
        let free = match owner[*j] {
            None => true,
            Some(k) => augment(k, edges, owner, seen),
        };
        if free {
            owner[*j] = Some(i);
            return true;
        }
    }
    false
}

/// Pairs unmatched parts of the same shape and reports their (incompatible) differences.
/// Returns how many pairs it explained.
fn explain<'a>(
    cx: &mut Cx<'a>,
    orig: &[&Node<'a>],
    upd: &[&Node<'a>],
    matched: &[Option<usize>],
) -> usize {
    let mut taken: Vec<bool> = vec![false; upd.len()];
    for j in matched.iter().flatten() {
        taken[*j] = true;
    }
    let mut explained = 0;
    for (i, a) in orig.iter().enumerate() {
        if matched[i].is_some() {
            continue;
        }
        let partner = (0..upd.len()).find(|&j| !taken[j] && shape(a) == shape(upd[j]));
        if let Some(j) = partner {
            taken[j] = true;
            compare(cx, a, upd[j]);
            explained += 1;
        }
    }
    explained
}
