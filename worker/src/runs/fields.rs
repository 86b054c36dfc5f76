//! The one rule for what leaves for a destination. A record may carry a field only if every
//! input field it was made from is one the instance's flow decision lets reach that slot
//! (policy decided it, per PII class and destination category, when the workflow was created or
//! the policy last changed). Everything else is withheld, and the delivery keeps which fields it
//! sent, which it withheld with the rule that withheld them, and which the input lacked.

use super::steps::{Record, path};
use entity::documents::flow::{SlotFlow, Withheld};
use entity::documents::record::DeliveryFields;
use serde_json::{Map, Value};

/// Rank of a class as sent, to give a field made from several inputs the most sensitive one.
fn rank(class: &str) -> u8 {
    match class {
        "sensitive" => 3,
        "personal" => 2,
        "hashed" => 1,
        _ => 0,
    }
}

fn withheld_for(flow: &SlotFlow, source: &str) -> Withheld {
    flow.withheld
        .get(source)
        .cloned()
        .unwrap_or_else(|| Withheld {
            class: "unknown".into(),
            rule: format!("no flow decision lets `{source}` reach this destination"),
        })
}

fn root(source: &str) -> &str {
    source.split('.').next().unwrap_or(source)
}

/// The class `flow` lets a source path reach the destination as: the path itself, its
/// top-level field (an input field), or its leaf (a field an `enrich` step added under its `as`
/// name, e.g. `contact.first_name`). `None` when no flow decision lets it.
fn class_of<'a>(flow: &'a SlotFlow, source: &str) -> Option<&'a String> {
    flow.fields
        .get(source)
        .or_else(|| flow.fields.get(root(source)))
        .or_else(|| {
            source
                .rsplit_once('.')
                .and_then(|(_, leaf)| flow.fields.get(leaf))
        })
}

/// The fields that leave for a destination governed by `flow`: from the mapped `record` when
/// there is one, else the allowed fields of the `input` itself.
pub fn outgoing(
    flow: &SlotFlow,
    record: Option<&Record>,
    input: &Value,
) -> (Map<String, Value>, DeliveryFields) {
    let mut out = Map::new();
    let mut fields = DeliveryFields::default();
    match record {
        Some(rec) => {
            for (name, value) in &rec.fields {
                let sources = rec.sources.get(name);
                let blocked = sources
                    .into_iter()
                    .flatten()
                    .find(|s| class_of(flow, s).is_none());
                match blocked {
                    Some(source) => {
                        fields
                            .withheld
                            .insert(name.clone(), withheld_for(flow, root(source)));
                    }
                    None => {
                        let class = sources
                            .into_iter()
                            .flatten()
                            .filter_map(|s| class_of(flow, s))
                            .max_by_key(|c| rank(c))
                            .cloned()
                            .unwrap_or_else(|| "none".into());
                        fields.sent.insert(name.clone(), class);
                        let made_from: Vec<String> =
                            sources.into_iter().flatten().cloned().collect();
                        if made_from != [name.clone()] {
                            fields.sources.insert(name.clone(), made_from);
                        }
                        out.insert(name.clone(), value.clone());
                    }
                }
            }
            fields.missing = rec.missing.clone();
        }
        None => {
            for (name, class) in &flow.fields {
                match path(input, name) {
                    Some(v) => {
                        out.insert(name.clone(), v.clone());
                        fields.sent.insert(name.clone(), class.clone());
                    }
                    None => fields.missing.push(name.clone()),
                }
            }
            for (name, why) in &flow.withheld {
                if path(input, name).is_some() {
                    fields.withheld.insert(name.clone(), why.clone());
                }
            }
        }
    }
    (out, fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::{BTreeMap, BTreeSet};

    fn flow() -> SlotFlow {
        SlotFlow {
            category: "ads".into(),
            fields: BTreeMap::from([
                ("country".into(), "none".into()),
                ("email".into(), "hashed".into()),
            ]),
            rules: BTreeMap::new(),
            withheld: BTreeMap::from([(
                "phone".into(),
                Withheld {
                    class: "personal".into(),
                    rule: "policy.csv:9: p, flows, flow:personal:ads, send, deny".into(),
                },
            )]),
            narrow: true,
        }
    }

    #[test]
    fn a_field_from_a_withheld_input_does_not_leave_and_says_why() {
        let rec = Record {
            object: "contact".into(),
            fields: Map::from_iter([
                ("country".to_string(), json!("DE")),
                ("email_sha256".to_string(), json!("ab12")),
                ("phone".to_string(), json!("+49")),
            ]),
            sources: BTreeMap::from([
                (
                    "country".to_string(),
                    BTreeSet::from(["country".to_string()]),
                ),
                (
                    "email_sha256".to_string(),
                    BTreeSet::from(["email".to_string()]),
                ),
                ("phone".to_string(), BTreeSet::from(["phone".to_string()])),
            ]),
            missing: vec!["segment_ids".into()],
        };
        let (out, fields) = outgoing(&flow(), Some(&rec), &json!({}));
        assert_eq!(
            out.keys().collect::<Vec<_>>(),
            vec!["country", "email_sha256"]
        );
        assert_eq!(fields.sent["email_sha256"], "hashed");
        assert!(fields.withheld["phone"].rule.contains("flow:personal:ads"));
        assert_eq!(fields.missing, vec!["segment_ids".to_string()]);
        assert!(!fields.complete());
    }

    #[test]
    fn without_a_record_only_allowed_input_fields_leave() {
        let (out, fields) = outgoing(
            &flow(),
            None,
            &json!({"country": "DE", "phone": "+49", "x": 1}),
        );
        assert_eq!(out, Map::from_iter([("country".to_string(), json!("DE"))]));
        assert_eq!(fields.missing, vec!["email".to_string()]);
        assert!(fields.withheld.contains_key("phone"));
    }
}
