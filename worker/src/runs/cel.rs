//! Evaluating the CEL expressions of template steps at run time. They were compiled and
//! checked at publish time (`api::catalog::expressions`); here each is compiled once per process
//! and evaluated against `event` (the input plus what earlier steps added) and `params`.

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

fn programs() -> &'static Mutex<HashMap<String, Arc<cel::Program>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<cel::Program>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

fn program(source: &str) -> Result<Arc<cel::Program>, String> {
    let mut cache = programs()
        .lock()
        .map_err(|_| "expression cache poisoned".to_string())?;
    if let Some(p) = cache.get(source) {
        return Ok(Arc::clone(p));
    }
    let p = Arc::new(cel::Program::compile(source).map_err(|e| e.to_string())?);
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache.insert(source.to_string(), Arc::clone(&p));
    Ok(p)
}

/// Evaluates `source` with `event` and `params` bound; the result as JSON.
pub fn eval(source: &str, event: &Value, params: &Value) -> Result<Value, String> {
    let program = program(source)?;
    let mut ctx = cel::Context::default();
    ctx.add_variable("event", event)
        .map_err(|e| format!("event: {e}"))?;
    ctx.add_variable("params", params)
        .map_err(|e| format!("params: {e}"))?;
    // Already-declared names (a newer cel may ship them) keep the built-in.
    let _ = ctx.add_function("sha256", |s: Arc<String>| -> String {
        hex::encode(Sha256::digest(s.as_bytes()))
    });
    let _ = ctx.add_function("lower", |s: Arc<String>| -> String { s.to_lowercase() });
    let _ = ctx.add_function("upper", |s: Arc<String>| -> String { s.to_uppercase() });
    let _ = ctx.add_function("trim", |s: Arc<String>| -> String { s.trim().to_string() });
    let value = program
        .execute(&ctx)
        .map_err(|e| format!("`{source}`: {e}"))?;
    Ok(to_json(&value))
}

/// Input fields an expression reads (`event.x`, `event.x.y` → `x`).
pub fn event_refs(expr: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for (i, _) in expr.match_indices("event.") {
        if i > 0 && expr[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = expr[i + 6..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// The `event.…` paths an expression reads, in full (`event.contact.first_name` gives
/// `contact.first_name`): a field an `enrich` step added under its `as` name is known to the
/// flow decision by its own name (the leaf), an input field by its top-level name (the root).
pub fn event_paths(expr: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for (i, _) in expr.match_indices("event.") {
        if i > 0 && expr[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = expr[i + 6..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let name = name.trim_end_matches('.');
        if !name.is_empty() {
            out.insert(name.to_string());
        }
    }
    out
}

/// A condition: must evaluate to a boolean.
pub fn condition(source: &str, event: &Value, params: &Value) -> Result<bool, String> {
    match eval(source, event, params)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!("`{source}` gave {other}, not true or false")),
    }
}

fn to_json(value: &cel::Value) -> Value {
    use cel::Value as C;
    match value {
        C::Null => Value::Null,
        C::Bool(b) => Value::Bool(*b),
        C::Int(i) => Value::from(*i),
        C::UInt(u) => Value::from(*u),
        C::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        C::String(s) => Value::String(s.to_string()),
        C::Bytes(b) => Value::String(hex::encode(b.as_slice())),
        C::List(items) => Value::Array(items.iter().map(to_json).collect()),
        C::Map(map) => {
            let mut out = Map::new();
            for (k, v) in map.map.iter() {
                let key = match k {
                    cel::objects::Key::String(s) => s.to_string(),
                    cel::objects::Key::Int(i) => i.to_string(),
                    cel::objects::Key::Uint(u) => u.to_string(),
                    cel::objects::Key::Bool(b) => b.to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        C::Timestamp(t) => Value::String(t.to_rfc3339()),
        C::Duration(d) => Value::String(format!("{}s", d.num_seconds())),
        other => Value::String(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_template_expressions() {
        let event = json!({"email": "Ada@Example.com", "country": "DE", "source_category": "web"});
        let params = json!({"emea_countries": ["DE", "FR"], "min_score": 10});
        assert_eq!(
            condition(
                "event.source_category == 'web' && has(event.country) && event.country in params.emea_countries",
                &event,
                &params
            ),
            Ok(true)
        );
        assert_eq!(
            eval("sha256(lower(event.email))", &event, &params),
            Ok(json!(hex::encode(Sha256::digest(b"ada@example.com"))))
        );
        assert_eq!(
            eval("int(params.min_score)", &event, &params),
            Ok(json!(10))
        );
        assert!(condition("event.missing == 'x'", &event, &params).is_err());
    }
}
