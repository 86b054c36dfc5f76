//! Conformance with Confluent Schema Registry's own JSON Schema diff cases (kept in
//! `../shared/conformance/json-schema-compat/`): every BACKWARD verdict must agree; how many
//! change-code sets match Confluent's exactly is reported, not asserted.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{Mode, check, diff};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/json-schema-compat"
);
const FILES: [&str; 4] = [
    "diff-schema-examples.json",
    "diff-schema-examples-2020-12.json",
    "diff-combined-schema-examples.json",
    "diff-combined-schema-examples-2020-12.json",
];

#[derive(Deserialize)]
struct Case {
    description: String,
    original_schema: Value,
    update_schema: Value,
    changes: Vec<String>,
    compatible: bool,
}

#[derive(Default)]
struct Tally {
    total: usize,
    same_changes: usize,
    verdicts: Vec<String>,
    changes: Vec<String>,
}

impl Tally {
    fn run(&mut self, file: &str, index: usize, case: &Case) {
        self.total += 1;
        let label = format!("{file} #{index} \"{}\"", case.description);
        let verdict = check(
            Mode::Backward,
            &[&case.original_schema],
            &case.update_schema,
        );
        if verdict.compatible != case.compatible {
            self.verdicts.push(format!(
                "{label}: Confluent says compatible={}, we say {}",
                case.compatible, verdict.compatible
            ));
        }
        let ours: BTreeSet<String> = diff(&case.original_schema, &case.update_schema)
            .iter()
            .map(|c| format!("{} {}", c.kind, c.pointer))
            .collect();
        let theirs: BTreeSet<String> = case.changes.iter().cloned().collect();
        if ours == theirs {
            self.same_changes += 1;
        } else {
            self.changes
                .push(format!("{label}: Confluent {theirs:?}, ours {ours:?}"));
        }
    }
}

#[test]
fn agrees_with_every_confluent_verdict() {
    let dir = Path::new(DIR);
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "conformance data is absent at {DIR}, and CI is set"
        );
        eprintln!(
            "conformance data is absent at {DIR} (not a full checkout): skipping the Confluent conformance test"
        );
        return;
    }
    let mut tally = Tally::default();
    for file in FILES {
        let text = std::fs::read_to_string(dir.join(file)).expect("conformance file is readable");
        let cases: Vec<Case> =
            serde_json::from_str(&text).expect("conformance file is a JSON array of cases");
        for (index, case) in cases.iter().enumerate() {
            tally.run(file, index, case);
        }
    }
    println!(
        "Confluent conformance: {}/{} verdicts agree, {}/{} change sets identical",
        tally.total - tally.verdicts.len(),
        tally.total,
        tally.same_changes,
        tally.total
    );
    for line in &tally.changes {
        println!("  change set differs: {line}");
    }
    assert!(tally.total > 0, "no conformance cases found in {DIR}");
    assert!(
        tally.verdicts.is_empty(),
        "{} verdicts disagree with Confluent:\n{}",
        tally.verdicts.len(),
        tally.verdicts.join("\n")
    );
}
