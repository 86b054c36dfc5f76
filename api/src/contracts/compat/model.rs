//! Typed view of a JSON Schema, shaped like the schema model Confluent's checker diffs: each
//! schema object becomes one typed facet (string, number, object, …), or an implicit `allOf` of
//! facets when several keyword families are present (e.g. `type` + `enum`). `$ref`s stay
//! unresolved leaves; `diff.rs` resolves them lazily so recursive schemas stay finite.
//! `load.rs` builds these values from JSON.

use serde_json::Value;

/// Which JSON Schema generation a document declares (`$schema`), for the few places where
/// Confluent's loaders read the two differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Draft-07 and earlier, and documents without `$schema`.
    Legacy,
    /// Draft 2019-09 and 2020-12.
    Modern,
}

impl Dialect {
    pub(crate) fn of(root: &Value) -> Dialect {
        match root.get("$schema").and_then(Value::as_str) {
            Some(s) if s.contains("2020-12") || s.contains("2019-09") => Dialect::Modern,
            _ => Dialect::Legacy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Criterion {
    All,
    Any,
    One,
}

impl Criterion {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            Criterion::All => "allOf",
            Criterion::Any => "anyOf",
            Criterion::One => "oneOf",
        }
    }
}

/// Annotations compared at every pair of schemas of the same shape.
#[derive(Debug, Default)]
pub(crate) struct Annotations<'a> {
    pub id: Option<&'a Value>,
    pub title: Option<&'a Value>,
    pub description: Option<&'a Value>,
    pub default: Option<&'a Value>,
}

#[derive(Debug)]
pub(crate) struct Node<'a> {
    pub ann: Annotations<'a>,
    pub body: Body<'a>,
    /// The JSON this node was read from.
    pub src: &'a Value,
    /// 0 for the schema itself; `n` for the n-th part of an implicit `allOf` or `type` union
    /// read from the same JSON. With `src`, a stable identity for the recursion guard.
    pub part: u8,
}

impl<'a> Node<'a> {
    /// A part of an implicit combination read from `src`.
    pub(crate) fn part(src: &'a Value, part: u8, body: Body<'a>) -> Self {
        Node {
            ann: Annotations::default(),
            body,
            src,
            part,
        }
    }

    /// Where this node comes from: the address of its JSON and its part number.
    pub(crate) fn identity(&self) -> (usize, u8) {
        (self.src as *const Value as usize, self.part)
    }
}

#[derive(Debug)]
pub(crate) enum Body<'a> {
    /// `true`, `{}` or annotations only: accepts anything.
    Empty,
    /// `false`: accepts nothing.
    False,
    Ref(&'a str),
    Facet(Facet<'a>),
    Combined(Combined<'a>),
}

#[derive(Debug)]
pub(crate) struct Combined<'a> {
    pub criterion: Criterion,
    pub members: Vec<Node<'a>>,
    /// Not written as `allOf`/`anyOf`/`oneOf` in the document (keyword families of one object,
    /// or a `type` array): its members add no segment to JSON pointers.
    pub synthetic: bool,
}

#[derive(Debug)]
pub(crate) enum Facet<'a> {
    Str(StrFacet<'a>),
    Num(NumFacet),
    Bool,
    Null,
    Obj(ObjFacet<'a>),
    Arr(ArrFacet<'a>),
    Enum(EnumFacet<'a>),
    Not(Box<Node<'a>>),
    /// `if`/`then`/`else`, compared as raw JSON.
    Cond(Vec<(&'a str, &'a Value)>),
}

#[derive(Debug, Default)]
pub(crate) struct StrFacet<'a> {
    pub min_length: Option<f64>,
    pub max_length: Option<f64>,
    pub pattern: Option<&'a str>,
    pub format: Option<&'a str>,
}

#[derive(Debug, Default)]
pub(crate) struct NumFacet {
    pub integer: bool,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub multiple_of: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct EnumFacet<'a> {
    pub values: Vec<&'a Value>,
    /// `enum` or `const` (the keyword JSON pointers name).
    pub keyword: &'static str,
}

/// `additionalProperties` / `additionalItems` (or their 2020-12 spellings).
#[derive(Debug)]
pub(crate) struct Openness<'a> {
    pub permits: bool,
    pub schema: Option<Box<Node<'a>>>,
}

#[derive(Debug)]
pub(crate) struct ObjFacet<'a> {
    pub properties: Vec<(&'a str, Node<'a>)>,
    pub required: Vec<&'a str>,
    pub additional: Openness<'a>,
    pub patterns: Vec<(&'a str, Node<'a>)>,
    pub dep_arrays: Vec<(&'a str, Vec<&'a str>)>,
    pub dep_schemas: Vec<(&'a str, Node<'a>)>,
    pub min_properties: Option<f64>,
    pub max_properties: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct ArrFacet<'a> {
    /// `items` as one schema for every element.
    pub all_items: Option<Box<Node<'a>>>,
    /// Tuple positions (`prefixItems`, or a draft-07 `items` array).
    pub prefix: Vec<Node<'a>>,
    /// What is allowed after the tuple positions.
    pub additional: Openness<'a>,
    pub contains: Option<Box<Node<'a>>>,
    pub min_items: Option<f64>,
    pub max_items: Option<f64>,
    pub unique: bool,
    pub min_contains: Option<f64>,
    pub max_contains: Option<f64>,
}

/// The shape ("schema class") that decides whether two schemas are compared member by member.
pub(crate) fn shape(node: &Node<'_>) -> &'static str {
    match &node.body {
        Body::Empty => "anything",
        Body::False => "false",
        Body::Ref(_) => "ref",
        Body::Combined(_) => "combined",
        Body::Facet(facet) => match facet {
            Facet::Str(_) => "string",
            Facet::Num(_) => "number",
            Facet::Bool => "boolean",
            Facet::Null => "null",
            Facet::Obj(_) => "object",
            Facet::Arr(_) => "array",
            Facet::Enum(_) => "enum",
            Facet::Not(_) => "not",
            Facet::Cond(_) => "conditional",
        },
    }
}

/// A short human description of a schema's type, for messages.
pub(crate) fn describe(node: &Node<'_>) -> Value {
    let text = match &node.body {
        Body::Empty => "any value".to_string(),
        Body::False => "no value".to_string(),
        Body::Ref(r) => format!("$ref {r}"),
        Body::Facet(Facet::Num(n)) if n.integer => "integer".to_string(),
        Body::Facet(Facet::Enum(e)) => format!(
            "{} {}",
            e.keyword,
            Value::from(e.values.iter().copied().cloned().collect::<Vec<_>>())
        ),
        Body::Facet(_) => shape(node).to_string(),
        Body::Combined(c) if c.synthetic && c.criterion == Criterion::Any => {
            let names: Vec<String> = c.members.iter().map(|m| value_text(&describe(m))).collect();
            names.join(" or ")
        }
        Body::Combined(c) if c.synthetic => {
            let names: Vec<String> = c.members.iter().map(|m| value_text(&describe(m))).collect();
            names.join(" and ")
        }
        Body::Combined(c) => format!("{} of {} schemas", c.criterion.keyword(), c.members.len()),
    };
    Value::String(text)
}

fn value_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}
