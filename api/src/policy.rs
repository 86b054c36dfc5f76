//! Authorization: casbin policy files decide who may do what. Deny by default.
//!
//! The model (`policies/model.conf`) uses the effect "some allow and no deny": nothing matching
//! means deny, and an explicit deny beats any allow. Objects are matched with `objMatch`, an
//! anchored segment matcher registered here (`catalog:template:*` matches exactly one segment,
//! `audit:**` one or more) instead of casbin's prefix-matching `keyMatch` or unanchored
//! `regexMatch`. A caller is checked as `user:<sub>` and as `role:<r>` for each token role; a deny
//! rule matching any of them wins.
//!
//! The files are polled every second; a changed, valid policy replaces the old one atomically, a
//! broken edit is logged and ignored while the last good policy stays in force. Requests read the
//! current enforcer under a read lock only long enough to clone an `Arc`.

use crate::auth::Subject;
use crate::error::{ApiError, ApiResult};
use casbin::{CoreApi, DefaultModel, Enforcer, FileAdapter, function_map::OperatorFunction};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub const MODEL_FILE: &str = "model.conf";
pub const POLICY_FILE: &str = "policy.csv";
pub const TESTS_FILE: &str = "tests.csv";

/// The outcome of one authorization question, with the rule that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `policy.csv:LINE: p, …` of the deciding rule; `None` when nothing matched (default deny).
    pub rule: Option<String>,
}

/// Decisions are pure functions of (subject, object, action) for one loaded policy, so they are
/// memoised per policy version (a reload starts with an empty cache). Bounded: cleared when full.
type DecisionCache = std::sync::Mutex<
    std::collections::HashMap<(String, String, String), Result<(bool, Vec<String>), String>>,
>;
const DECISION_CACHE_MAX: usize = 50_000;

struct Loaded {
    enforcer: Enforcer,
    cache: DecisionCache,
    fingerprint: [u8; 32],
    /// Policy lines with their line numbers, to name the deciding rule.
    lines: Vec<(usize, Vec<String>)>,
}

pub struct Policy {
    dir: PathBuf,
    current: RwLock<Arc<Loaded>>,
}

impl Policy {
    /// Loads and validates the policy in `dir`; fails with the file, line and rule on error.
    pub async fn load(dir: &Path) -> anyhow::Result<Self> {
        let loaded = load(dir).await?;
        Ok(Self {
            dir: dir.to_path_buf(),
            current: RwLock::new(Arc::new(loaded)),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The version of the policy in force: the first 16 hex digits of its content hash.
    pub fn version(&self) -> String {
        hex::encode(&self.snapshot().fingerprint[..8])
    }

    fn snapshot(&self) -> Arc<Loaded> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Decides whether `subject` may perform `act` on `obj`.
    pub fn decide(&self, subject: &Subject, obj: &str, act: &str) -> Decision {
        let mut subjects = vec![format!("user:{}", subject.sub)];
        subjects.extend(subject.roles.iter().map(|r| format!("role:{r}")));
        self.decide_for(&subjects, obj, act)
    }

    /// Decides for a list of casbin subjects (`user:x`, `role:y`).
    pub fn decide_for(&self, subjects: &[String], obj: &str, act: &str) -> Decision {
        let loaded = self.snapshot();
        let mut allow: Option<String> = None;
        for sub in subjects {
            match loaded.enforce(sub, obj, act) {
                Ok((true, rules)) => {
                    if allow.is_none() {
                        allow = Some(loaded.describe(rules.first()));
                    }
                }
                // Denied with a matching rule: an explicit deny, which overrides everything.
                Ok((false, rules)) if !rules.is_empty() => {
                    return Decision {
                        allowed: false,
                        rule: Some(loaded.describe(rules.first())),
                    };
                }
                Ok((false, _)) => {}
                Err(e) => {
                    tracing::error!(error = %e, "policy evaluation failed; denying");
                    return Decision {
                        allowed: false,
                        rule: None,
                    };
                }
            }
        }
        Decision {
            allowed: allow.is_some(),
            rule: allow,
        }
    }

    /// `Ok(())` if allowed, else `FORBIDDEN` naming the action and object.
    pub fn authorize(&self, subject: &Subject, obj: &str, act: &str) -> ApiResult<()> {
        if self.decide(subject, obj, act).allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "`{}` (roles: {}) may not `{act}` `{obj}`; ask someone with role {}",
                subject.sub,
                if subject.roles.is_empty() {
                    "none".to_string()
                } else {
                    subject.roles.join(", ")
                },
                {
                    let who = self.roles_allowed(obj, act);
                    if who.is_empty() {
                        "— none: no role is granted this".to_string()
                    } else {
                        who.join(" or ")
                    }
                }
            )))
        }
    }

    /// The roles named in the policy that would be allowed `act` on `obj` (who to ask).
    pub fn roles_allowed(&self, obj: &str, act: &str) -> Vec<String> {
        let loaded = self.snapshot();
        let mut roles: Vec<String> = loaded
            .lines
            .iter()
            .flat_map(|(_, f)| f.iter().skip(1).take(if f[0] == "g" { 2 } else { 1 }))
            .filter(|s| s.starts_with("role:"))
            .cloned()
            .collect();
        roles.sort();
        roles.dedup();
        roles
            .into_iter()
            .filter(|r| self.decide_for(std::slice::from_ref(r), obj, act).allowed)
            .map(|r| r.trim_start_matches("role:").to_string())
            .collect()
    }

    /// Reloads if the files changed. `Ok(true)` when a new policy is now in force.
    pub async fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let fingerprint = fingerprint(&self.dir)?;
        if fingerprint == self.snapshot().fingerprint {
            return Ok(false);
        }
        let loaded = load(&self.dir).await?;
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::new(loaded),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(loaded),
        }
        Ok(true)
    }

    /// Polls the policy files every second until the process ends.
    pub fn spawn_watcher(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut last_error: Option<String> = None;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                match self.reload_if_changed().await {
                    Ok(true) => {
                        last_error = None;
                        tracing::info!(dir = %self.dir.display(), "policy reloaded");
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let msg = format!("{e:#}");
                        if last_error.as_deref() != Some(msg.as_str()) {
                            tracing::error!(error = %msg, "policy edit rejected; the last good policy stays in force");
                            last_error = Some(msg);
                        }
                    }
                }
            }
        })
    }
}

impl Loaded {
    fn enforce(&self, sub: &str, obj: &str, act: &str) -> Result<(bool, Vec<Vec<String>>), String> {
        let key = (sub.to_string(), obj.to_string(), act.to_string());
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(&key)
        {
            return hit
                .clone()
                .map(|(ok, rule)| (ok, if rule.is_empty() { vec![] } else { vec![rule] }));
        }
        let result = self
            .enforcer
            .enforce_ex((sub, obj, act))
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

    fn describe(&self, rule: Option<&Vec<String>>) -> String {
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

fn fingerprint(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let mut h = Sha256::new();
    for name in [MODEL_FILE, POLICY_FILE] {
        let path = dir.join(name);
        let bytes = std::fs::read(&path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().into())
}

async fn load(dir: &Path) -> anyhow::Result<Loaded> {
    let fingerprint = fingerprint(dir)?;
    let policy_path = dir.join(POLICY_FILE);
    let text = std::fs::read_to_string(&policy_path)?;
    let lines = parse_policy(&text)?;
    let model = DefaultModel::from_file(dir.join(MODEL_FILE))
        .await
        .map_err(|e| anyhow::anyhow!("{MODEL_FILE}: {e}"))?;
    let mut enforcer = Enforcer::new(model, FileAdapter::new(policy_path))
        .await
        .map_err(|e| anyhow::anyhow!("{POLICY_FILE}: {e}"))?;
    enforcer.add_function("objMatch", OperatorFunction::Arg2(obj_match_dynamic));
    // casbin skips missing model sections silently; a model that cannot decide is broken.
    enforcer
        .enforce(("user:policy-probe", "probe:object", "probe"))
        .map_err(|e| anyhow::anyhow!("{MODEL_FILE}: the model cannot decide requests: {e}"))?;
    Ok(Loaded {
        enforcer,
        cache: DecisionCache::default(),
        fingerprint,
        lines,
    })
}

/// Validates `policy.csv` line by line: `p, subject, object, action, allow|deny` or
/// `g, member, role`; identifiers from a small alphabet so nothing can smuggle a matcher in.
pub fn parse_policy(text: &str) -> anyhow::Result<Vec<(usize, Vec<String>)>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<String> = line.split(',').map(|f| f.trim().to_string()).collect();
        let bad = |why: String| anyhow::anyhow!("{POLICY_FILE}:{n}: {why} (in `{line}`)");
        match fields[0].as_str() {
            "p" => {
                if fields.len() != 5 {
                    return Err(bad(format!(
                        "a `p` rule has 5 fields (p, subject, object, action, effect), found {}",
                        fields.len()
                    )));
                }
                if fields[4] != "allow" && fields[4] != "deny" {
                    return Err(bad(format!(
                        "effect must be `allow` or `deny`, found `{}`",
                        fields[4]
                    )));
                }
            }
            "g" => {
                if fields.len() != 3 {
                    return Err(bad(format!(
                        "a `g` rule has 3 fields (g, member, role), found {}",
                        fields.len()
                    )));
                }
            }
            other => return Err(bad(format!("unknown rule type `{other}`; use `p` or `g`"))),
        }
        for f in &fields[1..] {
            if f.is_empty()
                || !f.chars().all(|c| {
                    c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || matches!(c, '_' | '-' | '.' | ':' | '*' | '@')
                })
            {
                return Err(bad(format!(
                    "`{f}` may only contain a-z, 0-9 and _ - . : * @"
                )));
            }
        }
        out.push((n, fields));
    }
    Ok(out)
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

/// One row of `tests.csv`.
#[derive(Debug, Clone)]
pub struct PolicyCase {
    pub line: usize,
    pub subject: String,
    pub object: String,
    pub action: String,
    pub expected: bool,
}

/// Reads `tests.csv`: `subject, object, action, allow|deny` (a header row and `#` comments are
/// skipped).
pub fn read_cases(dir: &Path) -> anyhow::Result<Vec<PolicyCase>> {
    let path = dir.join(TESTS_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let mut cases = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("subject,") {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        anyhow::ensure!(
            f.len() == 4,
            "{TESTS_FILE}:{}: expected 4 fields (subject, object, action, expected), found {}",
            i + 1,
            f.len()
        );
        let expected = match f[3] {
            "allow" => true,
            "deny" => false,
            other => anyhow::bail!(
                "{TESTS_FILE}:{}: expected must be `allow` or `deny`, found `{other}`",
                i + 1
            ),
        };
        cases.push(PolicyCase {
            line: i + 1,
            subject: f[0].to_string(),
            object: f[1].to_string(),
            action: f[2].to_string(),
            expected,
        });
    }
    Ok(cases)
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

    #[test]
    fn broken_policy_lines_are_named() {
        let err = parse_policy("p, role:a, x, read\n").expect_err("4 fields");
        assert!(err.to_string().contains("policy.csv:1"), "{err}");
        let err = parse_policy("# c\np, role:a, x, read, maybe\n").expect_err("bad effect");
        assert!(err.to_string().contains("policy.csv:2"), "{err}");
        let err = parse_policy("p, role:a, x y, read, allow\n").expect_err("bad chars");
        assert!(err.to_string().contains("may only contain"), "{err}");
    }
}
