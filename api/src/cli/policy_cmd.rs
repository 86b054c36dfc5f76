//! `switchyard policy test` and `policy explain`.

use crate::config::Config;
use crate::policy::{self, Policy, Relation};
use std::process::ExitCode;

use super::PolicyCommand;

pub(super) async fn run_policy(
    config: &Config,
    command: PolicyCommand,
) -> anyhow::Result<ExitCode> {
    let engine = Policy::load(&config.policy_dir).await?;
    match command {
        PolicyCommand::Test => {
            let cases = policy::read_cases(&config.policy_dir)?;
            let mut failed = 0;
            for case in &cases {
                let d = engine.decide_for_rel(
                    std::slice::from_ref(&case.subject),
                    &case.object,
                    &case.action,
                    case.relation,
                );
                if d.allowed != case.expected {
                    failed += 1;
                    println!(
                        "FAIL tests.csv:{}: {} {} {} ({}) expected {} got {} ({})",
                        case.line,
                        case.subject,
                        case.action,
                        case.object,
                        case.relation.as_str(),
                        if case.expected { "allow" } else { "deny" },
                        if d.allowed { "allow" } else { "deny" },
                        d.rule.as_deref().unwrap_or("no rule matched")
                    );
                }
            }
            println!("{} passed, {failed} failed", cases.len() - failed);
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        PolicyCommand::Explain {
            sub,
            roles,
            obj,
            act,
            rel,
        } => {
            let Some(rel) = Relation::parse(&rel) else {
                anyhow::bail!("--rel: `{rel}` is not a relation; use own, team, other or none");
            };
            // The subject exactly as written, as `policy test` takes tests.csv's (and as casbin
            // readers do): `role:x`, `user:x`, `flows`. `--role` adds the caller's roles.
            let mut subjects = vec![sub.clone()];
            subjects.extend(roles.iter().map(|r| format!("role:{r}")));
            let d = engine.decide_for_rel(&subjects, &obj, &act, rel);
            println!("{}", if d.allowed { "allow" } else { "deny" });
            match d.rule {
                Some(rule) => println!("  decided by {rule}"),
                None => println!(
                    "  no rule allows {} to {act} {obj} (relation {}): denied by default",
                    subjects.join(" + "),
                    rel.as_str()
                ),
            }
            if !d.allowed && !sub.contains(':') && sub != "flows" {
                println!(
                    "  note: subjects are taken as written; a person is `user:{sub}`, a role `role:NAME`"
                );
            }
            if !d.allowed {
                let who = engine.roles_allowed_rel(&obj, &act, rel);
                if !who.is_empty() {
                    println!("  roles that may: {}", who.join(", "));
                }
            }
            Ok(if d.allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
