//! Policy-driven approvals (issue 9, part 5).

use serde::Deserialize;

/// `[approvals]`: how long an approval the policy required stays valid.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalConfig {
    /// `90s`, `30m`, `12h`, `30d`; absent: until revoked.
    pub expire_after: Option<String>,
}

impl ApprovalConfig {
    /// The validity in seconds, `None` for no expiry; `Err` naming the key when malformed.
    pub fn expire_after_seconds(&self) -> Result<Option<i64>, String> {
        self.expire_after
            .as_deref()
            .map(|s| {
                crate::cli::parse_ttl(s).map_err(|e| {
                    format!(
                        "approvals.expire_after: {}",
                        e.to_string().replace("--ttl: ", "")
                    )
                })
            })
            .transpose()
    }
}
