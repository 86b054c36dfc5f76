//! Who administers Switchyard, as the policy says: the subjects (roles and users named in the
//! rules) allowed every administrative probe — reading the policy and the audit log. A reload
//! that leaves none of today's administrators with those rights would lock everyone out of
//! fixing it through the API, so it is refused and the last good policy stays in force.

use super::Policy;

/// (object, action) pairs an administrator must be allowed.
pub const ADMIN_PROBES: &[(&str, &str)] = &[("policy:files", "read"), ("audit:log", "read")];

/// The subjects of `policy` (`role:…`, `user:…`) allowed every administrative probe.
pub fn administrators(policy: &Policy) -> Vec<String> {
    policy
        .subjects()
        .into_iter()
        .filter(|s| s.starts_with("role:") || s.starts_with("user:"))
        .filter(|s| {
            ADMIN_PROBES
                .iter()
                .all(|(obj, act)| policy.decide_for(std::slice::from_ref(s), obj, act).allowed)
        })
        .collect()
}

/// `Err(reason)` when `proposed` leaves none of `current`'s administrators one.
pub(super) fn check_lockout(current: &Policy, proposed: &Policy) -> Result<(), String> {
    let today = administrators(current);
    if today.is_empty() {
        return Ok(());
    }
    let kept = today.iter().any(|s| {
        ADMIN_PROBES.iter().all(|(obj, act)| {
            proposed
                .decide_for(std::slice::from_ref(s), obj, act)
                .allowed
        })
    });
    if kept {
        return Ok(());
    }
    let probes: Vec<String> = ADMIN_PROBES
        .iter()
        .map(|(o, a)| format!("`{a}` `{o}`"))
        .collect();
    Err(format!(
        "refused: the edit would lock every administrator out — none of {} would still be allowed {}; the last good policy stays in force",
        today.join(", "),
        probes.join(" and ")
    ))
}
