//! One loaded policy: the casbin enforcer built from the files (or from the texts of a version
//! stored in the database), its decision cache, the fingerprint that tells a changed file from an
//! unchanged one, and `objMatch`, the anchored object matcher the model uses. Loading validates
//! everything first, so a broken edit never replaces a working policy.

use super::{MODEL_FILE, POLICY_FILE, Relation, parse_policy};
use casbin::{CoreApi, DefaultModel, Enforcer, StringAdapter, function_map::OperatorFunction};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Decisions are pure functions of (subject, object, action, relation) for one loaded policy,
/// so they are memoised per policy version (a reload starts with an empty cache). Bounded:
/// cleared when full.
type CacheKey = (String, String, String, Relation);
type DecisionCache =
    std::sync::Mutex<std::collections::HashMap<CacheKey, Result<(bool, Vec<String>), String>>>;
const DECISION_CACHE_MAX: usize = 50_000;

pub(super) struct Loaded {
    enforcer: Enforcer,
    cache: DecisionCache,
    pub(super) fingerprint: [u8; 32],
    /// Policy lines with their line numbers, to name the deciding rule.
    pub(super) lines: Vec<(usize, Vec<String>)>,
    /// The texts it was built from, as read.
    pub(super) model_text: String,
    pub(super) policy_text: String,
}

impl Loaded {
    pub(super) fn enforce(
        &self,
        sub: &str,
        obj: &str,
        act: &str,
        rel: Relation,
    ) -> Result<(bool, Vec<Vec<String>>), String> {
        let key = (sub.to_string(), obj.to_string(), act.to_string(), rel);
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(&key)
        {
            return hit
                .clone()
                .map(|(ok, rule)| (ok, if rule.is_empty() { vec![] } else { vec![rule] }));
        }
        let result = self
            .enforcer
            .enforce_ex((sub, obj, act, rel.as_str()))
            .map(|(ok, rules)| (ok, rules.into_iter().next().unwrap_or_default()))
            .map_err(|e| e.to_string());
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= DECISION_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, result.clone());
        }
        result.map(|(ok, rule)| (ok, if rule.is_empty() { vec![] } else { vec![rule] }))
    }

    /// The deny rule a denied request matched, to name why it was denied: casbin's explanation
    /// names the first rule that matched, which can be an allow that the deny overrode. Reads the
    /// rules the way the shipped matcher does (only to name one; deciding is casbin's).
    pub(super) fn deny_rule(
        &self,
        sub: &str,
        obj: &str,
        act: &str,
        rel: Relation,
    ) -> Option<String> {
        let roles = self.enforcer.get_role_manager();
        let roles = roles.read();
        self.lines
            .iter()
            .find(|(_, f)| {
                f.len() == 6
                    && f[0] == "p"
                    && f[5] == "deny"
                    && (f[1] == sub || roles.has_link(sub, &f[1], None))
                    && obj_match(obj, &f[2])
                    && (f[3] == act || f[3] == "*")
                    && (f[4] == "any"
                        || f[4] == rel.as_str()
                        || (f[4] == "team" && rel == Relation::Own))
            })
            .map(|(line, f)| format!("{POLICY_FILE}:{line}: {}", f.join(", ")))
    }

    pub(super) fn describe(&self, rule: Option<&Vec<String>>) -> String {
        let Some(rule) = rule else {
            return "(unnamed rule)".into();
        };
        let found = self
            .lines
            .iter()
            .find(|(_, f)| f[0] == "p" && f[1..] == rule[..]);
        match found {
            Some((line, f)) => format!("{POLICY_FILE}:{line}: {}", f.join(", ")),
            None => format!("p, {}", rule.join(", ")),
        }
    }
}

/// The content hash of a policy: its model and rules, each prefixed with its length.
pub(super) fn fingerprint_of(model: &[u8], policy: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for bytes in [model, policy] {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize().into()
}

fn read_file(dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))
}

pub(super) fn fingerprint(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let model = read_file(dir, MODEL_FILE)?;
    let policy = read_file(dir, POLICY_FILE)?;
    Ok(fingerprint_of(model.as_bytes(), policy.as_bytes()))
}

pub(super) async fn load(dir: &Path) -> anyhow::Result<Loaded> {
    let model = read_file(dir, MODEL_FILE)?;
    let policy = read_file(dir, POLICY_FILE)?;
    load_texts(model, policy).await
}

/// Builds a policy from the texts of `model.conf` and `policy.csv`, validating both.
pub(super) async fn load_texts(model_text: String, policy_text: String) -> anyhow::Result<Loaded> {
    let fingerprint = fingerprint_of(model_text.as_bytes(), policy_text.as_bytes());
    let lines = parse_policy(&policy_text)?;
    let model = DefaultModel::from_str(&model_text)
        .await
        .map_err(|e| anyhow::anyhow!("{MODEL_FILE}: {e}"))?;
    // The validated rules, one per line, are what casbin reads.
    let rules: Vec<String> = lines.iter().map(|(_, f)| f.join(", ")).collect();
    let mut enforcer = Enforcer::new(model, StringAdapter::new(rules.join("\n")))
        .await
        .map_err(|e| anyhow::anyhow!("{POLICY_FILE}: {e}"))?;
    enforcer.add_function("objMatch", OperatorFunction::Arg2(obj_match_dynamic));
    // casbin skips missing model sections silently; a model that cannot decide is broken.
    enforcer
        .enforce(("user:policy-probe", "probe:object", "probe", "none"))
        .map_err(|e| anyhow::anyhow!("{MODEL_FILE}: the model cannot decide requests: {e}"))?;
    Ok(Loaded {
        enforcer,
        cache: DecisionCache::default(),
        fingerprint,
        lines,
        model_text,
        policy_text,
    })
}

fn obj_match_dynamic(a: casbin::rhai::Dynamic, b: casbin::rhai::Dynamic) -> casbin::rhai::Dynamic {
    let a = a.into_string().unwrap_or_default();
    let b = b.into_string().unwrap_or_default();
    obj_match(&a, &b).into()
}

/// Anchored match of an object name against a pattern, segment by segment (`:`-separated):
/// `*` matches exactly one segment, a final `**` matches one or more segments.
pub fn obj_match(object: &str, pattern: &str) -> bool {
    let obj: Vec<&str> = object.split(':').collect();
    let pat: Vec<&str> = pattern.split(':').collect();
    for (i, p) in pat.iter().enumerate() {
        if *p == "**" && i == pat.len() - 1 {
            return obj.len() > i;
        }
        match obj.get(i) {
            Some(o) if *p == "*" || p == o => {}
            _ => return false,
        }
    }
    obj.len() == pat.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_patterns_are_anchored_per_segment() {
        assert!(obj_match(
            "catalog:template:lead-capture",
            "catalog:template:*"
        ));
        assert!(obj_match("catalog:template:lead-capture", "catalog:**"));
        assert!(!obj_match("catalog:template", "catalog:template:*"));
        assert!(!obj_match("catalog:template:a:b", "catalog:template:*"));
        assert!(!obj_match("catalog:templates:x", "catalog:template:*"));
        // keyMatch would treat this as a prefix match; objMatch does not.
        assert!(!obj_match("audit:log2", "audit:log"));
        assert!(!obj_match("audit", "audit:**"));
        assert!(
            obj_match("ünïcode:x", "*:x"),
            "multi-byte input must not panic"
        );
    }
}
