//! The policy directory's text files as data: `policy.csv` rules validated line by line, and the
//! expected decisions of `tests.csv`. Parsing only; deciding is the enforcer's job (`policy`).
//!
//! Never accepts an identifier outside a small alphabet, so no rule can smuggle an expression
//! into the casbin matcher.

use super::{POLICY_FILE, Relation, TESTS_FILE};
use std::path::Path;

/// Scopes a `p` rule may carry: whose objects it covers, relative to the caller.
pub const SCOPES: &[&str] = &["any", "own", "team"];

/// Validates `policy.csv` line by line: `p, subject, object, action, scope, allow|deny` or
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
            "p" => check_p_rule(&fields).map_err(bad)?,
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

fn check_p_rule(fields: &[String]) -> Result<(), String> {
    if fields.len() != 6 {
        return Err(format!(
            "a `p` rule has 6 fields (p, subject, object, action, scope, effect), found {}",
            fields.len()
        ));
    }
    if !SCOPES.contains(&fields[4].as_str()) {
        return Err(format!(
            "scope must be `any`, `own` or `team`, found `{}`",
            fields[4]
        ));
    }
    if fields[5] != "allow" && fields[5] != "deny" {
        return Err(format!(
            "effect must be `allow` or `deny`, found `{}`",
            fields[5]
        ));
    }
    Ok(())
}

/// One row of `tests.csv`.
#[derive(Debug, Clone)]
pub struct PolicyCase {
    pub line: usize,
    pub subject: String,
    pub object: String,
    pub action: String,
    pub relation: Relation,
    pub expected: bool,
}

/// Reads `tests.csv`: `subject, object, action, relation, allow|deny` (a header row and `#`
/// comments are skipped).
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
            f.len() == 5,
            "{TESTS_FILE}:{}: expected 5 fields (subject, object, action, relation, expected), found {}",
            i + 1,
            f.len()
        );
        let relation = Relation::parse(f[3]).ok_or_else(|| {
            anyhow::anyhow!(
                "{TESTS_FILE}:{}: relation must be `own`, `team`, `other` or `none`, found `{}`",
                i + 1,
                f[3]
            )
        })?;
        let expected = match f[4] {
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
            relation,
            expected,
        });
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_policy_lines_are_named() {
        let err = parse_policy("p, role:a, x, read, allow\n").expect_err("5 fields");
        assert!(err.to_string().contains("policy.csv:1"), "{err}");
        assert!(err.to_string().contains("scope"), "{err}");
        let err = parse_policy("# c\np, role:a, x, read, any, maybe\n").expect_err("bad effect");
        assert!(err.to_string().contains("policy.csv:2"), "{err}");
        let err = parse_policy("p, role:a, x, read, mine, allow\n").expect_err("bad scope");
        assert!(err.to_string().contains("scope must be"), "{err}");
        let err = parse_policy("p, role:a, x y, read, any, allow\n").expect_err("bad chars");
        assert!(err.to_string().contains("may only contain"), "{err}");
    }
}
