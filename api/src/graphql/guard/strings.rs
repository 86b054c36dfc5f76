//! Length limits on every `String` and `ID` argument — nested input-object fields and list
//! items included, literal or passed as a variable — checked against the schema's own types, so
//! a new argument is covered the day it is added. A refusal names the argument path
//! (`search`, `input.description`, `eventTypes[3]`) and the rule; JSON scalars are left to the
//! services that parse them (and to the request body limit).

use super::refuse;
use async_graphql::parser::types::{
    ExecutableDocument, OperationType, Selection, SelectionSet, VariableDefinition,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Name, Positioned, ServerError, Value, Variables};

/// Arguments that carry more (or must carry less) than `graphql.max_string_length` characters:
/// a search pattern is short (the database refuses long LIKE patterns), a description and
/// migration notes are prose (the catalog and deprecation rules apply the same bounds), proposed
/// policy files are files.
const BY_NAME: &[(&str, usize)] = &[
    ("search", crate::catalog::MAX_SEARCH_CHARS),
    ("description", 20_000),
    ("notes", 10_000),
    // A proposed policy (`policyImpact`) is whole files; larger ones go through `policy diff`.
    ("policyCsv", 20_000),
    ("modelConf", 20_000),
];

/// The longest value an argument or input field called `name` may have, in characters.
pub fn max_length(name: &str, default: usize) -> usize {
    BY_NAME
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(default, |(_, max)| *max)
}

struct Walk<'a> {
    registry: &'a Registry,
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    defaults: &'a [Positioned<VariableDefinition>],
    default_max: usize,
    expanding: Vec<&'a str>,
}

/// Refuses the first over-long string argument in any operation of `doc`.
pub fn check(
    registry: &Registry,
    doc: &ExecutableDocument,
    variables: &Variables,
    default_max: usize,
) -> Result<(), ServerError> {
    for (_, op) in doc.operations.iter() {
        let root = match op.node.ty {
            OperationType::Query => Some(registry.query_type.as_str()),
            OperationType::Mutation => registry.mutation_type.as_deref(),
            OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        let Some(root) = root else { continue };
        let mut walk = Walk {
            registry,
            doc,
            variables,
            defaults: &op.node.variable_definitions,
            default_max,
            expanding: Vec::new(),
        };
        walk.selection_set(root, &op.node.selection_set.node)?;
    }
    Ok(())
}

impl<'a> Walk<'a> {
    fn selection_set(&mut self, on: &str, set: &'a SelectionSet) -> Result<(), ServerError> {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    let meta = self
                        .registry
                        .types
                        .get(on)
                        .and_then(|t| t.field_by_name(name));
                    for (arg, value) in &field.arguments {
                        let arg = arg.node.as_str();
                        let ty = match meta.and_then(|m| m.args.get(arg)) {
                            Some(input) => input.ty.as_str(),
                            // `__type(name:)` is not in the registry's fields.
                            None if name == "__type" => "String",
                            None => continue,
                        };
                        let value = value
                            .node
                            .clone()
                            .into_const_with(|name| Ok::<_, ()>(self.variable(&name)))
                            .unwrap_or_default();
                        self.value(ty, &value, arg, arg)?;
                    }
                    if let Some(meta) = meta {
                        let inner = MetaTypeName::concrete_typename(&meta.ty);
                        self.selection_set(inner, &field.selection_set.node)?;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    let on = fragment
                        .type_condition
                        .as_ref()
                        .map_or(on, |c| c.node.on.node.as_str());
                    self.selection_set(on, &fragment.selection_set.node)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let Some(fragment) = self.doc.fragments.get(name) else {
                        continue;
                    };
                    if self.expanding.contains(&name) {
                        continue;
                    }
                    self.expanding.push(name);
                    let on = fragment.node.type_condition.node.on.node.as_str();
                    self.selection_set(on, &fragment.node.selection_set.node)?;
                    self.expanding.pop();
                }
            }
        }
        Ok(())
    }

    /// A variable's value, or its default when the request did not give it.
    fn variable(&self, name: &Name) -> Value {
        let default = || {
            self.defaults
                .iter()
                .find(|d| d.node.name.node == *name)
                .and_then(|d| d.node.default_value.as_ref())
                .map(|v| v.node.clone())
        };
        self.variables
            .get(name)
            .cloned()
            .or_else(default)
            .unwrap_or_default()
    }

    /// Checks `value` of GraphQL type `ty`; `path` names it, `name` picks its limit.
    fn value(&self, ty: &str, value: &Value, path: &str, name: &str) -> Result<(), ServerError> {
        use Value as V;
        match MetaTypeName::create(ty) {
            MetaTypeName::NonNull(inner) => self.value(inner, value, path, name),
            MetaTypeName::List(inner) => match value {
                V::List(items) => items.iter().enumerate().try_for_each(|(i, item)| {
                    self.value(inner, item, &format!("{path}[{i}]"), name)
                }),
                single => self.value(inner, single, path, name),
            },
            MetaTypeName::Named("String" | "ID") => match value {
                V::String(s) => {
                    let max = max_length(name, self.default_max);
                    let len = s.chars().count();
                    if len > max {
                        return Err(refuse(
                            Some(path),
                            format!("must be at most {max} characters, got {len}"),
                        ));
                    }
                    Ok(())
                }
                _ => Ok(()),
            },
            MetaTypeName::Named(named) => match (self.registry.types.get(named), value) {
                (Some(MetaType::InputObject { input_fields, .. }), V::Object(fields)) => {
                    for (key, item) in fields {
                        if let Some(field) = input_fields.get(key.as_str()) {
                            self.value(&field.ty, item, &format!("{path}.{key}"), key)?;
                        }
                    }
                    Ok(())
                }
                _ => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_is_short_prose_is_long_everything_else_has_the_default() {
        assert_eq!(max_length("search", 1000), 200);
        assert_eq!(max_length("description", 1000), 20_000);
        assert_eq!(max_length("key", 1000), 1000);
    }
}
