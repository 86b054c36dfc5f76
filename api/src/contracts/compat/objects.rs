//! Objects: `required`, `properties` under open / closed / partially open content models
//! (`additionalProperties`, `unevaluatedProperties`, `patternProperties`), dependencies
//! (`dependencies`, `dependentRequired`, `dependentSchemas`) and `min/maxProperties`.
//!
//! A property may be added only where the original schema could not already hold it with
//! another type: to a closed model, or to a partially open one whose schema for that name the
//! new property schema accepts. It may be removed only where the updated schema still accepts
//! it: an open model, or a partially open one whose schema for that name covers it.

use serde_json::Value;

use super::diff::{Cx, all_compatible, compare};
use super::kinds::ChangeKind as K;
use super::model::{Body, Node, ObjFacet};
use super::scalars::bound;

pub(crate) fn compare_object<'a>(cx: &mut Cx<'a>, o: &ObjFacet<'a>, u: &ObjFacet<'a>) {
    required(cx, o, u);
    properties(cx, o, u);
    dependencies(cx, o, u);
    dependent_schemas(cx, o, u);
    cx.at(&["additionalProperties"], |cx| additional(cx, o, u));
    let max = [
        K::MaxPropertiesAdded,
        K::MaxPropertiesRemoved,
        K::MaxPropertiesIncreased,
        K::MaxPropertiesDecreased,
    ];
    bound(cx, "maxProperties", o.max_properties, u.max_properties, max);
    let min = [
        K::MinPropertiesAdded,
        K::MinPropertiesRemoved,
        K::MinPropertiesIncreased,
        K::MinPropertiesDecreased,
    ];
    bound(cx, "minProperties", o.min_properties, u.min_properties, min);
}

fn property<'n, 'a>(facet: &'n ObjFacet<'a>, name: &str) -> Option<&'n Node<'a>> {
    facet
        .properties
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn is_required(facet: &ObjFacet<'_>, name: &str) -> bool {
    facet.required.contains(&name)
}

/// Required-ness of the properties both schemas declare.
fn required<'a>(cx: &mut Cx<'a>, o: &ObjFacet<'a>, u: &ObjFacet<'a>) {
    for (name, _) in &o.properties {
        let Some(updated) = property(u, name) else {
            continue;
        };
        let kind = match (is_required(o, name), is_required(u, name)) {
            (true, false) => K::RequiredAttributeRemoved,
            (false, true) if updated.ann.default.is_some() => K::RequiredAttributeWithDefaultAdded,
            (false, true) => K::RequiredAttributeAdded,
            _ => continue,
        };
        cx.at(&["required", name], |cx| cx.add(kind));
    }
}

fn properties<'a>(cx: &mut Cx<'a>, o: &ObjFacet<'a>, u: &ObjFacet<'a>) {
    let mut names: Vec<&str> = o.properties.iter().map(|(k, _)| *k).collect();
    names.extend(
        u.properties
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| property(o, k).is_none()),
    );
    for name in names {
        cx.at(&["properties", name], |cx| {
            match (property(o, name), property(u, name)) {
                (Some(a), Some(b)) => compare(cx, a, b),
                (Some(a), None) => removed(cx, a, u, name),
                (None, Some(b)) => added(cx, o, b, u, name),
                (None, None) => {}
            }
        });
    }
}

/// An open content model: no `patternProperties`, `additionalProperties` absent or `true`.
fn is_open(facet: &ObjFacet<'_>) -> bool {
    facet.patterns.is_empty() && facet.additional.schema.is_none() && facet.additional.permits
}

/// The schema a partially open content model gives to an undeclared property `name`.
fn partial<'n, 'a>(facet: &'n ObjFacet<'a>, name: &str) -> Option<&'n Node<'a>> {
    facet
        .patterns
        .iter()
        .find(|(pattern, _)| pattern_matches(pattern, name))
        .map(|(_, schema)| schema)
        .or(facet.additional.schema.as_deref())
}

/// ECMA-262 regex search, through the validator's own engine (no regex crate of our own).
fn pattern_matches(pattern: &str, name: &str) -> bool {
    let schema = serde_json::json!({ "type": "string", "pattern": pattern });
    jsonschema::validator_for(&schema).is_ok_and(|v| v.is_valid(&Value::String(name.to_string())))
}

fn removed<'a>(cx: &mut Cx<'a>, orig: &Node<'a>, u: &ObjFacet<'a>, name: &str) {
    if is_open(u) {
        cx.add(K::PropertyRemovedFromOpenContentModel);
    } else if let Some(schema) = partial(u, name) {
        let found = cx.sub(|cx| compare(cx, orig, schema));
        let covered = all_compatible(&found);
        cx.extend(found);
        cx.add(if covered {
            K::PropertyRemovedIsCoveredByPartiallyOpenContentModel
        } else {
            K::PropertyRemovedNotCoveredByPartiallyOpenContentModel
        });
    } else if matches!(orig.body, Body::False) {
        cx.add(K::PropertyWithFalseRemovedFromClosedContentModel);
    } else {
        cx.add(K::PropertyRemovedFromClosedContentModel);
    }
}

fn added<'a>(cx: &mut Cx<'a>, o: &ObjFacet<'a>, upd: &Node<'a>, u: &ObjFacet<'a>, name: &str) {
    let required = is_required(u, name);
    let has_default = upd.ann.default.is_some();
    if is_open(o) {
        cx.add(
            match (matches!(upd.body, Body::Empty), required, has_default) {
                (true, _, _) => K::PropertyWithEmptySchemaAddedToOpenContentModel,
                (false, true, true) => K::RequiredPropertyWithDefaultAddedToOpenContentModel,
                (false, true, false) => K::RequiredPropertyAddedToOpenContentModel,
                (false, false, _) => K::OptionalPropertyAddedToOpenContentModel,
            },
        );
        return;
    }
    if let Some(schema) = partial(o, name) {
        let found = cx.sub(|cx| compare(cx, schema, upd));
        let covered = all_compatible(&found);
        cx.extend(found);
        cx.add(if covered {
            K::PropertyAddedIsCoveredByPartiallyOpenContentModel
        } else {
            K::PropertyAddedNotCoveredByPartiallyOpenContentModel
        });
    }
    cx.add(match (required, has_default) {
        (true, true) => K::RequiredPropertyWithDefaultAddedToUnopenContentModel,
        (true, false) => K::RequiredPropertyAddedToUnopenContentModel,
        (false, _) => K::OptionalPropertyAddedToUnopenContentModel,
    });
}

/// Property dependencies (`dependencies` arrays, `dependentRequired`).
fn dependencies<'a>(cx: &mut Cx<'a>, o: &ObjFacet<'a>, u: &ObjFacet<'a>) {
    let find_array = |f: &ObjFacet<'a>, key: &str| {
        f.dep_arrays
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    let mut keys: Vec<&str> = o
        .dep_arrays
        .iter()
        .chain(&u.dep_arrays)
        .map(|(k, _)| *k)
        .collect();
    dedup(&mut keys);
    for key in keys {
        let (a, b) = (find_array(o, key), find_array(u, key));
        let kind = match (&a, &b) {
            (Some(_), None) => K::DependencyArrayRemoved,
            (None, Some(_)) => K::DependencyArrayAdded,
            (Some(a), Some(b)) => match (
                b.iter().all(|x| a.contains(x)),
                a.iter().all(|x| b.contains(x)),
            ) {
                (true, true) => continue,
                (false, true) => K::DependencyArrayExtended,
                (true, false) => K::DependencyArrayNarrowed,
                (false, false) => K::DependencyArrayChanged,
            },
            (None, None) => continue,
        };
        let list = |v: Option<Vec<&str>>| {
            v.map(|v| Value::from(v.into_iter().map(str::to_string).collect::<Vec<_>>()))
        };
        cx.at(&["dependencies", key], |cx| {
            cx.add_with(kind, list(a), list(b))
        });
    }
}

/// Schema dependencies (`dependencies` objects, `dependentSchemas`).
fn dependent_schemas<'a>(cx: &mut Cx<'a>, o: &ObjFacet<'a>, u: &ObjFacet<'a>) {
    let mut keys: Vec<&str> = o
        .dep_schemas
        .iter()
        .chain(&u.dep_schemas)
        .map(|(k, _)| *k)
        .collect();
    dedup(&mut keys);
    for key in keys {
        cx.at(&["dependencies", key], |cx| {
            match (dependent(o, key), dependent(u, key)) {
                (Some(a), Some(b)) => compare(cx, a, b),
                (Some(_), None) => cx.add(K::DependencySchemaRemoved),
                (None, Some(_)) => cx.add(K::DependencySchemaAdded),
                (None, None) => {}
            }
        });
    }
}

fn dependent<'n, 'a>(facet: &'n ObjFacet<'a>, key: &str) -> Option<&'n Node<'a>> {
    facet
        .dep_schemas
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, schema)| schema)
}

fn dedup(keys: &mut Vec<&str>) {
    let mut seen: Vec<&str> = Vec::with_capacity(keys.len());
    keys.retain(|k| {
        let fresh = !seen.contains(k);
        seen.push(k);
        fresh
    });
}

fn additional<'a>(cx: &mut Cx<'a>, o: &ObjFacet<'a>, u: &ObjFacet<'a>) {
    let (a, b) = (&o.additional, &u.additional);
    match (a.schema.as_deref(), b.schema.as_deref()) {
        _ if a.permits != b.permits => {
            cx.add(if b.permits {
                K::AdditionalPropertiesAdded
            } else {
                K::AdditionalPropertiesRemoved
            });
        }
        (None, Some(_)) => cx.add(K::AdditionalPropertiesNarrowed),
        (Some(_), None) => cx.add(K::AdditionalPropertiesExtended),
        (Some(x), Some(y)) => compare(cx, x, y),
        (None, None) => {}
    }
}
