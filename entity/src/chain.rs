//! The audit hash chain: how an entry is serialised canonically and hashed.
//!
//! `hash = SHA-256("switchyard.audit.v1\n" ‖ canonical_json(fields) ‖ "\n" ‖ prev_hash)`, hex.
//! Canonical JSON sorts object keys at every depth and writes no insignificant whitespace, so
//! the hash does not depend on map ordering in any library. Changing this function breaks every
//! existing chain: it is versioned by its domain-separation prefix.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"switchyard.audit.v1\n";
const CHECKPOINT_DOMAIN: &str = "switchyard.audit.checkpoint.v1";

/// The fields of an entry that the hash covers (everything but the hash itself).
#[derive(Debug, Clone)]
pub struct EntryFields<'a> {
    pub seq: i64,
    pub at: &'a str,
    pub actor: &'a str,
    pub roles: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    pub request_id: &'a str,
    pub prev_hash: &'a str,
    /// Hashed only when present, so entries written before versions were recorded verify.
    pub policy_version: Option<&'a str>,
}

impl<'a> EntryFields<'a> {
    /// The fields of a stored row.
    pub fn of(row: &'a crate::audit_entry::Model) -> Self {
        Self {
            seq: row.seq,
            at: &row.at,
            actor: &row.actor,
            roles: &row.roles,
            action: &row.action,
            target: &row.target,
            outcome: &row.outcome,
            before: row.before.as_deref(),
            after: row.after.as_deref(),
            request_id: &row.request_id,
            prev_hash: &row.prev_hash,
            policy_version: row.policy_version.as_deref(),
        }
    }

    /// The entry's hash, hex-encoded.
    pub fn hash(&self) -> String {
        let opt = |v: Option<&str>| v.map_or(Value::Null, |s| Value::String(s.to_owned()));
        let mut doc = serde_json::json!({
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "roles": self.roles,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "before": opt(self.before),
            "after": opt(self.after),
            "request_id": self.request_id,
        });
        if let (Some(v), Some(map)) = (self.policy_version, doc.as_object_mut()) {
            map.insert("policy_version".into(), Value::String(v.to_owned()));
        }
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(canonical_json(&doc).as_bytes());
        h.update(b"\n");
        h.update(self.prev_hash.as_bytes());
        hex::encode(h.finalize())
    }
}

/// Serialises a JSON value with object keys sorted at every depth and no extra whitespace.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                // Building from a BTreeMap keeps insertion order sorted whether or not
                // serde_json's `preserve_order` feature is on somewhere in the build.
                Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// The bytes a checkpoint signature covers.
pub fn checkpoint_message(seq: i64, hash: &str, signed_at: &str) -> String {
    format!("{CHECKPOINT_DOMAIN}\nseq={seq}\nhash={hash}\nsigned_at={signed_at}")
}

/// SHA-256 of `bytes`, hex-encoded.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(prev: &str) -> EntryFields<'_> {
        EntryFields {
            seq: 1,
            at: "2026-11-27T00:00:00.000000Z",
            actor: "alice",
            roles: "[\"marketer\"]",
            action: "template.publish",
            target: "template:lead-capture@1.0.0",
            outcome: "allowed",
            before: None,
            after: Some("{\"a\":1}"),
            request_id: "r1",
            prev_hash: prev,
            policy_version: None,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v: Value = serde_json::from_str(r#"{"b":{"y":1,"x":[{"d":1,"c":2}]},"a":true}"#)
            .expect("valid json");
        assert_eq!(
            canonical_json(&v),
            r#"{"a":true,"b":{"x":[{"c":2,"d":1}],"y":1}}"#
        );
    }

    #[test]
    fn hash_covers_every_field_and_the_previous_hash() {
        let base = fields(GENESIS_HASH).hash();
        assert_eq!(base.len(), 64);
        assert_ne!(base, fields("1").hash());
        let mut other = fields(GENESIS_HASH);
        other.actor = "mallory";
        assert_ne!(base, other.hash());
        let mut other = fields(GENESIS_HASH);
        other.after = Some("{\"a\":2}");
        assert_ne!(base, other.hash());
        assert_eq!(
            base,
            fields(GENESIS_HASH).hash(),
            "hashing is deterministic"
        );
        let mut other = fields(GENESIS_HASH);
        other.policy_version = Some("0123456789abcdef");
        assert_ne!(
            base,
            other.hash(),
            "the policy version is covered when present"
        );
    }
}
