//! The shape of a query: how deep it nests on the data graph, and how the introspection
//! subtrees (`__schema`, `__type`) nest, with fragments expanded.
//!
//! Introspection does not count towards `graphql.max_depth`: the standard introspection query
//! wraps type references in up to nine `ofType` levels (graphql-js 17, graphql-core 3.3), which
//! says nothing about the cost of the data a query reads. What makes introspection expensive is
//! nesting *lists* (`types → fields → type → fields → …` multiplies at every list), so an
//! introspection subtree may nest at most [`INTROSPECTION_MAX_LISTS`] lists (the standard query
//! nests three: `types → fields → args`), be at most [`INTROSPECTION_MAX_DEPTH`] fields deep, and
//! a document may ask for introspection at most [`INTROSPECTION_MAX_ROOTS`] times (so aliases
//! cannot repeat the whole schema a thousand times). Expanding fragments is bounded too.

use super::refuse;
use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Lists an introspection subtree may nest (`types → fields → args` is three).
pub const INTROSPECTION_MAX_LISTS: usize = 3;
/// Fields an introspection subtree may nest, `__schema` included (the nine-level `ofType`
/// query is fifteen deep).
pub const INTROSPECTION_MAX_DEPTH: usize = 20;
/// `__schema`/`__type` selections per document, aliases and fragments included.
pub const INTROSPECTION_MAX_ROOTS: usize = 4;
/// Fields visited while expanding fragments; beyond this a document is refused as too complex
/// (fragments spreading fragments twice each grow exponentially).
const MAX_VISITS: usize = 50_000;

/// Introspection fields whose value is a list of objects.
const LIST_FIELDS: &[&str] = &[
    "types",
    "fields",
    "args",
    "inputFields",
    "interfaces",
    "possibleTypes",
    "enumValues",
    "directives",
];

/// Where the walk is: depth on the data graph, or depth and nested lists inside introspection.
#[derive(Clone, Copy)]
enum Level {
    Data(usize),
    Introspection { depth: usize, lists: usize },
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    max_depth: usize,
    /// Fragments being expanded (a cycle is left to validation, which names it).
    expanding: Vec<&'a str>,
    visits: usize,
    roots: usize,
}

/// Refuses a document whose shape exceeds the limits (every operation in it is checked).
pub fn check(doc: &ExecutableDocument, max_depth: usize) -> Result<(), ServerError> {
    let mut walk = Walk {
        doc,
        max_depth,
        expanding: Vec::new(),
        visits: 0,
        roots: 0,
    };
    for (_, op) in doc.operations.iter() {
        walk.selection_set(&op.node.selection_set.node, Level::Data(0))?;
    }
    Ok(())
}

impl<'a> Walk<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet, level: Level) -> Result<(), ServerError> {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let inner =
                        self.enter(field.name.node.as_str(), &field.selection_set.node, level)?;
                    self.selection_set(&field.selection_set.node, inner)?;
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node, level)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let Some(fragment) = self.doc.fragments.get(name) else {
                        continue; // unknown fragment: validation names it
                    };
                    if self.expanding.contains(&name) {
                        continue; // a cycle: validation names it
                    }
                    self.expanding.push(name);
                    self.selection_set(&fragment.node.selection_set.node, level)?;
                    self.expanding.pop();
                }
            }
        }
        Ok(())
    }

    /// The level inside field `name`, or the refusal if entering it breaks a limit.
    fn enter(
        &mut self,
        name: &str,
        selection: &SelectionSet,
        level: Level,
    ) -> Result<Level, ServerError> {
        self.visits += 1;
        if self.visits > MAX_VISITS {
            return Err(refuse(
                None,
                format!(
                    "Query is too complex: more than {MAX_VISITS} fields once fragments are expanded"
                ),
            ));
        }
        let is_list = LIST_FIELDS.contains(&name) && !selection.items.is_empty();
        match level {
            Level::Data(_) if name == "__schema" || name == "__type" => {
                self.roots += 1;
                if self.roots > INTROSPECTION_MAX_ROOTS {
                    return Err(refuse(
                        None,
                        format!(
                            "Query asks for introspection (`__schema`/`__type`) more than \
                             {INTROSPECTION_MAX_ROOTS} times"
                        ),
                    ));
                }
                Ok(Level::Introspection { depth: 1, lists: 0 })
            }
            Level::Data(depth) if depth + 1 > self.max_depth => Err(refuse(
                None,
                format!(
                    "Query is nested too deep: more than {} levels (introspection under \
                     `__schema`/`__type` is bounded separately)",
                    self.max_depth
                ),
            )),
            Level::Data(depth) => Ok(Level::Data(depth + 1)),
            Level::Introspection { depth, lists } => {
                introspection_level(name, depth + 1, lists + usize::from(is_list))
            }
        }
    }
}

/// The level inside an introspection field, or the refusal when it nests too many lists or
/// too deep.
fn introspection_level(name: &str, depth: usize, lists: usize) -> Result<Level, ServerError> {
    if lists > INTROSPECTION_MAX_LISTS {
        return Err(refuse(
            None,
            format!(
                "Query is nested too deep: an introspection selection nests more than \
                 {INTROSPECTION_MAX_LISTS} lists (`{name}` inside e.g. types → fields → args)"
            ),
        ));
    }
    if depth > INTROSPECTION_MAX_DEPTH {
        return Err(refuse(
            None,
            format!(
                "Query is nested too deep: an introspection selection is more than \
                 {INTROSPECTION_MAX_DEPTH} levels deep"
            ),
        ));
    }
    Ok(Level::Introspection { depth, lists })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> Result<(), String> {
        let doc = async_graphql::parser::parse_query(query).map_err(|e| e.to_string())?;
        check(&doc, 12).map_err(|e| e.message)
    }

    fn of_type(levels: usize) -> String {
        let mut inner = "name kind".to_string();
        for _ in 0..levels {
            inner = format!("name kind ofType {{ {inner} }}");
        }
        inner
    }

    #[test]
    fn the_nine_level_standard_query_fits() {
        let q = format!(
            "query {{ __schema {{ types {{ ...T }} directives {{ args {{ type {{ {t} }} }} }} }} }}
             fragment T on __Type {{ fields {{ args {{ type {{ {t} }} }} type {{ {t} }} }} }}",
            t = of_type(9)
        );
        assert_eq!(shape(&q), Ok(()));
    }

    #[test]
    fn a_fourth_nested_introspection_list_is_refused() {
        let q = "{ __schema { types { fields { type { fields { name } } } } } }";
        assert_eq!(shape(q), Ok(()));
        let q =
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
        assert!(shape(q).unwrap_err().contains("lists"));
    }

    #[test]
    fn deep_of_type_chains_and_many_introspection_roots_are_refused() {
        let q = format!("{{ __type(name: \"Query\") {{ {} }} }}", of_type(30));
        assert!(shape(&q).unwrap_err().contains("levels deep"));
        let many: String = (0..5)
            .map(|i| format!("a{i}: __schema {{ description }} "))
            .collect();
        assert!(
            shape(&format!("{{ {many} }}"))
                .unwrap_err()
                .contains("introspection")
        );
    }

    #[test]
    fn data_depth_still_counts_and_fragments_are_expanded() {
        let mut inner = "key".to_string();
        for _ in 0..12 {
            inner = format!("a {{ {inner} }}");
        }
        assert!(
            shape(&format!("{{ {inner} }}"))
                .unwrap_err()
                .contains("nested too deep")
        );
        let q = "{ ...F } fragment F on Query { a { b { c { d { e { f { g { h { i { j { k { l { m } } } } } } } } } } } } }";
        assert!(shape(q).unwrap_err().contains("nested too deep"));
    }

    #[test]
    fn exponential_fragment_expansion_is_bounded() {
        let mut q = String::from("{ ...F0 } ");
        for i in 0..30 {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{n} ...F{n} }} ",
                n = i + 1
            ));
        }
        q.push_str("fragment F30 on Query { x }");
        assert!(shape(&q).unwrap_err().contains("too complex"));
    }

    #[test]
    fn fragment_cycles_do_not_loop() {
        let q = "{ ...A } fragment A on Query { me { ...B } } fragment B on Query { ...A }";
        assert_eq!(shape(q), Ok(()));
    }
}
