//! CEL expressions in templates (step conditions, computed fields, routing rules) are compiled
//! when a template version is published, so a typo is a publish-time error naming the step, not
//! a runtime surprise. Expressions may only read `event` and `params`, and call CEL's standard
//! functions plus the few Switchyard adds for mapping (`sha256`, `lower`, `upper`, `trim`).

use crate::error::{ApiError, ApiResult};

const VARIABLES: &[&str] = &["event", "params"];

const FUNCTIONS: &[&str] = &[
    // CEL standard library and macros
    "size",
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "bytes",
    "timestamp",
    "duration",
    "type",
    "dyn",
    "max",
    "min",
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    // Switchyard mapping helpers
    "sha256",
    "lower",
    "upper",
    "trim",
];

/// Compiles one expression found at `field`; checks the variables and functions it uses.
pub fn check(field: &str, source: &str) -> ApiResult<()> {
    let program = cel::Program::compile(source).map_err(|e| {
        ApiError::bad_input(
            field,
            format!("`{source}` is not a valid CEL expression: {e}"),
        )
    })?;
    let refs = program.references();
    let declared: Vec<&str> = comprehension_variables(source);
    for v in refs.variables() {
        if !VARIABLES.contains(&v) && !declared.contains(&v) {
            return Err(ApiError::bad_input(
                field,
                format!("`{v}` is not defined; expressions read `event` and `params`"),
            ));
        }
    }
    for f in refs.functions() {
        let operator = f.starts_with('_') || f.starts_with('@') || f.starts_with('!');
        if !operator && !FUNCTIONS.contains(&f) {
            return Err(ApiError::bad_input(
                field,
                format!("`{f}()` is not an available function"),
            ));
        }
    }
    Ok(())
}

/// Names bound by macros such as `list.all(x, …)`: the first argument of a comprehension.
fn comprehension_variables(source: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for m in ["all(", "exists(", "exists_one(", "map(", "filter("] {
        for (i, _) in source.match_indices(m) {
            let rest = &source[i + m.len()..];
            if let Some((name, _)) = rest.split_once(',') {
                let name = name.trim();
                if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// Input fields an expression reads (`event.x`, `event.x.y` → `x`).
pub use worker::runs::cel::event_refs;

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn valid_expressions_compile() {
        for src in [
            "event.source_category == 'partner'",
            "params.notify && has(event.account) && event.account.tier == 'enterprise'",
            "event.country in params.emea_countries",
            "sha256(lower(event.email))",
            "event.tags.all(t, size(t) > 0)",
        ] {
            assert!(
                check("when", src).is_ok(),
                "{src}: {:?}",
                check("when", src).err()
            );
        }
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let e = check("definition.steps[3].when", "event.x ==").expect_err("syntax");
        assert!(
            e.to_string().starts_with("definition.steps[3].when:"),
            "{e}"
        );
        let e = check("when", "secrets.token == 'x'").expect_err("unknown variable");
        assert!(e.to_string().contains("`secrets` is not defined"), "{e}");
        let e = check("when", "http_get('x')").expect_err("unknown function");
        assert!(e.to_string().contains("http_get"), "{e}");
    }
}
