//! Leaf comparisons: numeric bounds (shared with objects and arrays), strings (lengths,
//! `pattern`, `format`), numbers (bounds, `multipleOf`, integer→number widening), `enum` /
//! `const` as value sets, and `not` (compared with the roles reversed).

use serde_json::Value;

use super::diff::{Cx, all_compatible, compare};
use super::kinds::ChangeKind as K;
use super::model::{EnumFacet, Node, NumFacet, StrFacet};

/// The four kinds a bound may produce: added, removed, increased, decreased.
pub(crate) type BoundKinds = [K; 4];

pub(crate) const MAX_LENGTH: BoundKinds = [
    K::MaxLengthAdded,
    K::MaxLengthRemoved,
    K::MaxLengthIncreased,
    K::MaxLengthDecreased,
];
const MIN_LENGTH: BoundKinds = [
    K::MinLengthAdded,
    K::MinLengthRemoved,
    K::MinLengthIncreased,
    K::MinLengthDecreased,
];
const MAXIMUM: BoundKinds = [
    K::MaximumAdded,
    K::MaximumRemoved,
    K::MaximumIncreased,
    K::MaximumDecreased,
];
const MINIMUM: BoundKinds = [
    K::MinimumAdded,
    K::MinimumRemoved,
    K::MinimumIncreased,
    K::MinimumDecreased,
];
const EXCLUSIVE_MAXIMUM: BoundKinds = [
    K::ExclusiveMaximumAdded,
    K::ExclusiveMaximumRemoved,
    K::ExclusiveMaximumIncreased,
    K::ExclusiveMaximumDecreased,
];
const EXCLUSIVE_MINIMUM: BoundKinds = [
    K::ExclusiveMinimumAdded,
    K::ExclusiveMinimumRemoved,
    K::ExclusiveMinimumIncreased,
    K::ExclusiveMinimumDecreased,
];

/// Compares one numeric keyword at `<pointer>/<keyword>`.
pub(crate) fn bound(
    cx: &mut Cx<'_>,
    keyword: &str,
    orig: Option<f64>,
    upd: Option<f64>,
    kinds: BoundKinds,
) {
    let [added, removed, increased, decreased] = kinds;
    let kind = match (orig, upd) {
        (None, Some(_)) => added,
        (Some(_), None) => removed,
        (Some(a), Some(b)) if a < b => increased,
        (Some(a), Some(b)) if a > b => decreased,
        _ => return,
    };
    cx.at(&[keyword], |cx| {
        cx.add_with(kind, orig.map(number_value), upd.map(number_value))
    });
}

/// A bound as JSON, written as an integer when it is one.
pub(crate) fn number_value(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

pub(crate) fn string(cx: &mut Cx<'_>, o: &StrFacet<'_>, u: &StrFacet<'_>) {
    bound(cx, "maxLength", o.max_length, u.max_length, MAX_LENGTH);
    bound(cx, "minLength", o.min_length, u.min_length, MIN_LENGTH);
    text(
        cx,
        "pattern",
        o.pattern,
        u.pattern,
        [K::PatternAdded, K::PatternRemoved, K::PatternChanged],
    );
    text(
        cx,
        "format",
        o.format,
        u.format,
        [K::FormatAdded, K::FormatRemoved, K::FormatChanged],
    );
}

fn text(cx: &mut Cx<'_>, keyword: &str, orig: Option<&str>, upd: Option<&str>, kinds: [K; 3]) {
    let [added, removed, changed] = kinds;
    let kind = match (orig, upd) {
        (None, Some(_)) => added,
        (Some(_), None) => removed,
        (Some(a), Some(b)) if a != b => changed,
        _ => return,
    };
    let json = |s: Option<&str>| s.map(|s| Value::String(s.to_string()));
    cx.at(&[keyword], |cx| cx.add_with(kind, json(orig), json(upd)));
}

pub(crate) fn number(cx: &mut Cx<'_>, o: &NumFacet, u: &NumFacet) {
    bound(cx, "maximum", o.maximum, u.maximum, MAXIMUM);
    bound(cx, "minimum", o.minimum, u.minimum, MINIMUM);
    bound(
        cx,
        "exclusiveMaximum",
        o.exclusive_maximum,
        u.exclusive_maximum,
        EXCLUSIVE_MAXIMUM,
    );
    bound(
        cx,
        "exclusiveMinimum",
        o.exclusive_minimum,
        u.exclusive_minimum,
        EXCLUSIVE_MINIMUM,
    );
    let kind = match (o.multiple_of, u.multiple_of) {
        (None, Some(_)) => Some(K::MultipleOfAdded),
        (Some(_), None) => Some(K::MultipleOfRemoved),
        (Some(a), Some(b)) if a != b && is_multiple(b, a) => Some(K::MultipleOfExpanded),
        (Some(a), Some(b)) if a != b && is_multiple(a, b) => Some(K::MultipleOfReduced),
        (Some(a), Some(b)) if a != b => Some(K::MultipleOfChanged),
        _ => None,
    };
    if let Some(kind) = kind {
        let (a, b) = (
            o.multiple_of.map(number_value),
            u.multiple_of.map(number_value),
        );
        cx.at(&["multipleOf"], |cx| cx.add_with(kind, a, b));
    }
    let name = |integer: bool| {
        Some(Value::String(
            if integer { "integer" } else { "number" }.to_string(),
        ))
    };
    if o.integer && !u.integer {
        cx.add_with(K::TypeExtended, name(true), name(false));
    } else if !o.integer && u.integer {
        cx.add_with(K::TypeNarrowed, name(false), name(true));
    }
}

/// Whether `x` is a whole multiple of `of`.
fn is_multiple(x: f64, of: f64) -> bool {
    if of == 0.0 {
        return false;
    }
    let ratio = x / of;
    (ratio - ratio.round()).abs() < 1e-9 && ratio.round() != 0.0
}

/// `enum`/`const` as sets of values.
pub(crate) fn enumeration(cx: &mut Cx<'_>, o: &EnumFacet<'_>, u: &EnumFacet<'_>) {
    let contains_all =
        |big: &[&Value], small: &[&Value]| small.iter().all(|v| big.iter().any(|w| json_eq(v, w)));
    let kind = match (
        contains_all(&u.values, &o.values),
        contains_all(&o.values, &u.values),
    ) {
        (true, true) => return,
        (true, false) => K::EnumArrayExtended,
        (false, true) => K::EnumArrayNarrowed,
        (false, false) => K::EnumArrayChanged,
    };
    let keyword = if o.keyword == "const" && u.keyword == "const" {
        "const"
    } else {
        "enum"
    };
    let list = |e: &EnumFacet<'_>| {
        Some(Value::Array(
            e.values.iter().map(|v| (*v).clone()).collect(),
        ))
    };
    cx.at(&[keyword], |cx| cx.add_with(kind, list(o), list(u)));
}

/// JSON equality where numerically equal numbers (1 and 1.0) are equal.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || x.as_f64().zip(y.as_f64()).is_some_and(|(p, q)| p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// `not`: the excluded set may shrink (compatible) but not grow.
pub(crate) fn not<'a>(cx: &mut Cx<'a>, o: &Node<'a>, u: &Node<'a>) {
    cx.at(&["not"], |cx| {
        let mut found = Vec::new();
        cx.swapped(|cx| found = cx.sub(|cx| compare(cx, u, o)));
        cx.add(if all_compatible(&found) {
            K::NotTypeNarrowed
        } else {
            K::NotTypeExtended
        });
    });
}
