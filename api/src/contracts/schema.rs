//! Compiling contract schemas into validators, safely: nothing is ever fetched (no remote or
//! file `$ref`, only references inside the schema), and `pattern`s run on the linear-time
//! `regex` engine with size limits, so a hostile schema cannot make validation backtrack.

use serde_json::Value;

/// Compiles `schema` for validating events (the same settings workers' `emit` steps use).
pub use worker::schema::compile;

/// Nesting depth of a JSON value (a scalar is 0, `{}` is 1).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remote_references_are_never_fetched() {
        let schema = json!({"$ref": "http://169.254.169.254/latest/meta-data"});
        assert!(compile(&schema).is_err());
        let schema = json!({"$ref": "file:///etc/passwd"});
        assert!(compile(&schema).is_err());
    }

    #[test]
    fn local_references_work() {
        let schema = json!({
            "$defs": {"email": {"type": "string", "format": "email"}},
            "type": "object",
            "properties": {"email": {"$ref": "#/$defs/email"}}
        });
        let v = compile(&schema).expect("compiles");
        assert!(v.is_valid(&json!({"email": "a@example.com"})));
        assert!(!v.is_valid(&json!({"email": "not an email"})));
    }

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({"a": {"b": [1]}})), 3);
    }
}
