//! The comparison walk: the context that collects raw changes at JSON pointers, lazy resolution
//! of local `$ref`s with a recursion guard, and the top-level comparison of two schema nodes
//! (Confluent's `SchemaDiff.compare`: singleton unions, sum-type extension, product-type
//! narrowing, then a per-shape comparison).

use serde_json::Value;

use super::kinds::{ChangeKind, Policy};
use super::load;
use super::model::{self, Body, Dialect, Facet, Node, describe, shape};
use super::{arrays, combined, objects, scalars};

/// A change as found, before it is phrased: `orig`/`upd` are the relevant values of the
/// original and the updated schema (bounds, enum values, type names, …).
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub kind: ChangeKind,
    pub path: Vec<String>,
    pub orig: Option<Value>,
    pub upd: Option<Value>,
    pub compatible: bool,
}

/// One of the two documents being compared.
#[derive(Clone, Copy)]
pub(crate) struct Side<'a> {
    pub root: &'a Value,
    pub dialect: Dialect,
}

/// How many `$ref` hops a single reference may take before it is declared unresolvable.
const MAX_REF_HOPS: usize = 32;
/// Nesting beyond which the walk stops (serde_json itself refuses deeper documents).
const MAX_DEPTH: usize = 256;
/// Schema pairs compared at most per diff; schemas sharing definitions many times over could
/// otherwise take exponential time. Reaching it makes the result incompatible.
const MAX_COMPARISONS: usize = 50_000;

pub(crate) struct Cx<'a> {
    pub orig: Side<'a>,
    pub upd: Side<'a>,
    pub policy: Policy,
    path: Vec<String>,
    out: Vec<Raw>,
    /// Pairs of (original, update) schema identities being compared, outermost first.
    active: Vec<((usize, u8), (usize, u8))>,
    budget: usize,
    exhausted: bool,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(original: &'a Value, update: &'a Value, policy: Policy) -> Self {
        Cx {
            orig: Side {
                root: original,
                dialect: Dialect::of(original),
            },
            upd: Side {
                root: update,
                dialect: Dialect::of(update),
            },
            policy,
            path: Vec::new(),
            out: Vec::new(),
            active: Vec::new(),
            budget: MAX_COMPARISONS,
            exhausted: false,
        }
    }

    /// The changes found; when a limit was reached, an incompatible marker at the root too.
    pub(crate) fn finish(mut self) -> Vec<Raw> {
        if self.exhausted {
            self.path.clear();
            self.add(ChangeKind::ComparisonLimitReached);
        }
        self.out
    }

    /// Records a change at the current pointer.
    pub(crate) fn add(&mut self, kind: ChangeKind) {
        self.add_with(kind, None, None);
    }

    /// Records a change at the current pointer with the values it concerns.
    pub(crate) fn add_with(&mut self, kind: ChangeKind, orig: Option<Value>, upd: Option<Value>) {
        let compatible = self.policy.allows(kind);
        self.out.push(Raw {
            kind,
            path: self.path.clone(),
            orig,
            upd,
            compatible,
        });
    }

    pub(crate) fn extend(&mut self, raws: Vec<Raw>) {
        self.out.extend(raws);
    }

    /// Runs `f` with `segments` appended to the pointer.
    pub(crate) fn at<R>(&mut self, segments: &[&str], f: impl FnOnce(&mut Self) -> R) -> R {
        let depth = self.path.len();
        self.path.extend(segments.iter().map(|s| (*s).to_string()));
        let result = f(self);
        self.path.truncate(depth);
        result
    }

    /// Runs `f` in a sub-context and returns what it found, without keeping it.
    pub(crate) fn sub(&mut self, f: impl FnOnce(&mut Self)) -> Vec<Raw> {
        let saved = std::mem::take(&mut self.out);
        f(self);
        std::mem::replace(&mut self.out, saved)
    }

    /// Runs `f` with the roles of the two documents exchanged (for `not`).
    pub(crate) fn swapped(&mut self, f: impl FnOnce(&mut Self)) {
        std::mem::swap(&mut self.orig, &mut self.upd);
        f(self);
        std::mem::swap(&mut self.orig, &mut self.upd);
    }
}

/// Whether every change keeps compatibility.
pub(crate) fn all_compatible(raws: &[Raw]) -> bool {
    raws.iter().all(|r| r.compatible)
}

/// Compares two optional subschemas (`items`, `contains`, …): one missing is a schema added or
/// removed.
pub(crate) fn compare_opt<'a>(cx: &mut Cx<'a>, orig: Option<&Node<'a>>, upd: Option<&Node<'a>>) {
    match (orig, upd) {
        (Some(o), Some(u)) => compare(cx, o, u),
        (None, Some(_)) => cx.add(ChangeKind::SchemaAdded),
        (Some(_), None) => cx.add(ChangeKind::SchemaRemoved),
        (None, None) => {}
    }
}

/// Where a `$ref` leads in its own document.
enum Target<'a> {
    Inline,
    Found(Node<'a>),
    Unresolved(&'a str),
}

fn resolve<'a>(side: Side<'a>, node: &Node<'a>) -> Target<'a> {
    let Body::Ref(first) = node.body else {
        return Target::Inline;
    };
    let mut reference = first;
    for _ in 0..MAX_REF_HOPS {
        let Some(value) = lookup(side.root, reference) else {
            return Target::Unresolved(first);
        };
        let next = load::load(value, side.dialect);
        match next.body {
            Body::Ref(again) => reference = again,
            _ => return Target::Found(next),
        }
    }
    Target::Unresolved(first)
}

/// Follows a local reference (`#`, `#/definitions/x`, `#/$defs/x`, any `#/json/pointer`).
fn lookup<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    let decoded = percent_decode(pointer)?;
    root.pointer(&decoded)
}

fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Compares two schemas (Confluent's `SchemaDiff.compare`).
pub(crate) fn compare<'a>(cx: &mut Cx<'a>, orig: &Node<'a>, upd: &Node<'a>) {
    let (o_target, u_target) = (resolve(cx.orig, orig), resolve(cx.upd, upd));
    let o = match &o_target {
        Target::Found(node) => node,
        _ => orig,
    };
    let u = match &u_target {
        Target::Found(node) => node,
        _ => upd,
    };
    if let (Target::Unresolved(_), _) | (_, Target::Unresolved(_)) = (&o_target, &u_target) {
        return unresolved(cx, &o_target, &u_target, o, u);
    }
    let key = (o.identity(), u.identity());
    if cx.active.contains(&key) {
        // The same pair is already being compared further out: a recursive schema.
        return;
    }
    if cx.active.len() > MAX_DEPTH || cx.budget == 0 {
        cx.exhausted = true;
        return;
    }
    cx.budget -= 1;
    cx.active.push(key);
    compare_resolved(cx, o, u);
    cx.active.pop();
}

fn unresolved<'a>(
    cx: &mut Cx<'a>,
    o_target: &Target<'a>,
    u_target: &Target<'a>,
    o: &Node<'a>,
    u: &Node<'a>,
) {
    let name = |t: &Target<'a>| match t {
        Target::Unresolved(r) => Some(Value::String((*r).to_string())),
        _ => None,
    };
    let (o_ref, u_ref) = (name(o_target), name(u_target));
    if o_ref.is_some() && o_ref == u_ref {
        cx.add_with(ChangeKind::ReferenceUnresolvedUnchanged, o_ref, u_ref);
    } else if !matches!(u.body, Body::Empty) && !matches!(o.body, Body::False) {
        cx.add_with(ChangeKind::ReferenceUnresolvedChanged, o_ref, u_ref);
    }
}

fn compare_resolved<'a>(cx: &mut Cx<'a>, o: &Node<'a>, u: &Node<'a>) {
    if union_special_cases(cx, o, u) {
        return;
    }
    let (o_shape, u_shape) = (shape(o), shape(u));
    if o_shape != u_shape {
        // `false` is narrower than anything, `{}`/`true` wider than anything.
        if o_shape != "false" && u_shape != "anything" {
            cx.add_with(
                ChangeKind::TypeChanged,
                Some(describe(o)),
                Some(describe(u)),
            );
        }
        return;
    }
    annotations(cx, o, u);
    match (&o.body, &u.body) {
        (Body::Combined(a), Body::Combined(b)) => combined::compare_combined(cx, a, b),
        (Body::Facet(a), Body::Facet(b)) => facets(cx, a, b),
        _ => {}
    }
}

fn facets<'a>(cx: &mut Cx<'a>, o: &Facet<'a>, u: &Facet<'a>) {
    match (o, u) {
        (Facet::Str(a), Facet::Str(b)) => scalars::string(cx, a, b),
        (Facet::Num(a), Facet::Num(b)) => scalars::number(cx, a, b),
        (Facet::Enum(a), Facet::Enum(b)) => scalars::enumeration(cx, a, b),
        (Facet::Not(a), Facet::Not(b)) => scalars::not(cx, a, b),
        (Facet::Obj(a), Facet::Obj(b)) => objects::compare_object(cx, a, b),
        (Facet::Arr(a), Facet::Arr(b)) => arrays::compare_array(cx, a, b),
        (Facet::Cond(a), Facet::Cond(b)) if a != b => cx.add(ChangeKind::ConditionalChanged),
        _ => {}
    }
}

/// A plain schema against a union (or the reverse): singleton unions compare as their member,
/// a plain schema matching one `anyOf`/`oneOf` branch is a sum type extended, and an `allOf`
/// branch matching the plain schema is a product type narrowed. Returns whether it decided.
fn union_special_cases<'a>(cx: &mut Cx<'a>, o: &Node<'a>, u: &Node<'a>) -> bool {
    match (&o.body, &u.body) {
        (Body::Combined(_), Body::Combined(_)) => false,
        (_, Body::Combined(c)) => {
            let sum = c.criterion != model::Criterion::All;
            if c.members.len() != 1 && !sum {
                return false;
            }
            for member in &c.members {
                let found = cx.sub(|cx| compare(cx, o, member));
                if all_compatible(&found) {
                    cx.extend(found);
                    if c.members.len() != 1 {
                        cx.add(ChangeKind::SumTypeExtended);
                    }
                    return true;
                }
            }
            false
        }
        (Body::Combined(c), _) => {
            let product = c.criterion == model::Criterion::All;
            if c.members.len() != 1 && !product {
                return false;
            }
            for member in &c.members {
                let found = cx.sub(|cx| compare(cx, member, u));
                if all_compatible(&found) {
                    cx.extend(found);
                    if c.members.len() != 1 {
                        cx.add(ChangeKind::ProductTypeNarrowed);
                    }
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

fn annotations<'a>(cx: &mut Cx<'a>, o: &Node<'a>, u: &Node<'a>) {
    let pairs = [
        (ChangeKind::IdChanged, o.ann.id, u.ann.id),
        (ChangeKind::TitleChanged, o.ann.title, u.ann.title),
        (
            ChangeKind::DescriptionChanged,
            o.ann.description,
            u.ann.description,
        ),
        (ChangeKind::DefaultChanged, o.ann.default, u.ann.default),
    ];
    for (kind, a, b) in pairs {
        if kind == ChangeKind::IdChanged
            && (cx.orig.dialect == Dialect::Modern || cx.upd.dialect == Dialect::Modern)
        {
            continue;
        }
        if a != b {
            cx.add_with(kind, a.cloned(), b.cloned());
        }
    }
}
