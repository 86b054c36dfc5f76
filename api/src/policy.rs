//! Authorization: casbin policy files decide who may do what. Deny by default.
//!
//! The model (`policies/model.conf`) uses the effect "some allow and no deny": nothing matching
//! means deny, and an explicit deny beats any allow. Objects are matched with `objMatch`, an
//! anchored segment matcher registered here (`catalog:template:*` matches exactly one segment,
//! `audit:**` one or more) instead of casbin's prefix-matching `keyMatch` or unanchored
//! `regexMatch`. A caller is checked as `user:<sub>` and as `role:<r>` for each token role; a deny
//! rule matching any of them wins.
//!
//! Owned objects (connections, workflows and what they produce) carry their owner into the
//! request as a fourth value, the caller's [`Relation`] to it (`own`, `team`, `other`, or `none`
//! for objects nobody owns); a rule's `scope` (`any`, `own`, `team`) says which relations it
//! covers. The scope is matched in the casbin model, not in Rust: [`relation`] only works out
//! the relation.
//!
//! The files are polled every second; a changed, valid policy replaces the old one atomically, a
//! broken edit — one that does not parse, or one that would lock every administrator out — is
//! refused while the last good policy stays in force. Requests read the current enforcer under a
//! read lock only long enough to clone an `Arc`. When the policy is governed by a database
//! ([`Policy::govern`]), a reload is an activation recorded there (`governance`): audited with
//! the diff, running workflows re-evaluated, and every process converging on the newest version.

use crate::auth::Subject;
use crate::error::{ApiError, ApiResult};
use sea_orm::DatabaseConnection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

mod admins;
mod files;
mod loaded;

pub use admins::{ADMIN_PROBES, administrators};
pub use files::{PolicyCase, SCOPES, parse_policy, read_cases};
pub use loaded::obj_match;
use loaded::{Loaded, fingerprint, load, load_texts};

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

/// The caller's relation to the owner of the object asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The caller owns it.
    Own,
    /// Someone else in the caller's (non-empty) team owns it.
    Team,
    /// Someone else owns it.
    Other,
    /// Nobody owns it (catalog items, the audit log, write keys).
    None,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Own => "own",
            Relation::Team => "team",
            Relation::Other => "other",
            Relation::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "own" => Some(Relation::Own),
            "team" => Some(Relation::Team),
            "other" => Some(Relation::Other),
            "none" => Some(Relation::None),
            _ => None,
        }
    }
}

/// Who owns an object: a user and, when they had one, their team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub user: String,
    pub team: Option<String>,
}

impl Owner {
    pub fn new(user: &str, team: Option<&str>) -> Self {
        Self {
            user: user.to_string(),
            team: team.map(str::to_string),
        }
    }
}

/// The caller's relation to `owner` (`None`: an object nobody owns). A team relation needs the
/// same non-empty team on both sides.
pub fn relation(caller: &Subject, owner: Option<&Owner>) -> Relation {
    let Some(owner) = owner else {
        return Relation::None;
    };
    if caller.sub == owner.user {
        Relation::Own
    } else if team_name(&caller.team).is_some() && team_name(&caller.team) == team_name(&owner.team)
    {
        Relation::Team
    } else {
        Relation::Other
    }
}

/// A team name, when there is a non-blank one.
fn team_name(team: &Option<String>) -> Option<&str> {
    team.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

pub struct Policy {
    dir: PathBuf,
    current: RwLock<Arc<Loaded>>,
    /// The database that governs this policy: reloads become activations recorded there.
    governed: OnceLock<DatabaseConnection>,
    /// Serialises reloads in this process; holds the fingerprint of the files last looked at.
    reloading: tokio::sync::Mutex<[u8; 32]>,
}

/// A policy edit the reload refused: the last good policy stays in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The version the refused files would have had (their content hash).
    pub version: String,
    pub reason: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Refused {}

impl Policy {
    /// Loads and validates the policy in `dir`; fails with the file, line and rule on error.
    pub async fn load(dir: &Path) -> anyhow::Result<Self> {
        let loaded = load(dir).await?;
        Ok(Self::of(dir, loaded))
    }

    /// A policy built from the texts of `model.conf` and `policy.csv` (a stored version).
    pub async fn from_texts(dir: &Path, model: &str, policy: &str) -> anyhow::Result<Self> {
        let loaded = load_texts(model.to_string(), policy.to_string()).await?;
        Ok(Self::of(dir, loaded))
    }

    fn of(dir: &Path, loaded: Loaded) -> Self {
        Self {
            dir: dir.to_path_buf(),
            reloading: tokio::sync::Mutex::new(loaded.fingerprint),
            current: RwLock::new(Arc::new(loaded)),
            governed: OnceLock::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Puts this policy under `db`: from now on a reload is an activation recorded there.
    pub fn govern(&self, db: DatabaseConnection) {
        let _ = self.governed.set(db);
    }

    /// The version of the policy in force: the first 16 hex digits of its content hash.
    pub fn version(&self) -> String {
        hex::encode(&self.snapshot().fingerprint[..8])
    }

    /// The content hash of the policy in force: equal hashes decide alike.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.snapshot().fingerprint
    }

    /// The full content hash (hex) of the policy in force.
    pub fn hash(&self) -> String {
        hex::encode(self.snapshot().fingerprint)
    }

    /// The texts of `model.conf` and `policy.csv` in force.
    pub fn texts(&self) -> (String, String) {
        let s = self.snapshot();
        (s.model_text.clone(), s.policy_text.clone())
    }

    /// The rules in force, with their line numbers.
    pub fn rules(&self) -> Vec<(usize, Vec<String>)> {
        self.snapshot().lines.clone()
    }

    /// Replaces the policy in force with `other`'s (an activation, or a version another process
    /// activated).
    pub fn install_from(&self, other: &Policy) {
        let loaded = other.snapshot();
        match self.current.write() {
            Ok(mut guard) => *guard = loaded,
            Err(poisoned) => *poisoned.into_inner() = loaded,
        }
    }

    fn snapshot(&self) -> Arc<Loaded> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Every subject named in the rules: `role:…`, `user:…` and the special subjects (`flows`).
    pub fn subjects(&self) -> Vec<String> {
        let loaded = self.snapshot();
        let mut out: Vec<String> = loaded
            .lines
            .iter()
            .flat_map(|(_, f)| f.iter().skip(1).take(if f[0] == "g" { 2 } else { 1 }))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Decides whether `subject` may perform `act` on `obj`, an object nobody owns.
    pub fn decide(&self, subject: &Subject, obj: &str, act: &str) -> Decision {
        self.decide_rel(subject, obj, act, Relation::None)
    }

    /// Decides whether `subject` may perform `act` on `obj`, standing in `rel` to its owner.
    pub fn decide_rel(&self, subject: &Subject, obj: &str, act: &str, rel: Relation) -> Decision {
        self.decide_for_rel(&casbin_subjects(subject), obj, act, rel)
    }

    /// Decides for a list of casbin subjects (`user:x`, `role:y`), on an object nobody owns.
    pub fn decide_for(&self, subjects: &[String], obj: &str, act: &str) -> Decision {
        self.decide_for_rel(subjects, obj, act, Relation::None)
    }

    /// Decides for a list of casbin subjects standing in `rel` to the object's owner.
    pub fn decide_for_rel(
        &self,
        subjects: &[String],
        obj: &str,
        act: &str,
        rel: Relation,
    ) -> Decision {
        let loaded = self.snapshot();
        let mut allow: Option<String> = None;
        for sub in subjects {
            match loaded.enforce(sub, obj, act, rel) {
                Ok((true, rules)) => {
                    if allow.is_none() {
                        allow = Some(loaded.describe(rules.first()));
                    }
                }
                // Denied with a matching rule: an explicit deny, which overrides everything.
                Ok((false, rules)) if !rules.is_empty() => {
                    let rule = loaded
                        .deny_rule(sub, obj, act, rel)
                        .unwrap_or_else(|| loaded.describe(rules.first()));
                    return Decision {
                        allowed: false,
                        rule: Some(rule),
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
        self.authorize_rel(subject, obj, act, Relation::None)
    }

    /// `Ok(())` if allowed for a caller in relation `rel` to the owner, else `FORBIDDEN` naming
    /// the action, the object, the relation and who may.
    pub fn authorize_rel(
        &self,
        subject: &Subject,
        obj: &str,
        act: &str,
        rel: Relation,
    ) -> ApiResult<()> {
        if self.decide_rel(subject, obj, act, rel).allowed {
            return Ok(());
        }
        let roles = if subject.roles.is_empty() {
            "none".to_string()
        } else {
            subject.roles.join(", ")
        };
        let who = self.roles_allowed_rel(obj, act, Relation::Other);
        let ask = match (rel, who.is_empty()) {
            (Relation::None, true) => {
                "ask someone with role — none: no role is granted this".into()
            }
            (Relation::None, false) => format!("ask someone with role {}", who.join(" or ")),
            (_, true) => "ask its owner".to_string(),
            (_, false) => format!("ask its owner or someone with role {}", who.join(" or ")),
        };
        let whose = match rel {
            Relation::None => String::new(),
            Relation::Own => " (your own)".into(),
            Relation::Team => " (your team's)".into(),
            Relation::Other => " (someone else's)".into(),
        };
        Err(ApiError::Forbidden(format!(
            "`{}` (roles: {roles}) may not `{act}` `{obj}`{whose}; {ask}",
            subject.sub
        )))
    }

    /// The roles named in the policy that would be allowed `act` on `obj` (who to ask).
    pub fn roles_allowed(&self, obj: &str, act: &str) -> Vec<String> {
        self.roles_allowed_rel(obj, act, Relation::None)
    }

    /// The roles that would be allowed `act` on `obj` when standing in `rel` to its owner.
    pub fn roles_allowed_rel(&self, obj: &str, act: &str, rel: Relation) -> Vec<String> {
        self.subjects()
            .into_iter()
            .filter(|s| s.starts_with("role:"))
            .filter(|r| {
                self.decide_for_rel(std::slice::from_ref(r), obj, act, rel)
                    .allowed
            })
            .map(|r| r.trim_start_matches("role:").to_string())
            .collect()
    }

    /// Reloads if the files changed since they were last looked at. `Ok(true)` when a new policy
    /// is now in force; `Err` (a [`Refused`] for a policy that would lock every administrator
    /// out) when the edit was refused and the last good policy stays in force. Governed by a
    /// database, the new policy is activated there first (audited, workflows re-evaluated).
    pub async fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let mut seen = self.reloading.lock().await;
        let fingerprint = fingerprint(&self.dir)?;
        if fingerprint == *seen {
            return Ok(false);
        }
        if fingerprint == self.snapshot().fingerprint {
            *seen = fingerprint;
            return Ok(false);
        }
        // A refused edit is looked at again only once the files change again.
        *seen = fingerprint;
        let proposed = Policy::of(&self.dir, load(&self.dir).await?);
        admins::check_lockout(self, &proposed).map_err(|reason| Refused {
            version: proposed.version(),
            reason,
        })?;
        match self.governed.get() {
            Some(db) => {
                let source = self.dir.display().to_string();
                let activated =
                    crate::governance::activate(db, self, self, &proposed, &source).await;
                if let Err(e) = activated {
                    // Not the edit's fault: try again at the next look.
                    *seen = [0; 32];
                    anyhow::bail!("activating the new policy: {e}");
                }
            }
            None => self.install_from(&proposed),
        }
        Ok(true)
    }

    /// Polls the policy files every second until the process ends (ungoverned policies; a
    /// governed one is watched by `governance::spawn`).
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

/// The casbin subjects a caller is checked as: `user:<sub>` and `role:<r>` for each role.
fn casbin_subjects(subject: &Subject) -> Vec<String> {
    let mut subjects = vec![format!("user:{}", subject.sub)];
    subjects.extend(subject.roles.iter().map(|r| format!("role:{r}")));
    subjects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_is_own_then_same_team_then_other() {
        let me = |team: Option<&str>| Subject {
            sub: "alice".into(),
            roles: vec![],
            team: team.map(str::to_string),
        };
        let pats = Owner::new("pat", Some("platform"));
        assert_eq!(relation(&me(Some("platform")), None), Relation::None);
        assert_eq!(
            relation(&me(None), Some(&Owner::new("alice", None))),
            Relation::Own
        );
        assert_eq!(relation(&me(Some("platform")), Some(&pats)), Relation::Team);
        assert_eq!(
            relation(&me(Some("marketing")), Some(&pats)),
            Relation::Other
        );
        assert_eq!(relation(&me(None), Some(&pats)), Relation::Other);
        // No team on either side is not "the same team".
        let teamless = Owner::new("pat", None);
        assert_eq!(relation(&me(None), Some(&teamless)), Relation::Other);
        assert_eq!(
            relation(&me(Some(" ")), Some(&Owner::new("pat", Some(" ")))),
            Relation::Other
        );
    }
}
