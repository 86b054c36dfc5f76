//! Unit tests of the engine: the seeded `event.form_submitted` case, content models under FULL,
//! modes and transitivity, recursion, references, boolean schemas, types, formats, arrays.

use serde_json::{Value, json};

use super::{ChangeKind as K, Direction, Mode, Policy, check, check_with, diff};

fn seeded_v1() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/catalog/contracts/event.form_submitted.yaml"
    );
    let text = std::fs::read_to_string(path).expect("seeded contract is readable");
    let doc: Value = serde_yaml::from_str(&text).expect("seeded contract is YAML");
    doc["definition"]["schema"].clone()
}

fn kinds(changes: &[super::Change]) -> Vec<K> {
    changes.iter().map(|c| c.kind).collect()
}

/// A contract shaped like the seeded one, with a chosen `additionalProperties`.
fn form(additional: Value, extra: Option<(&str, Value)>) -> Value {
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["email", "source_category"],
        "properties": {
            "email": {"type": "string", "format": "email", "maxLength": 254},
            "source_category": {"type": "string", "enum": ["web", "event", "partner"]}
        }
    });
    if !additional.is_null() {
        schema["additionalProperties"] = additional;
    }
    if let Some((name, property)) = extra {
        schema["properties"][name] = property;
    }
    schema
}

#[test]
fn seeded_enum_extension_breaks_full_in_the_forward_direction() {
    let v1 = seeded_v1();
    let mut v2 = v1.clone();
    v2["properties"]["source_category"]["enum"]
        .as_array_mut()
        .expect("enum is an array")
        .push(json!("webinar"));

    let full = check(Mode::Full, &[&v1], &v2);
    assert!(!full.compatible);
    assert!(
        full.breaking
            .iter()
            .all(|b| b.direction == Direction::Forward && b.against_version_index == 0)
    );
    let enum_break = full
        .breaking
        .iter()
        .find(|b| b.change.pointer == "#/properties/source_category/enum")
        .expect("the enum is named");
    assert_eq!(enum_break.change.kind, K::EnumArrayNarrowed);
    assert_eq!(
        enum_break.change.message,
        "enum of `source_category` gained values [\"webinar\"]: readers of the old schema reject them"
    );

    let backward = check(Mode::Backward, &[&v1], &v2);
    assert!(backward.compatible, "{:?}", backward.breaking);
    assert_eq!(kinds(&backward.changes), vec![K::EnumArrayExtended]);
}

#[test]
fn optional_property_added_to_a_closed_model_breaks_only_forward() {
    // The seeded contract has `additionalProperties: false`: old readers reject the new field.
    let v1 = form(json!(false), None);
    let v2 = form(
        json!(false),
        Some(("utm_term", json!({"type": "string", "maxLength": 100}))),
    );
    assert!(check(Mode::Backward, &[&v1], &v2).compatible);
    let full = check(Mode::Full, &[&v1], &v2);
    assert!(!full.compatible);
    let only = &full.breaking[..];
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(only[0].direction, Direction::Forward);
    assert_eq!(
        only[0].change.kind,
        K::PropertyRemovedFromClosedContentModel
    );
    assert_eq!(only[0].change.pointer, "#/properties/utm_term");
    assert!(
        only[0].change.message.starts_with(
            "property `utm_term` was added to the document: readers of the old schema"
        )
    );
    // Lenient does not help a closed model: old readers still reject the field.
    assert!(!check_with(Policy::Lenient, Mode::Full, &[&v1], &v2).compatible);
    // The seeded contract itself behaves the same.
    let seeded = seeded_v1();
    if seeded["additionalProperties"] == json!(false) {
        let mut with_field = seeded.clone();
        with_field["properties"]["utm_term"] = json!({"type": "string", "maxLength": 100});
        assert!(!check(Mode::Full, &[&seeded], &with_field).compatible);
    }
}

#[test]
fn optional_property_added_to_an_open_model_breaks_only_backward_unless_lenient() {
    let v1 = form(Value::Null, None);
    let v2 = form(Value::Null, Some(("utm_term", json!({"type": "string"}))));
    let backward = check(Mode::Backward, &[&v1], &v2);
    assert_eq!(
        kinds(&backward.changes),
        vec![K::OptionalPropertyAddedToOpenContentModel]
    );
    assert!(!backward.compatible);
    assert!(check(Mode::Forward, &[&v1], &v2).compatible);
    assert!(check_with(Policy::Lenient, Mode::Full, &[&v1], &v2).compatible);

    let mut webinar = v1.clone();
    webinar["properties"]["source_category"]["enum"] =
        json!(["web", "event", "partner", "webinar"]);
    assert!(!check_with(Policy::Lenient, Mode::Full, &[&v1], &webinar).compatible);
}

#[test]
fn property_covered_by_a_partially_open_model_passes_full() {
    let rest = json!({"type": "string", "maxLength": 255});
    let v1 = form(rest.clone(), None);
    let v2 = form(rest.clone(), Some(("utm_term", rest)));
    let full = check(Mode::Full, &[&v1], &v2);
    assert!(full.compatible, "{:?}", full.breaking);
}

#[test]
fn transitive_modes_check_every_version() {
    let v1 = json!({"type": "string", "enum": ["a", "b"]});
    let v2 = json!({"type": "string", "enum": ["a"]});
    let proposed = json!({"type": "string", "enum": ["a", "c"]});
    assert!(check(Mode::Backward, &[&v1, &v2], &proposed).compatible);
    let transitive = check(Mode::BackwardTransitive, &[&v1, &v2], &proposed);
    assert!(!transitive.compatible);
    assert!(
        transitive
            .breaking
            .iter()
            .all(|b| b.against_version_index == 0)
    );
    assert!(!check(Mode::ForwardTransitive, &[&v1, &v2], &proposed).compatible);
    assert!(!check(Mode::FullTransitive, &[&v1, &v2], &proposed).compatible);
}

#[test]
fn none_accepts_everything_but_reports_changes() {
    let verdict = check(
        Mode::None,
        &[&json!({"type": "string"})],
        &json!({"type": "number"}),
    );
    assert!(verdict.compatible && verdict.breaking.is_empty());
    assert_eq!(kinds(&verdict.changes), vec![K::TypeChanged]);
    assert!(check(Mode::Full, &[], &json!({"type": "number"})).compatible);
}

#[test]
fn integer_widens_to_number_but_not_back() {
    let (int, num) = (json!({"type": "integer"}), json!({"type": "number"}));
    assert_eq!(kinds(&diff(&int, &num)), vec![K::TypeExtended]);
    assert!(check(Mode::Backward, &[&int], &num).compatible);
    assert!(!check(Mode::Forward, &[&int], &num).compatible);
    let union = json!({"type": ["integer", "null"]});
    assert!(check(Mode::Backward, &[&int], &union).compatible);
    assert!(!check(Mode::Backward, &[&union], &int).compatible);
}

#[test]
fn recursive_schemas_terminate_and_still_compare() {
    let tree = |max: u64| {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/$defs/node",
            "$defs": {"node": {"type": "object", "properties": {
                "label": {"type": "string", "maxLength": max},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
            }}}
        })
    };
    assert!(diff(&tree(10), &tree(10)).is_empty());
    let changes = diff(&tree(10), &tree(5));
    assert_eq!(kinds(&changes), vec![K::MaxLengthDecreased]);
    assert_eq!(changes[0].pointer, "#/properties/label/maxLength");
    let root =
        json!({"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "integer"}}});
    let widened =
        json!({"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "number"}}});
    assert_eq!(kinds(&diff(&root, &widened)), vec![K::TypeExtended]);
}

#[test]
fn references_are_never_fetched() {
    let remote = |url: &str| json!({"properties": {"a": {"$ref": url}}});
    let same = check(
        Mode::Full,
        &[&remote("https://example.com/a.json")],
        &remote("https://example.com/a.json"),
    );
    assert!(same.compatible);
    assert_eq!(kinds(&same.changes), vec![K::ReferenceUnresolvedUnchanged]);
    let moved = check(
        Mode::Backward,
        &[&remote("https://example.com/a.json")],
        &remote("https://example.com/b.json"),
    );
    assert!(!moved.compatible);
    assert_eq!(moved.breaking[0].change.kind, K::ReferenceUnresolvedChanged);
}

#[test]
fn boolean_schemas() {
    assert!(check(Mode::Backward, &[&json!(false)], &json!({"type": "string"})).compatible);
    assert!(check(Mode::Backward, &[&json!({"type": "string"})], &json!(true)).compatible);
    assert!(!check(Mode::Backward, &[&json!(true)], &json!(false)).compatible);
}

#[test]
fn formats_patterns_and_bounds() {
    let plain = json!({"type": "string"});
    let email = json!({"type": "string", "format": "email"});
    assert_eq!(kinds(&diff(&plain, &email)), vec![K::FormatAdded]);
    assert!(!check(Mode::Backward, &[&plain], &email).compatible);
    assert!(check(Mode::Backward, &[&email], &plain).compatible);
    let bounded = json!({"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5});
    let finer = json!({"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.25});
    assert_eq!(kinds(&diff(&bounded, &finer)), vec![K::MultipleOfReduced]);
}

#[test]
fn tuples_in_both_drafts_and_dependencies() {
    let draft7 = json!({"type": "array", "items": [{"type": "string"}], "additionalItems": false});
    let modern = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false});
    let changes = diff(&draft7, &modern);
    assert_eq!(kinds(&changes), vec![K::ItemAddedToClosedContentModel]);
    assert_eq!(changes[0].pointer, "#/items/1");
    let a = json!({"dependentRequired": {"card": ["billing"]}});
    let b = json!({"dependentRequired": {"card": ["billing", "cvv"]}});
    assert_eq!(kinds(&diff(&a, &b)), vec![K::DependencyArrayExtended]);
}

#[test]
fn names_round_trip() {
    for mode in Mode::ALL {
        assert_eq!(mode.to_string().parse::<Mode>(), Ok(mode));
        assert_eq!(
            serde_json::to_value(mode).expect("mode serialises"),
            json!(mode.as_str())
        );
    }
    assert_eq!(
        serde_json::to_value(K::EnumArrayExtended).expect("kind serialises"),
        json!("ENUM_ARRAY_EXTENDED")
    );
    assert_eq!("TYPE_CHANGED".parse::<K>(), Ok(K::TypeChanged));
}

#[test]
fn pattern_properties_make_a_partially_open_model() {
    let v1 = json!({"type": "object", "additionalProperties": false,
        "patternProperties": {"^x_[a-z]+$": {"type": "string"}}});
    let mut covered = v1.clone();
    covered["properties"] = json!({"x_source": {"type": "string"}});
    let full = check(Mode::Full, &[&v1], &covered);
    assert!(full.compatible, "{:?}", full.breaking);
    assert!(kinds(&full.changes).contains(&K::PropertyAddedIsCoveredByPartiallyOpenContentModel));
    let mut uncovered = v1.clone();
    uncovered["properties"] = json!({"source": {"type": "string"}});
    assert!(check(Mode::Backward, &[&v1], &uncovered).compatible);
    assert!(!check(Mode::Forward, &[&v1], &uncovered).compatible);
}

#[test]
fn malformed_schemas_do_not_panic() {
    let odd = [
        json!(42),
        json!("string"),
        json!([1, 2]),
        json!(null),
        json!({"type": 7, "properties": [], "items": 5, "enum": "x", "required": "a"}),
        json!({"$ref": "#/nowhere"}),
        json!({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}),
        json!({"allOf": [{"$ref": "#"}], "not": {"$ref": "#"}}),
        json!({"$ref": "#/%zz"}),
        json!({"type": "number", "multipleOf": 0, "exclusiveMaximum": true, "maximum": 3}),
    ];
    for a in &odd {
        for b in &odd {
            for mode in Mode::ALL {
                let _ = check(mode, &[a], b);
            }
        }
    }
}

#[test]
fn deep_and_combinatorial_schemas_stay_bounded() {
    // 120 nested objects differing at the leaf: found, within the default test stack.
    let nest = |leaf: Value| {
        (0..120).fold(
            leaf,
            |inner, _| json!({"type": "object", "properties": {"a": inner}}),
        )
    };
    let changes = diff(
        &nest(json!({"type": "string"})),
        &nest(json!({"type": "integer"})),
    );
    assert!(!changes.is_empty() && changes.iter().all(|c| !c.compatible));
    // Definitions each used twice by the previous one: 2^40 paths. The budget stops the walk
    // and the result is incompatible rather than silently compatible.
    let mut defs = serde_json::Map::new();
    for i in 0..40 {
        let next = format!("#/definitions/d{}", i + 1);
        defs.insert(
            format!("d{i}"),
            json!({"allOf": [{"$ref": next}, {"$ref": next, "title": "again"}]}),
        );
    }
    defs.insert("d40".to_string(), json!({"type": "string"}));
    let dag = json!({"$ref": "#/definitions/d0", "definitions": defs});
    let verdict = check(Mode::Backward, &[&dag], &dag);
    assert!(!verdict.compatible);
    assert!(kinds(&verdict.changes).contains(&K::ComparisonLimitReached));
}
