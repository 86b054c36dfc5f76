//! Catalog documents (connectors, contracts, templates as YAML or JSON): `parse_doc` then
//! `validate` — JSON Schemas, CEL expressions, step configs — must accept or name the field
//! that is wrong, never panic.
#![no_main]

use api::catalog::definitions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(doc) = definitions::parse_doc(text, "fuzz") {
        let _ = definitions::validate(&doc);
    }
});
