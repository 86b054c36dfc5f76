//! Where a token carries its roles and team, as identity providers put them: a top-level
//! `roles` (Switchyard's own tokens), Keycloak's `realm_access.roles`, Okta's `groups`, or an
//! Auth0-style namespaced claim such as `https://example.com/roles`; optionally mapped from the
//! provider's group or role names to Switchyard roles. Never logs claim values.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Roles a token may carry; more are ignored (the token size limit bounds them anyway).
const MAX_ROLES: usize = 64;

/// How claims become roles and a team (`[auth]` `roles_claim`, `role_map`, `team_claim`).
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    roles_claim: String,
    role_map: BTreeMap<String, String>,
    team_claim: String,
}

impl ClaimMapping {
    pub fn new(roles_claim: &str, role_map: &BTreeMap<String, String>, team_claim: &str) -> Self {
        Self {
            roles_claim: roles_claim.to_string(),
            role_map: role_map.clone(),
            team_claim: team_claim.to_string(),
        }
    }

    /// The Switchyard roles in `claims`: the strings at the roles claim (a list, or one string
    /// of space-separated names), through `role_map` when one is configured — then names it
    /// does not list grant nothing.
    pub fn roles(&self, claims: &Map<String, Value>) -> Vec<String> {
        let mut roles: Vec<String> = Vec::new();
        for name in strings(lookup(claims, &self.roles_claim)) {
            let role = if self.role_map.is_empty() {
                Some(name)
            } else {
                self.role_map.get(&name).cloned()
            };
            if let Some(role) = role
                && !roles.contains(&role)
                && roles.len() < MAX_ROLES
            {
                roles.push(role);
            }
        }
        roles
    }

    /// The team at the team claim: a string, or the first string of a list; blank is none.
    pub fn team(&self, claims: &Map<String, Value>) -> Option<String> {
        let team = match lookup(claims, &self.team_claim)? {
            Value::String(s) => s.as_str(),
            Value::Array(items) => items.iter().find_map(Value::as_str)?,
            _ => return None,
        };
        let team = team.trim();
        (!team.is_empty()).then(|| team.to_string())
    }

    /// Puts `roles` (Switchyard names) where [`roles`](Self::roles) reads them, translated back
    /// through `role_map`, for `switchyard token`. Fails naming a role nothing maps to.
    pub fn insert_roles(
        &self,
        claims: &mut Map<String, Value>,
        roles: &[String],
    ) -> Result<(), String> {
        let mut names = Vec::new();
        for role in roles {
            let name = if self.role_map.is_empty() {
                role.clone()
            } else {
                self.role_map
                    .iter()
                    .find(|(_, r)| *r == role)
                    .map(|(name, _)| name.clone())
                    .ok_or_else(|| format!("--role: no name in auth.role_map maps to `{role}`"))?
            };
            names.push(Value::String(name));
        }
        insert(claims, &self.roles_claim, Value::Array(names));
        Ok(())
    }

    /// Puts `team` at the team claim (for `switchyard token`).
    pub fn insert_team(&self, claims: &mut Map<String, Value>, team: &str) {
        insert(claims, &self.team_claim, Value::String(team.to_string()));
    }
}

/// The value at `path`: a claim named exactly `path` (namespaced claims such as
/// `https://example.com/roles` contain dots), else the dotted path through nested objects.
fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Writes `value` at `path`: a URL-like (namespaced) or dot-free path is one claim, otherwise
/// nested objects are created along the dots.
fn insert(claims: &mut Map<String, Value>, path: &str, value: Value) {
    if path.contains("://") || !path.contains('.') {
        claims.insert(path.to_string(), value);
        return;
    }
    let parts: Vec<&str> = path.split('.').collect();
    let (last, parents) = match parts.split_last() {
        Some(split) => split,
        None => return,
    };
    let mut map = claims;
    for part in parents {
        let entry = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Some(next) = entry.as_object_mut() else {
            return;
        };
        map = next;
    }
    map.insert(last.to_string(), value);
}

/// The strings of a claim: a list's string items, or a string's space-separated words.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn roles_come_from_a_path_a_namespaced_claim_or_a_string() {
        let none = BTreeMap::new();
        let keycloak = ClaimMapping::new("realm_access.roles", &none, "team");
        let c = claims(json!({ "realm_access": { "roles": ["marketer", "offline_access"] } }));
        assert_eq!(keycloak.roles(&c), ["marketer", "offline_access"]);
        let auth0 = ClaimMapping::new("https://example.com/roles", &none, "team");
        let c = claims(json!({ "https://example.com/roles": ["compliance"] }));
        assert_eq!(auth0.roles(&c), ["compliance"]);
        let plain = ClaimMapping::new("roles", &none, "team");
        assert_eq!(
            plain.roles(&claims(json!({ "roles": "viewer marketer" }))),
            ["viewer", "marketer"]
        );
        assert!(plain.roles(&claims(json!({ "roles": 7 }))).is_empty());
    }

    #[test]
    fn a_role_map_translates_and_drops_unmapped_names() {
        let map = BTreeMap::from([("Marketing".to_string(), "marketer".to_string())]);
        let okta = ClaimMapping::new("groups", &map, "team");
        let c = claims(json!({ "groups": ["Everyone", "Marketing", "Marketing"] }));
        assert_eq!(okta.roles(&c), ["marketer"]);
        let mut minted = Map::new();
        okta.insert_roles(&mut minted, &["marketer".into()])
            .expect("mapped");
        assert_eq!(minted["groups"], json!(["Marketing"]));
        assert!(
            okta.insert_roles(&mut minted, &["compliance".into()])
                .is_err()
        );
    }

    #[test]
    fn teams_come_from_a_path_and_blank_is_none() {
        let none = BTreeMap::new();
        let m = ClaimMapping::new("roles", &none, "org.team");
        assert_eq!(
            m.team(&claims(json!({ "org": { "team": "emea" } }))),
            Some("emea".into())
        );
        assert_eq!(m.team(&claims(json!({ "org": { "team": " " } }))), None);
        let groups = ClaimMapping::new("roles", &none, "groups");
        let c = claims(json!({ "groups": ["EMEA Sales", "Everyone"] }));
        assert_eq!(groups.team(&c), Some("EMEA Sales".into()));
        let mut minted = Map::new();
        m.insert_team(&mut minted, "emea");
        m.insert_roles(&mut minted, &[]).expect("no roles");
        assert_eq!(minted["org"]["team"], "emea");
    }
}
