//! Sentences for changes: what evolved from the old schema to the new one, and — when the
//! change breaks compatibility — who rejects what. A change found by `diff(new, old)` (the
//! FORWARD check) is phrased through its mirror kind, so it still reads as old → new from the
//! publisher's point of view.

use serde_json::Value;

use super::diff::Raw;
use super::kinds::{ChangeKind as K, mirror};

/// Phrases `raw`; `swapped` when it came from `diff(proposed, existing)`.
pub(crate) fn render(raw: &Raw, swapped: bool) -> String {
    let kind = if swapped {
        mirror(raw.kind).unwrap_or(raw.kind)
    } else {
        raw.kind
    };
    let (old, new) = if swapped {
        (&raw.upd, &raw.orig)
    } else {
        (&raw.orig, &raw.upd)
    };
    let own = own_segments(kind).min(raw.path.len());
    let container = &raw.path[..raw.path.len() - own];
    let name = match own {
        2 => raw
            .path
            .last()
            .map_or_else(String::new, |n| format!("`{n}`")),
        _ => String::new(),
    };
    let keyword = raw.path.last().map_or("", String::as_str);
    let text = Text {
        subject: subject(container),
        name,
        keyword,
        old,
        new,
        swapped,
    };
    let evolution = evolution(kind, &text);
    if raw.compatible {
        return evolution;
    }
    format!("{evolution}: {}", consequence(kind, &text))
}

struct Text<'r> {
    subject: String,
    /// The property, position or dependency the change is about, when it names one.
    name: String,
    keyword: &'r str,
    old: &'r Option<Value>,
    new: &'r Option<Value>,
    swapped: bool,
}

/// How many trailing pointer segments belong to the change itself rather than to the schema it
/// is about: `properties/<name>`, `required/<name>`, `dependencies/<name>`, `items/<n>` (2);
/// `additionalProperties`, `additionalItems`, `not` (1). Keywords such as `maxLength` are
/// skipped by [`subject`] anyway.
fn own_segments(kind: K) -> usize {
    let code = kind.code();
    if code.contains("CONTENT_MODEL")
        || code.starts_with("REQUIRED_ATTRIBUTE")
        || code.starts_with("DEPENDENCY_")
    {
        2
    } else if code.starts_with("ADDITIONAL_") || code.starts_with("NOT_TYPE") {
        1
    } else {
        0
    }
}

/// A readable field path: `source_category`, `address.city`, `tags[]`, `tags[2]`; `the
/// document` for the root.
fn subject(path: &[String]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(segment) = path.get(i) {
        let next = path.get(i + 1).map(String::as_str);
        let index = next.filter(|n| n.parse::<usize>().is_ok());
        i += 1;
        match (segment.as_str(), next, index) {
            ("properties" | "patternProperties" | "dependencies", Some(name), _) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
                i += 1;
            }
            ("items", _, Some(n)) => {
                out.push_str(&format!("[{n}]"));
                i += 1;
            }
            ("allOf" | "anyOf" | "oneOf", _, Some(n)) => {
                out.push_str(&format!("<{segment} #{n}>"));
                i += 1;
            }
            ("items" | "additionalItems" | "contains", _, _) => out.push_str("[]"),
            ("additionalProperties", _, _) => out.push_str(".*"),
            ("not", _, _) => out.push_str("<not>"),
            _ => {}
        }
    }
    match out.as_str() {
        "" => "the document".to_string(),
        s if s.starts_with(['[', '.', '<']) => format!("`${s}`"),
        s => format!("`{s}`"),
    }
}

/// A value as written in a sentence: names bare, other JSON as JSON.
fn plain(v: &Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        other => show(other),
    }
}

fn show(v: &Option<Value>) -> String {
    v.as_ref()
        .map_or_else(|| "none".to_string(), Value::to_string)
}

/// Values in `a` and not in `b` (both JSON arrays).
fn minus(a: &Option<Value>, b: &Option<Value>) -> Value {
    let list = |v: &Option<Value>| {
        v.as_ref()
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let other = list(b);
    Value::Array(list(a).into_iter().filter(|x| !other.contains(x)).collect())
}

fn evolution(kind: K, t: &Text<'_>) -> String {
    let (s, kw) = (&t.subject, t.keyword);
    let (old, new) = (show(t.old), show(t.new));
    let code = kind.code();
    if is_keyword_bound(code) {
        return bound_phrase(code, s, kw, &old, &new);
    }
    match kind {
        K::IdChanged | K::TitleChanged | K::DescriptionChanged | K::DefaultChanged => {
            let what = code.trim_end_matches("_CHANGED").to_lowercase();
            format!("{what} of {s} changed from {old} to {new}")
        }
        K::SchemaAdded => format!("{s} is now constrained by a schema (it was unconstrained)"),
        K::SchemaRemoved => format!("{s} is no longer constrained by a schema"),
        K::TypeChanged | K::TypeExtended | K::TypeNarrowed => {
            let verb = match kind {
                K::TypeExtended => "widened",
                K::TypeNarrowed => "narrowed",
                _ => "changed",
            };
            format!(
                "type of {s} {verb} from {} to {}",
                plain(t.old),
                plain(t.new)
            )
        }
        K::UniqueItemsAdded => format!("{s} now requires unique items"),
        K::UniqueItemsRemoved => format!("{s} no longer requires unique items"),
        K::EnumArrayExtended | K::EnumArrayNarrowed | K::EnumArrayChanged => enum_phrase(kind, t),
        _ => object_phrase(kind, t),
    }
}

/// `required`, `additionalProperties` / `additionalItems` and dependencies.
fn object_phrase(kind: K, t: &Text<'_>) -> String {
    let (s, n) = (&t.subject, &t.name);
    let (old, new) = (show(t.old), show(t.new));
    match kind {
        K::RequiredAttributeAdded => format!("{n} of {s} became required"),
        K::RequiredAttributeWithDefaultAdded => {
            format!("{n} of {s} became required (it has a default)")
        }
        K::RequiredAttributeRemoved => format!("{n} of {s} is no longer required"),
        K::AdditionalPropertiesAdded => format!("{s} now accepts undeclared properties"),
        K::AdditionalPropertiesRemoved => format!("{s} no longer accepts undeclared properties"),
        K::AdditionalPropertiesExtended => {
            format!("undeclared properties of {s} no longer have to match a schema")
        }
        K::AdditionalPropertiesNarrowed => {
            format!("undeclared properties of {s} must now match a schema")
        }
        K::AdditionalItemsAdded => format!("{s} now accepts items beyond its declared positions"),
        K::AdditionalItemsRemoved => {
            format!("{s} no longer accepts items beyond its declared positions")
        }
        K::AdditionalItemsExtended => {
            format!("items of {s} beyond its declared positions no longer have to match a schema")
        }
        K::AdditionalItemsNarrowed => {
            format!("items of {s} beyond its declared positions must now match a schema")
        }
        K::DependencyArrayAdded => format!("in {s}, {n} now requires {new}"),
        K::DependencyArrayRemoved => format!("in {s}, {n} no longer requires {old}"),
        K::DependencyArrayExtended | K::DependencyArrayNarrowed | K::DependencyArrayChanged => {
            format!("in {s}, what {n} requires changed from {old} to {new}")
        }
        K::DependencySchemaAdded => format!("in {s}, a schema now applies when {n} is present"),
        K::DependencySchemaRemoved => {
            format!("in {s}, the schema that applied when {n} is present was removed")
        }
        _ => structure_phrase(kind, t),
    }
}

/// Families whose pointer ends with the keyword itself (`…/maxLength`).
fn is_keyword_bound(code: &str) -> bool {
    const FAMILIES: &[&str] = &[
        "MAX_LENGTH_",
        "MIN_LENGTH_",
        "PATTERN_",
        "FORMAT_",
        "MAXIMUM_",
        "MINIMUM_",
        "EXCLUSIVE_",
        "MULTIPLE_OF_",
        "MAX_PROPERTIES_",
        "MIN_PROPERTIES_",
        "MAX_ITEMS_",
        "MIN_ITEMS_",
        "MIN_CONTAINS_",
        "MAX_CONTAINS_",
    ];
    FAMILIES.iter().any(|f| code.starts_with(f))
}

fn bound_phrase(code: &str, s: &str, kw: &str, old: &str, new: &str) -> String {
    if code.ends_with("_ADDED") {
        format!("{s} gained `{kw}` {new}")
    } else if code.ends_with("_REMOVED") {
        format!("{s} no longer has `{kw}` (was {old})")
    } else {
        let verb = code.rsplit('_').next().unwrap_or("changed").to_lowercase();
        format!("`{kw}` of {s} {verb} from {old} to {new}")
    }
}

fn enum_phrase(kind: K, t: &Text<'_>) -> String {
    let s = &t.subject;
    let (gained, lost) = (minus(t.new, t.old), minus(t.old, t.new));
    if t.keyword == "const" {
        let single = |v: &Option<Value>| show(&v.as_ref().and_then(|v| v.get(0)).cloned());
        return format!(
            "{s} must now equal {} instead of {}",
            single(t.new),
            single(t.old)
        );
    }
    match kind {
        K::EnumArrayExtended => format!("enum of {s} gained values {gained}"),
        K::EnumArrayNarrowed => format!("enum of {s} lost values {lost}"),
        _ => format!("enum of {s} changed: gained {gained}, lost {lost}"),
    }
}

fn structure_phrase(kind: K, t: &Text<'_>) -> String {
    let (s, n) = (&t.subject, &t.name);
    let (old, new) = (show(t.old), show(t.new));
    if kind.code().contains("CONTENT_MODEL") {
        return content_model_phrase(kind.code(), s, n, t.swapped);
    }
    match kind {
        K::CombinedTypeExtended | K::CombinedTypeChanged => {
            format!("{s} changed from {} to {}", plain(t.old), plain(t.new))
        }
        K::ProductTypeExtended => format!("{s} gained constraints (more `allOf` parts)"),
        K::ProductTypeNarrowed => format!("{s} dropped constraints (fewer `allOf` parts)"),
        K::SumTypeExtended => format!("{s} accepts more alternatives"),
        K::SumTypeNarrowed => format!("{s} accepts fewer alternatives"),
        K::CombinedTypeSubschemasChanged => format!(
            "the alternatives or parts of {s} changed and no longer pair up with the old ones"
        ),
        K::NotTypeExtended => format!("the `not` schema of {s} now excludes more values"),
        K::NotTypeNarrowed => format!("the `not` schema of {s} now excludes fewer values"),
        K::ConditionalChanged => format!("the `if`/`then`/`else` rules of {s} changed"),
        K::ReferenceUnresolvedUnchanged => format!(
            "{s} refers to {old}, which is not resolved (schemas are never fetched); it is identical in both versions and assumed unchanged"
        ),
        K::ComparisonLimitReached => "the schemas are too deep or too interconnected to compare \
            within the engine's limits; compatibility cannot be proven"
            .to_string(),
        K::ReferenceUnresolvedChanged => format!(
            "{s} uses a reference that is not resolved (schemas are never fetched) and changed from {old} to {new}; compatibility cannot be proven"
        ),
        _ => format!("{} at {s}", kind.code()),
    }
}

/// Properties and tuple positions added or removed, read off the code's own structure, e.g.
/// `OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL`; `mirrored` for a FORWARD change.
fn content_model_phrase(code: &str, s: &str, n: &str, mirrored: bool) -> String {
    let (member, others) = if code.contains("PROPERTY") {
        ("property", "undeclared properties")
    } else {
        ("position", "further items")
    };
    // A mirrored kind only approximates the other side's required-ness: leave it unsaid.
    let qualifier = if mirrored {
        ""
    } else if code.starts_with("OPTIONAL_") {
        "optional "
    } else if code.contains("WITH_DEFAULT") {
        "required (with a default) "
    } else if code.starts_with("REQUIRED_") {
        "required "
    } else if code.contains("WITH_EMPTY_SCHEMA") {
        "unconstrained "
    } else if code.contains("WITH_FALSE") {
        "forbidden "
    } else {
        ""
    };
    let added = code.contains("_ADDED");
    let tail = match (added, code) {
        (true, c) if c.contains("IS_COVERED") => {
            format!(", within what its schema for {others} allowed")
        }
        (false, c) if c.contains("IS_COVERED") => {
            format!(", whose schema for {others} still accepts it")
        }
        (true, c) if c.contains("NOT_COVERED") => {
            format!(", beyond what its schema for {others} allowed")
        }
        (false, c) if c.contains("NOT_COVERED") => {
            format!(", whose schema for {others} does not accept all its values")
        }
        (true, c) if c.contains("_TO_OPEN") => format!(", which accepted any {others}"),
        (false, c) if c.contains("FROM_OPEN") => format!(", which still accepts any {others}"),
        (false, c) if c.contains("FROM_CLOSED") && !c.contains("WITH_FALSE") => {
            format!(", which does not accept {others}")
        }
        _ => String::new(),
    };
    let verb = if added {
        "was added to"
    } else {
        "was removed from"
    };
    format!("{qualifier}{member} {n} {verb} {s}{tail}")
}

fn consequence(kind: K, t: &Text<'_>) -> String {
    let n = &t.name;
    let listed = t.keyword == "enum";
    if t.swapped {
        return match kind {
            K::EnumArrayExtended | K::EnumArrayChanged if listed => {
                "readers of the old schema reject them".to_string()
            }
            K::OptionalPropertyAddedToUnopenContentModel
            | K::RequiredPropertyAddedToUnopenContentModel
            | K::RequiredPropertyWithDefaultAddedToUnopenContentModel => {
                format!(
                    "readers of the old schema do not accept undeclared properties and reject documents carrying {n}"
                )
            }
            _ => "readers of the old schema reject some documents written with the new schema"
                .to_string(),
        };
    }
    match kind {
        K::EnumArrayNarrowed | K::EnumArrayChanged if listed => {
            "readers using the new schema reject old documents that carry them".to_string()
        }
        K::RequiredAttributeAdded
        | K::RequiredPropertyAddedToUnopenContentModel
        | K::RequiredPropertyAddedToOpenContentModel => {
            format!(
                "documents written with the old schema may lack {n}, and readers using the new schema reject them"
            )
        }
        K::OptionalPropertyAddedToOpenContentModel
        | K::RequiredPropertyWithDefaultAddedToOpenContentModel => format!(
            "documents written with the old schema may already carry {n} with other values, and readers using the new schema would reject them"
        ),
        _ => "readers using the new schema reject some documents that the old schema accepted"
            .to_string(),
    }
}
