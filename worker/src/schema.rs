//! Compiling contract schemas into validators, safely: nothing is ever fetched (no remote or
//! file `$ref`, only references inside the schema), and `pattern`s run on the linear-time
//! `regex` engine with size limits, so a hostile schema cannot make validation backtrack.
//! Ingestion (in `api`) and `emit` steps (workers) validate with the same settings.

use jsonschema::{PatternOptions, Validator};
use serde_json::Value;

/// Compiles `schema` for validating events.
pub fn compile(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .offline()
        .should_validate_formats(true)
        .with_pattern_options(
            PatternOptions::regex()
                .size_limit(1 << 20)
                .dfa_size_limit(1 << 20),
        )
        .build(schema)
        .map_err(|e| e.to_string())
}
