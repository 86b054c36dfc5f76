//! The `switchyard` command line. Every subcommand accepts the same `--config`, `--data-dir`,
//! `--database-url`, `--policy-dir` and `--catalog-dir` options, so they all see the same
//! database and keys as `serve`.
//!
//! Exit codes: 0 success, 1 a check failed (policy test mismatch, audit tampering), 2 an error
//! (bad input, unreachable database).

mod audit_cmd;
mod policy_cmd;

use crate::audit::Actor;
use crate::auth::Authenticator;
use crate::catalog::seed;
use crate::config::{CommonArgs, Config};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Switchyard: the governed integration catalog for marketing and sales operations",
    long_about = "Switchyard serves a GraphQL catalog of connectors, workflow templates and data \
contracts, decides who may do what with casbin policy files, and records every change in a \
tamper-evident audit log.\n\nStart here: `switchyard serve`, then `switchyard token --sub alice --role marketer`."
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API, the web UI and the embedded background workers.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SWITCHYARD_LISTEN")]
        listen: Option<SocketAddr>,
        /// Do not run background work in this process (scale-out API nodes).
        #[arg(long)]
        no_workers: bool,
    },
    /// Run background workers only: run workflow steps, scheduled syncs and deliveries.
    /// Start several on one PostgreSQL to scale out; each claims its own jobs.
    Worker {
        /// Delivery attempts this process makes at once (default from `[execution] concurrency`, 64).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Address of the worker's health endpoint (`/healthz`, `/readyz`, `/metrics`).
        #[arg(long, env = "SWITCHYARD_WORKER_HEALTH_LISTEN")]
        health_listen: Option<SocketAddr>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Mint a development JWT signed with the configured HS256 key.
    Token {
        /// Subject (user name) of the token.
        #[arg(long)]
        sub: String,
        /// Role to grant; repeat for several: platform_admin, platform_engineer, data_engineer,
        /// marketer, sales_ops, approver, operator, compliance, viewer (the roles of
        /// `policies/policy.csv`).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Team of the subject (the token's `team` claim), e.g. `marketing`.
        #[arg(long)]
        team: Option<String>,
        /// Lifetime: `90s`, `30m`, `1h`, `7d`.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Test and explain the casbin policy in the policy directory.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Verify and export the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check a proposed data contract version against the registry (for CI), or print one.
    Contract {
        #[command(subcommand)]
        command: ContractCommand,
    },
    /// Manage the catalog from files.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run every case in tests.csv; exit 1 if any decision differs from the expected one.
    Test,
    /// Say whether a subject may perform an action on an object, and which rule decided.
    Explain {
        /// The subject exactly as rules and tests.csv write it (as `policy test` and any casbin
        /// reader take it): `role:NAME`, `user:NAME`, or `flows`; combine with --role for a
        /// person's roles.
        #[arg(long)]
        sub: String,
        /// Roles of the user (repeatable), as a token would carry them: platform_admin,
        /// platform_engineer, data_engineer, marketer, sales_ops, approver, operator,
        /// compliance, viewer.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Object, e.g. `catalog:template:lead-capture`.
        #[arg(long)]
        obj: String,
        /// Action, e.g. `read`, `publish`, `instantiate`.
        #[arg(long)]
        act: String,
        /// The caller's relation to the object's owner: `own`, `team`, `other`, or `none` for
        /// objects nobody owns.
        #[arg(long, default_value = "none")]
        rel: String,
    },
    /// Show what the policy files in DIR would change against the policy in force: rules added
    /// and removed, live workflows blocked or narrowed (the fields each destination would lose),
    /// and who would gain or lose the right to instantiate which templates, each with the
    /// deciding rule. Exit 0 nothing blocked, 1 something live would be blocked (or the reload
    /// would refuse it), 2 bad input.
    Diff {
        /// Directory with the proposed model.conf and policy.csv.
        #[arg(long)]
        against: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: crate::contracts::cli::Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 1 naming the first bad entry if anything was edited, deleted,
    /// reordered or truncated.
    Verify {
        /// A checkpoint (JSON, or an `audit export` file whose last line is one) to check the
        /// log against: catches a truncated or recomputed chain.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Trusted public key (hex) of the checkpoint signer; default: the configured audit key.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print entries as JSON lines, then a freshly signed checkpoint line `{"checkpoint":…}`.
    Export {
        /// Only entries at or after this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
    },
    /// Sign and store a checkpoint of the current chain head, and print it.
    Checkpoint,
}

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Check FILE (a contract document, YAML or JSON) against the registered versions and
    /// consumers. Exit 0 compatible, 1 breaking, 2 bad input.
    Check {
        file: PathBuf,
        /// A running server's base URL (token from SWITCHYARD_TOKEN); default: the database.
        #[arg(long)]
        against: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: crate::contracts::cli::Format,
    },
    /// Print a registered contract version as a document `contract check` accepts.
    Show {
        name: String,
        #[arg(long)]
        version: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Validate and apply every catalog file in DIR (connectors/, contracts/, templates/),
    /// all or nothing.
    Apply { dir: PathBuf },
    /// Print what `catalog apply DIR` would change — new versions, lifecycle differences,
    /// compatibility verdicts of new contract versions with the consumers they break — without
    /// writing anything. Exit 1 when something would break (apply would refuse, or a consumer
    /// would break), so a pull request on the catalog can be gated.
    Diff { dir: PathBuf },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _telemetry = crate::telemetry::init(cli.common.log_format.unwrap_or_default());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let listen = match &cli.command {
        Command::Serve { listen, .. } => *listen,
        _ => None,
    };
    let config = Config::load(&cli.common, listen)?;
    match cli.command {
        Command::Serve { no_workers, .. } => {
            crate::server::serve(config, !no_workers).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker {
            concurrency,
            health_listen,
        } => {
            crate::server::worker(config, concurrency, health_listen).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let db = crate::db::connect(&config.database_url).await?;
            crate::db::migrate(&db).await?;
            println!(
                "migrations applied to {}",
                crate::config::mask_url(&config.database_url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            sub,
            roles,
            team,
            ttl,
        } => {
            let auth = Authenticator::from_config(&config)?;
            let team = team.filter(|t| !t.trim().is_empty());
            println!(
                "{}",
                auth.mint_with_team(&sub, &roles, team.as_deref(), parse_ttl(&ttl)?)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy { command } => policy_cmd::run_policy(&config, command).await,
        Command::Contract { command } => Ok(run_contract(&config, command).await),
        Command::Audit { command } => audit_cmd::run_audit(&config, command).await,
        Command::Catalog {
            command: CatalogCommand::Apply { dir },
        } => {
            let docs = seed::load_dir(&dir)?;
            let db = crate::db::connect(&config.database_url).await?;
            crate::db::migrate(&db).await?;
            let report = seed::apply(&db, &Actor::system("catalog-apply"), &docs).await?;
            for created in &report.created {
                println!("created {created}");
            }
            println!(
                "{} created, {} unchanged",
                report.created.len(),
                report.unchanged
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Catalog {
            command: CatalogCommand::Diff { dir },
        } => {
            let docs = seed::load_dir(&dir)?;
            let db = crate::db::open_existing(&config.database_url)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            let report = seed::diff(&db, &docs).await?;
            for line in &report.lines {
                println!("{line}");
            }
            println!(
                "{} new, {} unchanged, {} lifecycle changes, {} breaking",
                report.new_versions, report.unchanged, report.lifecycle_changes, report.breaking
            );
            Ok(if report.breaking > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

async fn run_contract(config: &Config, command: ContractCommand) -> ExitCode {
    use crate::contracts::cli as c;
    let mut json_errors = false;
    let result = match command {
        ContractCommand::Check {
            file,
            against,
            format,
        } => {
            json_errors = format == c::Format::Json;
            let checked = match c::read_doc(&file) {
                Ok((doc, _)) => match against {
                    Some(url) => c::check_remote(&url, &doc).await,
                    None => c::check_db(config, &doc).await,
                },
                Err(e) => Err(e),
            };
            checked.map(|report| c::print(&report, format))
        }
        ContractCommand::Show { name, version } => c::show(config, &name, version.as_deref())
            .await
            .map(|yaml| {
                print!("{yaml}");
                ExitCode::SUCCESS
            }),
    };
    result.unwrap_or_else(|c::BadInput(msg)| {
        if json_errors {
            // CI reads stdout: a JSON object there too, never a half-empty document.
            let error = serde_json::json!({
                "error": { "code": crate::error::Code::BadUserInput.as_str(), "message": msg },
                "exitCode": 2,
            });
            println!("{error:#}");
        }
        eprintln!("error: {msg}");
        ExitCode::from(2)
    })
}

/// `90s`, `30m`, `1h`, `7d`, or plain seconds.
pub fn parse_ttl(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--ttl: `{s}` is not a duration like 30m, 1h or 7d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("--ttl: unit `{unit}` is not one of s, m, h, d"),
    };
    anyhow::ensure!(n > 0 && n <= 365, "--ttl: must be between 1 and 365 units");
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90s").ok(), Some(90));
        assert_eq!(parse_ttl("30m").ok(), Some(1800));
        assert_eq!(parse_ttl("1h").ok(), Some(3600));
        assert_eq!(parse_ttl("7d").ok(), Some(604_800));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("abc").is_err());
    }
}
