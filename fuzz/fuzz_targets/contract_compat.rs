//! The contract compatibility engine on two arbitrary JSON documents: `diff` and `check` under
//! every mode must return (changes, a verdict), never panic or recurse without bound.
//! Input: `ORIGINAL \0 UPDATE` (JSON texts; anything else is skipped).
#![no_main]

use api::contracts::compat::{self, Mode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        return;
    };
    let (Ok(original), Ok(update)) = (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) else {
        return;
    };
    let changes = compat::diff(&original, &update);
    for mode in Mode::ALL {
        let verdict = compat::check(mode, &[&original], &update);
        if mode == Mode::None {
            assert!(verdict.compatible, "NONE accepts everything");
        }
        if mode == Mode::Backward {
            assert_eq!(
                verdict.changes.len(),
                changes.len(),
                "check reports diff's changes"
            );
        }
    }
    let _ = compat::check(Mode::FullTransitive, &[&update, &original], &original);
});
