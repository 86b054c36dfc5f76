//! `switchyard policy test`, `policy explain` and `policy diff`.

use crate::config::Config;
use crate::policy::{self, Policy, Relation};
use std::process::ExitCode;

use super::PolicyCommand;

pub(super) async fn run_policy(
    config: &Config,
    command: PolicyCommand,
) -> anyhow::Result<ExitCode> {
    if let PolicyCommand::Diff { against, format } = command {
        return diff(config, &against, format).await;
    }
    let engine = Policy::load(&config.policy_dir).await?;
    match command {
        PolicyCommand::Diff { .. } => unreachable!("handled above"),
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

/// `policy diff --against DIR`: the proposal in DIR against the version in force (the newest in
/// the database of an existing installation, else the files of `--policy-dir`).
async fn diff(
    config: &Config,
    against: &std::path::Path,
    format: crate::contracts::cli::Format,
) -> anyhow::Result<ExitCode> {
    let proposed = match Policy::load(against).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --against {}: {e:#}", against.display());
            return Ok(ExitCode::from(2));
        }
    };
    let db = crate::db::open_existing(&config.database_url).await.ok();
    let stored = match &db {
        Some(db) => crate::governance::versions::newest(db).await.ok().flatten(),
        None => None,
    };
    let current = match stored {
        Some(row) => Policy::from_texts(&config.policy_dir, &row.model, &row.policy).await?,
        None => Policy::load(&config.policy_dir).await?,
    };
    let impact = crate::governance::impact::impact(db.as_ref(), &current, &proposed)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match format {
        crate::contracts::cli::Format::Json => {
            println!("{}", serde_json::to_string_pretty(&impact)?);
        }
        crate::contracts::cli::Format::Text => {
            print!("{}", crate::governance::impact::render(&impact));
            if db.is_none() {
                println!("(no installation at this database: live workflows were not checked)");
            }
        }
    }
    Ok(if impact.blocking() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
