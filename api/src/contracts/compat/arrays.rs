//! Arrays: `items` (one schema for all), tuple positions (`prefixItems`, or a draft-07 `items`
//! array) under open / closed / partially open item models (`additionalItems`, or 2020-12
//! `items` after `prefixItems`, `unevaluatedItems`), `contains` with `min/maxContains`, and
//! `minItems` / `maxItems` / `uniqueItems`. Tuple positions are pointed at as `items/<n>`.

use super::diff::{Cx, all_compatible, compare, compare_opt};
use super::kinds::ChangeKind as K;
use super::model::{ArrFacet, Body, Node};
use super::scalars::bound;

pub(crate) fn compare_array<'a>(cx: &mut Cx<'a>, o: &ArrFacet<'a>, u: &ArrFacet<'a>) {
    cx.at(&["items"], |cx| {
        compare_opt(cx, o.all_items.as_deref(), u.all_items.as_deref())
    });
    tuple(cx, o, u);
    cx.at(&["additionalItems"], |cx| additional(cx, o, u));
    cx.at(&["contains"], |cx| {
        compare_opt(cx, o.contains.as_deref(), u.contains.as_deref())
    });
    let max = [
        K::MaxItemsAdded,
        K::MaxItemsRemoved,
        K::MaxItemsIncreased,
        K::MaxItemsDecreased,
    ];
    bound(cx, "maxItems", o.max_items, u.max_items, max);
    let min = [
        K::MinItemsAdded,
        K::MinItemsRemoved,
        K::MinItemsIncreased,
        K::MinItemsDecreased,
    ];
    bound(cx, "minItems", o.min_items, u.min_items, min);
    if o.unique != u.unique {
        let kind = if o.unique {
            K::UniqueItemsRemoved
        } else {
            K::UniqueItemsAdded
        };
        cx.at(&["uniqueItems"], |cx| cx.add(kind));
    }
    let min = [
        K::MinContainsAdded,
        K::MinContainsRemoved,
        K::MinContainsIncreased,
        K::MinContainsDecreased,
    ];
    bound(cx, "minContains", o.min_contains, u.min_contains, min);
    let max = [
        K::MaxContainsAdded,
        K::MaxContainsRemoved,
        K::MaxContainsIncreased,
        K::MaxContainsDecreased,
    ];
    bound(cx, "maxContains", o.max_contains, u.max_contains, max);
}

/// An open item model: anything may follow the tuple positions.
fn is_open(facet: &ArrFacet<'_>) -> bool {
    facet.additional.schema.is_none() && facet.additional.permits
}

fn tuple<'a>(cx: &mut Cx<'a>, o: &ArrFacet<'a>, u: &ArrFacet<'a>) {
    let longest = o.prefix.len().max(u.prefix.len());
    for index in 0..longest {
        let position = index.to_string();
        cx.at(&["items", &position], |cx| {
            match (o.prefix.get(index), u.prefix.get(index)) {
                (Some(a), Some(b)) => compare(cx, a, b),
                (Some(a), None) => removed(cx, a, u),
                (None, Some(b)) => added(cx, o, b),
                (None, None) => {}
            }
        });
    }
}

fn removed<'a>(cx: &mut Cx<'a>, orig: &Node<'a>, u: &ArrFacet<'a>) {
    if is_open(u) {
        cx.add(K::ItemRemovedFromOpenContentModel);
    } else if let Some(schema) = u.additional.schema.as_deref() {
        let found = cx.sub(|cx| compare(cx, orig, schema));
        let covered = all_compatible(&found);
        cx.extend(found);
        cx.add(if covered {
            K::ItemRemovedIsCoveredByPartiallyOpenContentModel
        } else {
            K::ItemRemovedNotCoveredByPartiallyOpenContentModel
        });
    } else if matches!(orig.body, Body::False) {
        cx.add(K::ItemWithFalseRemovedFromClosedContentModel);
    } else {
        cx.add(K::ItemRemovedFromClosedContentModel);
    }
}

fn added<'a>(cx: &mut Cx<'a>, o: &ArrFacet<'a>, upd: &Node<'a>) {
    if is_open(o) {
        let empty = matches!(upd.body, Body::Empty);
        cx.add(if empty {
            K::ItemWithEmptySchemaAddedToOpenContentModel
        } else {
            K::ItemAddedToOpenContentModel
        });
    } else if let Some(schema) = o.additional.schema.as_deref() {
        let found = cx.sub(|cx| compare(cx, schema, upd));
        let covered = all_compatible(&found);
        cx.extend(found);
        cx.add(if covered {
            K::ItemAddedIsCoveredByPartiallyOpenContentModel
        } else {
            K::ItemAddedNotCoveredByPartiallyOpenContentModel
        });
    } else {
        cx.add(K::ItemAddedToClosedContentModel);
    }
}

fn additional<'a>(cx: &mut Cx<'a>, o: &ArrFacet<'a>, u: &ArrFacet<'a>) {
    let (a, b) = (&o.additional, &u.additional);
    match (a.schema.as_deref(), b.schema.as_deref()) {
        _ if a.permits != b.permits => {
            cx.add(if a.permits {
                K::AdditionalItemsRemoved
            } else {
                K::AdditionalItemsAdded
            });
        }
        (None, Some(_)) => cx.add(K::AdditionalItemsNarrowed),
        (Some(_), None) => cx.add(K::AdditionalItemsExtended),
        (Some(x), Some(y)) => compare(cx, x, y),
        (None, None) => {}
    }
}
