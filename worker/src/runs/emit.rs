//! `emit` steps: workflows starting workflows. A run emits an event — a completion or business
//! event such as `event.audience_published` — as ingestion would accept it: checked against its
//! contract version (a `block` contract refuses a violating event, which fails the run; a `flag`
//! contract stores it flagged), then stored in the run's own transaction and fanned out to every
//! live workflow triggered by that contract (`fanout`).
//!
//! The loop guard: each emitted event carries its chain, the instances it went through, oldest
//! first. A run whose instance is already in its input's chain (a cycle) or whose chain would
//! grow past `execution.max_chain_depth` fails with the chain in its error and emits nothing,
//! and fan-out never starts an instance the chain went through. Cycles between instances are
//! also refused up front, when a workflow is created, resumed or moved to another version.
//!
//! The emitted event's id is derived from the run's identity and the step, so a run recorded
//! twice (a repeated job) emits the same event once.

use super::cel;
use super::interpret::Input;
use super::steps::{self, Done, RunState};
use entity::documents::contract::{ContractDef, Enforcement};
use entity::documents::record::Decision;
use entity::documents::template::{EmitConfig, Step};
use entity::instance;
use entity::status::RunStatus;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The contract version an `emit` step emits, ready to check payloads.
pub struct Target {
    pub contract: String,
    pub version: String,
    pub version_id: i64,
    pub enforcement: Enforcement,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.contract, self.version)
    }
}

/// Reads and compiles the contract version `cfg` emits (the current one when it names none);
/// the inner error says why it cannot be emitted.
pub async fn target(
    db: &impl ConnectionTrait,
    cfg: &EmitConfig,
) -> Result<Result<Target, String>, DbErr> {
    let row = match &cfg.version {
        Some(v) => crate::catalog::version(db, "contract", &cfg.contract, v).await?,
        None => crate::catalog::current(db, "contract", &cfg.contract).await?,
    };
    Ok(compile_target(cfg, row))
}

fn compile_target(
    cfg: &EmitConfig,
    row: Option<entity::catalog_version::Model>,
) -> Result<Target, String> {
    let row = row.ok_or_else(|| {
        format!(
            "contract {} {} is not in the catalog",
            cfg.contract,
            cfg.version.as_deref().unwrap_or("(current)")
        )
    })?;
    if !matches!(row.lifecycle.as_str(), "published" | "deprecated") {
        return Err(format!(
            "contract {} {} is {} and takes no events",
            cfg.contract, row.version, row.lifecycle
        ));
    }
    let def = ContractDef::parse(&row.definition).map_err(|e| e.to_string())?;
    let validator = crate::schema::compile(&def.schema)?;
    Ok(Target {
        contract: cfg.contract.clone(),
        version: row.version,
        version_id: row.id,
        enforcement: def.enforcement,
        validator,
    })
}

/// An event a run emits, recorded with the run (`commit`).
#[derive(Debug, Clone)]
pub struct Emitted {
    pub id: String,
    pub contract: String,
    pub version: String,
    pub version_id: i64,
    /// It broke its `flag`-mode contract (stored `flagged`).
    pub flagged: bool,
    pub payload: Value,
    /// The instances its chain went through, this run's last.
    pub chain: Vec<i64>,
    /// What it broke of a `flag` contract: (pointer, rule, message), counted as drift.
    pub violations: Vec<(String, String, String)>,
}

impl Emitted {
    /// The event row (its parent run is set when the run is recorded).
    pub fn row(&self, parent_run: i64) -> entity::event::ActiveModel {
        use sea_orm::Set;
        let now = entity::clock::now_string();
        entity::event::ActiveModel {
            id: Set(self.id.clone()),
            event_type: Set(self.contract.clone()),
            contract_version_id: Set(self.version_id),
            version: Set(self.version.clone()),
            occurred_at: Set(now.clone()),
            received_at: Set(now),
            source: Set(Some(format!(
                "workflow:{}",
                self.chain.last().copied().unwrap_or_default()
            ))),
            write_key_id: Set(None),
            status: Set(if self.flagged { "flagged" } else { "accepted" }.into()),
            payload: Set(self.payload.to_string()),
            subject: Set(entity::event::subject_of(&self.payload)),
            parent_run_id: Set(Some(parent_run)),
            chain: Set(Some(
                serde_json::to_string(&self.chain).unwrap_or_else(|_| "[]".into()),
            )),
        }
    }
}

/// `evt_` + 32 hex digits of SHA-256(instance, run identity, step): one event per run and step.
pub fn event_id(instance_id: i64, trigger_key: &str, step_id: &str) -> String {
    let digest = Sha256::digest(format!(
        "emit\x1f{instance_id}\x1f{trigger_key}\x1f{step_id}"
    ));
    format!("evt_{}", &hex::encode(digest)[..32])
}

/// A chain in words: `instance 3 → instance 7`.
fn describe(chain: &[i64]) -> String {
    chain
        .iter()
        .map(|i| format!("instance {i}"))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Runs an `emit` step: builds the payload, applies the loop guard, checks the contract.
pub fn emit(
    target: Result<&Target, String>,
    inst: &instance::Model,
    input: &Input,
    step: &Step,
    cfg: &EmitConfig,
    st: &RunState,
    max_depth: usize,
) -> (Option<Emitted>, Done) {
    let fail = |detail: String| {
        (
            None,
            Done::stop(RunStatus::Failed, Decision::Failed, detail),
        )
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => return fail(format!("step {}: cannot emit: {e}", step.id)),
    };
    if input.chain.contains(&inst.id) {
        return fail(format!(
            "step {}: loop refused: this workflow (instance {}) already ran in this chain ({}); {} not emitted",
            step.id,
            inst.id,
            describe(&input.chain),
            cfg.contract
        ));
    }
    let mut chain = input.chain.clone();
    chain.push(inst.id);
    if chain.len() > max_depth {
        return fail(format!(
            "step {}: chain too deep: {} would be the {}th workflow in a chain ({}), more than execution.max_chain_depth = {max_depth}; {} not emitted",
            step.id,
            inst.id,
            chain.len(),
            describe(&chain),
            cfg.contract
        ));
    }
    let payload = if cfg.fields.is_empty() && cfg.computed.is_empty() {
        st.event.clone()
    } else {
        let mut out = Map::new();
        for (name, from) in &cfg.fields {
            if let Some(v) = steps::path(&st.event, from) {
                out.insert(name.clone(), v.clone());
            }
        }
        for (name, expr) in &cfg.computed {
            match cel::eval(expr, &st.event, &st.params) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err(e) if e.contains("No such key") => {}
                Err(e) => {
                    return fail(format!("step {} computed field {name}: {e}", step.id));
                }
            }
        }
        Value::Object(out)
    };
    let found: Vec<(String, String, String)> = target
        .validator
        .iter_errors(&payload)
        .take(10)
        .map(|e| {
            (
                format!("/payload{}", e.instance_path()),
                e.kind().keyword().to_string(),
                e.to_string(),
            )
        })
        .collect();
    let violations: Vec<String> = found
        .iter()
        .map(|(pointer, _, message)| format!("{pointer}: {message}"))
        .collect();
    if !violations.is_empty() && target.enforcement == Enforcement::Block {
        return fail(format!(
            "step {}: the {} event it emits breaks contract {} {}: {}",
            step.id,
            target.contract,
            target.contract,
            target.version,
            violations.join("; ")
        ));
    }
    let id = event_id(inst.id, &input.trigger_key, &step.id);
    let fields: Vec<&String> = payload
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let detail = format!(
        "emitted {} {} as {id} (chain {}){}",
        target.contract,
        target.version,
        describe(&chain),
        if violations.is_empty() {
            String::new()
        } else {
            format!("; flagged: {}", violations.join("; "))
        }
    );
    let data = json!({"event": id, "contract": target.contract, "version": target.version,
                      "fields": fields, "chain": chain, "violations": violations});
    let emitted = Emitted {
        id,
        contract: target.contract.clone(),
        version: target.version.clone(),
        version_id: target.version_id,
        flagged: !violations.is_empty(),
        payload,
        chain,
        violations: found,
    };
    (Some(emitted), Done::go(Decision::Emitted, detail, data))
}

/// Stores the events `runs` emitted, each with its parent run, and stages the runs they start
/// (in the caller's transaction). Returns the jobs staged claimed by `claim`.
pub async fn record<C: ConnectionTrait>(
    tx: &C,
    emitted: &[(i64, Emitted)],
    claim: Option<&(String, i64)>,
) -> Result<Vec<crate::queue::Claimed>, DbErr> {
    use sea_orm::EntityTrait;
    if emitted.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<entity::event::ActiveModel> =
        emitted.iter().map(|(run, e)| e.row(*run)).collect();
    let mut inserted = std::collections::HashSet::new();
    for chunk in rows.chunks(200) {
        if let sea_orm::TryInsertResult::Inserted(keys) =
            entity::event::Entity::insert_many(chunk.to_vec())
                .on_conflict_do_nothing_on([entity::event::Column::Id])
                .exec_with_returning_keys(tx)
                .await?
        {
            inserted.extend(keys);
        }
    }
    let stored: Vec<super::fanout::Stored<'_>> = emitted
        .iter()
        .filter(|(_, e)| inserted.contains(&e.id))
        .map(|(_, e)| super::fanout::Stored {
            trace: None,
            id: &e.id,
            contract: &e.contract,
            version: &e.version,
            chain: &e.chain,
        })
        .collect();
    // A `flag` contract's violations count as drift, as they do for ingested events.
    let mut drift = crate::drift::Drift::new();
    for (_, e) in emitted.iter().filter(|(_, e)| inserted.contains(&e.id)) {
        crate::drift::observe(
            &mut drift,
            &e.contract,
            &e.version,
            e.violations
                .iter()
                .map(|(pointer, rule, message)| crate::drift::Violation {
                    pointer,
                    rule,
                    message,
                }),
        );
    }
    crate::drift::record(tx, &drift).await?;
    let refs: Vec<&super::fanout::Stored<'_>> = stored.iter().collect();
    let (_, claimed) = super::fanout::fan_out(tx, &refs, claim).await?;
    Ok(claimed)
}
