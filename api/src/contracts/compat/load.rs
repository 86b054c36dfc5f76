//! Reads JSON into the typed model of `model.rs`, as Confluent's loaders do: `type` (or, without
//! it, the keyword families present) decides the facets; `enum`, `const`, `not`, `allOf` /
//! `anyOf` / `oneOf` and `if`/`then`/`else` add their own; several facets make an implicit
//! `allOf`. Draft-07 and 2020-12 forms are both read (`items` arrays + `additionalItems`, or
//! `prefixItems` + `items`; `dependencies`, or `dependentRequired` + `dependentSchemas`), and
//! `unevaluatedProperties` / `unevaluatedItems` stand in for their `additional*` forms.

use serde_json::{Map, Value};

use super::model::{
    Annotations, ArrFacet, Body, Combined, Criterion, Dialect, EnumFacet, Facet, Node, NumFacet,
    ObjFacet, Openness, StrFacet,
};

const ARRAY_WORDS: &[&str] = &[
    "items",
    "additionalItems",
    "prefixItems",
    "unevaluatedItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
];
const OBJECT_WORDS: &[&str] = &[
    "required",
    "additionalProperties",
    "unevaluatedProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "propertyNames",
];
const NUMBER_WORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];
const STRING_WORDS: &[&str] = &["minLength", "maxLength", "pattern", "format"];

/// Reads one schema (a JSON object or boolean) into a node.
pub(crate) fn load(value: &Value, dialect: Dialect) -> Node<'_> {
    let body = match value {
        Value::Bool(false) => Body::False,
        Value::Object(map) => load_object(value, map, dialect),
        _ => Body::Empty,
    };
    let ann = match value {
        // `$id` is compared for draft-07 only, as Confluent does (its 2020-12 loader drops it).
        Value::Object(map) => Annotations {
            id: map
                .get("$id")
                .or_else(|| map.get("id"))
                .filter(|_| dialect == Dialect::Legacy),
            title: map.get("title"),
            description: map.get("description"),
            default: map.get("default"),
        },
        _ => Annotations::default(),
    };
    Node {
        ann,
        body,
        src: value,
        part: 0,
    }
}

fn load_object<'a>(value: &'a Value, map: &'a Map<String, Value>, dialect: Dialect) -> Body<'a> {
    if let Some(Value::String(target)) = map.get("$ref")
        && dialect == Dialect::Legacy
    {
        return Body::Ref(target);
    }
    let mut parts: Vec<Body<'_>> = Vec::new();
    if let Some(Value::String(target)) = map.get("$ref") {
        parts.push(Body::Ref(target));
    }
    if let Some(Value::Array(values)) = map.get("enum") {
        parts.push(Body::Facet(Facet::Enum(EnumFacet {
            values: values.iter().collect(),
            keyword: "enum",
        })));
    }
    if let Some(constant) = map.get("const") {
        parts.push(Body::Facet(Facet::Enum(EnumFacet {
            values: vec![constant],
            keyword: "const",
        })));
    }
    for criterion in [Criterion::All, Criterion::Any, Criterion::One] {
        if let Some(Value::Array(subs)) = map.get(criterion.keyword()) {
            let members = subs.iter().map(|s| load(s, dialect)).collect();
            parts.push(Body::Combined(Combined {
                criterion,
                members,
                synthetic: false,
            }));
        }
    }
    if let Some(inner) = map.get("not") {
        parts.push(Body::Facet(Facet::Not(Box::new(load(inner, dialect)))));
    }
    typed_parts(value, map, dialect, &mut parts);
    let cond: Vec<(&str, &Value)> = ["if", "then", "else"]
        .iter()
        .filter_map(|&k| map.get(k).map(|v| (k, v)))
        .collect();
    if !cond.is_empty() {
        parts.push(Body::Facet(Facet::Cond(cond)));
    }
    join(value, parts)
}

/// The facets `type` declares, or (without `type`) the ones its keywords imply.
fn typed_parts<'a>(
    value: &'a Value,
    map: &'a Map<String, Value>,
    dialect: Dialect,
    parts: &mut Vec<Body<'a>>,
) {
    match map.get("type") {
        Some(Value::String(name)) => parts.extend(typed(map, name, dialect).map(Body::Facet)),
        Some(Value::Array(names)) => {
            let members = names
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|name| typed(map, name, dialect))
                .zip(TYPE_UNION_PARTS..)
                .map(|(facet, part)| Node::part(value, part, Body::Facet(facet)))
                .collect();
            parts.push(Body::Combined(Combined {
                criterion: Criterion::Any,
                members,
                synthetic: true,
            }));
        }
        _ => {
            let has = |words: &[&str]| words.iter().any(|w| map.contains_key(*w));
            // Like Confluent's 2020-12 loader, an empty `properties` alone (a no-op) does not
            // make a 2020-12 schema an object schema.
            let has_properties = match map.get("properties") {
                Some(Value::Object(props)) => dialect == Dialect::Legacy || !props.is_empty(),
                Some(_) => true,
                None => false,
            };
            if has(ARRAY_WORDS) {
                parts.push(Body::Facet(Facet::Arr(array(map, dialect))));
            }
            if has_properties || has(OBJECT_WORDS) {
                parts.push(Body::Facet(Facet::Obj(object(map, dialect))));
            }
            if has(NUMBER_WORDS) {
                parts.push(Body::Facet(Facet::Num(number(map, false))));
            }
            if has(STRING_WORDS) {
                parts.push(Body::Facet(Facet::Str(string(map))));
            }
        }
    }
}

fn typed<'a>(map: &'a Map<String, Value>, name: &str, dialect: Dialect) -> Option<Facet<'a>> {
    Some(match name {
        "string" => Facet::Str(string(map)),
        "integer" => Facet::Num(number(map, true)),
        "number" => Facet::Num(number(map, false)),
        "boolean" => Facet::Bool,
        "null" => Facet::Null,
        "object" => Facet::Obj(object(map, dialect)),
        "array" => Facet::Arr(array(map, dialect)),
        _ => return None,
    })
}

/// Part numbers of `type` union members (implicit `allOf` parts count from 1).
const TYPE_UNION_PARTS: u8 = 100;

fn join<'a>(value: &'a Value, mut parts: Vec<Body<'a>>) -> Body<'a> {
    match parts.len() {
        0 => Body::Empty,
        1 => parts.pop().unwrap_or(Body::Empty),
        _ => Body::Combined(Combined {
            criterion: Criterion::All,
            members: parts
                .into_iter()
                .zip(1..TYPE_UNION_PARTS)
                .map(|(body, part)| Node::part(value, part, body))
                .collect(),
            synthetic: true,
        }),
    }
}

fn num(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(Value::as_f64)
}

fn string(map: &Map<String, Value>) -> StrFacet<'_> {
    StrFacet {
        min_length: num(map, "minLength"),
        max_length: num(map, "maxLength"),
        pattern: map.get("pattern").and_then(Value::as_str),
        format: map.get("format").and_then(Value::as_str),
    }
}

fn number(map: &Map<String, Value>, integer: bool) -> NumFacet {
    let mut facet = NumFacet {
        integer,
        minimum: num(map, "minimum"),
        maximum: num(map, "maximum"),
        exclusive_minimum: num(map, "exclusiveMinimum"),
        exclusive_maximum: num(map, "exclusiveMaximum"),
        multiple_of: num(map, "multipleOf"),
    };
    // Draft-04 booleans: `exclusiveMaximum: true` makes `maximum` exclusive.
    if map.get("exclusiveMaximum") == Some(&Value::Bool(true)) {
        facet.exclusive_maximum = facet.maximum.take();
    }
    if map.get("exclusiveMinimum") == Some(&Value::Bool(true)) {
        facet.exclusive_minimum = facet.minimum.take();
    }
    facet
}

fn openness<'a>(value: Option<&'a Value>, dialect: Dialect) -> Openness<'a> {
    match value {
        Some(Value::Bool(permits)) => Openness {
            permits: *permits,
            schema: None,
        },
        Some(schema @ Value::Object(_)) => Openness {
            permits: true,
            schema: Some(Box::new(load(schema, dialect))),
        },
        _ => Openness {
            permits: true,
            schema: None,
        },
    }
}

fn named<'a>(value: Option<&'a Value>, dialect: Dialect) -> Vec<(&'a str, Node<'a>)> {
    match value {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.as_str(), load(v, dialect)))
            .collect(),
        _ => Vec::new(),
    }
}

fn names(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn object(map: &Map<String, Value>, dialect: Dialect) -> ObjFacet<'_> {
    let mut dep_arrays = Vec::new();
    let mut dep_schemas = Vec::new();
    if let Some(Value::Object(deps)) = map.get("dependencies") {
        for (key, dep) in deps {
            match dep {
                Value::Array(_) => dep_arrays.push((key.as_str(), names(dep))),
                _ => dep_schemas.push((key.as_str(), load(dep, dialect))),
            }
        }
    }
    if let Some(Value::Object(deps)) = map.get("dependentRequired") {
        dep_arrays.extend(deps.iter().map(|(k, v)| (k.as_str(), names(v))));
    }
    dep_schemas.extend(named(map.get("dependentSchemas"), dialect));
    let additional = map
        .get("additionalProperties")
        .or_else(|| map.get("unevaluatedProperties"));
    ObjFacet {
        properties: named(map.get("properties"), dialect),
        required: map.get("required").map(names).unwrap_or_default(),
        additional: openness(additional, dialect),
        patterns: named(map.get("patternProperties"), dialect),
        dep_arrays,
        dep_schemas,
        min_properties: num(map, "minProperties"),
        max_properties: num(map, "maxProperties"),
    }
}

fn load_list(value: &Value, dialect: Dialect) -> Option<Vec<Node<'_>>> {
    value
        .as_array()
        .map(|a| a.iter().map(|s| load(s, dialect)).collect())
}

fn array(map: &Map<String, Value>, dialect: Dialect) -> ArrFacet<'_> {
    let items = map.get("items");
    let after = map
        .get("additionalItems")
        .or_else(|| map.get("unevaluatedItems"));
    let (all_items, prefix, additional) =
        if let Some(prefix) = map.get("prefixItems").and_then(|v| load_list(v, dialect)) {
            (None, prefix, openness(items.or(after), dialect))
        } else if let Some(prefix) = items.and_then(|v| load_list(v, dialect)) {
            (None, prefix, openness(after, dialect))
        } else {
            match items {
                Some(Value::Bool(_)) if dialect == Dialect::Modern => {
                    (None, Vec::new(), openness(items, dialect))
                }
                Some(all) => (
                    Some(Box::new(load(all, dialect))),
                    Vec::new(),
                    openness(after, dialect),
                ),
                None => (None, Vec::new(), openness(after, dialect)),
            }
        };
    let contains = map.get("contains").map(|c| Box::new(load(c, dialect)));
    let has_contains = contains.is_some();
    ArrFacet {
        all_items,
        prefix,
        additional,
        contains,
        min_items: num(map, "minItems"),
        max_items: num(map, "maxItems"),
        unique: map.get("uniqueItems") == Some(&Value::Bool(true)),
        // `minContains` defaults to 1 wherever `contains` applies.
        min_contains: has_contains.then(|| num(map, "minContains").unwrap_or(1.0)),
        max_contains: num(map, "maxContains").filter(|_| has_contains),
    }
}
