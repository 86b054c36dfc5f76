//! Ingestion bodies: `envelope::split` (JSON array, object or NDJSON) and `envelope::parse` of
//! each event must accept or reject with a reason, never panic. The first byte picks NDJSON.
#![no_main]

use api::ingest::envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((flag, body)) = data.split_first() else {
        return;
    };
    if let Ok(values) = envelope::split(body, flag & 1 == 1) {
        assert!(!values.is_empty(), "split never returns an empty batch");
        for value in values {
            let _ = envelope::parse(value);
        }
    }
});
