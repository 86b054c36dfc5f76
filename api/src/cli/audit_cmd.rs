//! `switchyard audit verify`, `audit export` and `audit checkpoint`.

use crate::audit::{self, Signer};
use crate::config::Config;
use std::io::Write as _;
use std::process::ExitCode;

use super::AuditCommand;

pub(super) async fn run_audit(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let db = crate::db::open_existing(&config.database_url)
        .await
        .map_err(anyhow::Error::msg)?;
    match command {
        AuditCommand::Verify {
            checkpoint,
            public_key,
        } => {
            let report = audit::verify(&db).await?;
            if let Some((seq, problem)) = &report.problem {
                println!("FAIL: audit chain broken at entry {seq}: {problem}");
                return Ok(ExitCode::from(1));
            }
            println!("ok: {} entries, hash chain intact", report.entries);
            if let Some(path) = checkpoint {
                let cp = read_checkpoint(&path)?;
                let trusted = match public_key {
                    Some(hex_key) => {
                        let bytes: [u8; 32] = hex::decode(hex_key.trim())
                            .ok()
                            .and_then(|b| b.try_into().ok())
                            .ok_or_else(|| {
                                anyhow::anyhow!("--public-key: must be 32 bytes of hex")
                            })?;
                        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| {
                            anyhow::anyhow!("--public-key: not an Ed25519 public key")
                        })?
                    }
                    None => Signer::load_or_create(&config.audit_key_file)?.verifying_key(),
                };
                if let Err(e) = audit::verify_checkpoint(&db, &cp, &trusted).await {
                    println!("FAIL: {e}");
                    return Ok(ExitCode::from(1));
                }
                println!(
                    "ok: matches the checkpoint signed at {} (entry {})",
                    cp.signed_at, cp.seq
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { since } => {
            let signer = Signer::load_or_create(&config.audit_key_file)?;
            let filter = audit::AuditFilter {
                since,
                ..Default::default()
            };
            let mut out = std::io::stdout().lock();
            let mut after = 0i64;
            loop {
                let page = audit::list(&db, &filter, after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for row in page {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string(&audit::ExportedEntry::from(row))?
                    )?;
                }
            }
            let cp = audit::checkpoint(&db, &signer).await?;
            writeln!(out, "{}", serde_json::json!({ "checkpoint": cp }))?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let signer = Signer::load_or_create(&config.audit_key_file)?;
            let cp = audit::checkpoint(&db, &signer).await?;
            println!("{}", serde_json::to_string_pretty(&cp)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A checkpoint file: a checkpoint object, `{"checkpoint": …}`, or an export whose last
/// non-empty line is `{"checkpoint": …}`.
fn read_checkpoint(path: &std::path::Path) -> anyhow::Result<audit::Checkpoint> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--checkpoint {}: {e}", path.display()))?;
    let candidate = if text.trim_start().starts_with('{')
        && text.lines().filter(|l| !l.trim().is_empty()).count() > 1
    {
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string()
    } else {
        text
    };
    let value: serde_json::Value = serde_json::from_str(&candidate)
        .map_err(|e| anyhow::anyhow!("--checkpoint {}: not JSON: {e}", path.display()))?;
    let inner = value.get("checkpoint").cloned().unwrap_or(value);
    serde_json::from_value(inner)
        .map_err(|e| anyhow::anyhow!("--checkpoint {}: not a checkpoint: {e}", path.display()))
}
