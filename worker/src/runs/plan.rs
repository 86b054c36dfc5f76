//! A template version prepared for running: its typed definition, and the key fields of the
//! contracts it reads and writes (which make delivery identities and destination keys).
//! Published versions never change, so plans are cached for the life of the process.

use crate::engine::lock;
use entity::documents::contract::ContractDef;
use entity::documents::template::{StepKind, TemplateDef};
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct Plan {
    pub template: String,
    pub version: String,
    pub def: TemplateDef,
    /// The contract of the run's input (the trigger's, or the first one read).
    pub input_contract: Option<String>,
    /// Its key fields: what makes two inputs "the same record".
    pub input_key_fields: Vec<String>,
    /// Object (contract name) → key fields, for the key sent to destinations.
    pub object_keys: HashMap<String, Vec<String>>,
    /// `emit` step id → the contract version it emits (or why it cannot emit).
    pub emits: HashMap<String, Result<super::emit::Target, String>>,
    /// The loop guard's longest chain (`execution.max_chain_depth`).
    pub max_chain_depth: usize,
}

impl Plan {
    /// The contract version `emit` step `step` emits, or why it cannot emit.
    pub fn emit_target(&self, step: &str) -> Result<&super::emit::Target, String> {
        match self.emits.get(step) {
            Some(Ok(t)) => Ok(t),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!("step {step} is not an emit step")),
        }
    }
}

pub struct PlanCache {
    plans: Mutex<HashMap<(String, String), Arc<Plan>>>,
    max_chain_depth: usize,
}

impl PlanCache {
    pub fn new(max_chain_depth: usize) -> Self {
        Self {
            plans: Mutex::default(),
            max_chain_depth,
        }
    }
}

async fn key_fields(db: &DatabaseConnection, contract: &str) -> Result<Vec<String>, DbErr> {
    let row = crate::catalog::current(db, "contract", contract).await?;
    Ok(row
        .and_then(|v| ContractDef::parse(&v.definition).ok())
        .map(|d| d.key_fields)
        .unwrap_or_default())
}

impl PlanCache {
    /// The prepared version `version` of template `template`.
    pub async fn get(
        &self,
        db: &DatabaseConnection,
        template: &str,
        version: &str,
    ) -> Result<Arc<Plan>, String> {
        let cache_key = (template.to_string(), version.to_string());
        if let Some(p) = lock(&self.plans).get(&cache_key) {
            return Ok(Arc::clone(p));
        }
        let row = crate::catalog::version(db, "template", template, version)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("template {template} {version} is gone"))?;
        let def = TemplateDef::parse(&row.definition)
            .map_err(|e| format!("template {template} {version}: definition.{e}"))?;
        let input_contract = def.input_contract().map(str::to_string);
        let input_key_fields = match &input_contract {
            Some(c) => key_fields(db, c).await.map_err(|e| e.to_string())?,
            None => vec![],
        };
        let mut object_keys = HashMap::new();
        for step in &def.steps {
            if let StepKind::Deliver(cfg) = &step.kind
                && let Some(object) = &cfg.object
                && !object_keys.contains_key(object)
            {
                let keys = key_fields(db, object).await.map_err(|e| e.to_string())?;
                object_keys.insert(object.clone(), keys);
            }
        }
        let mut emits = HashMap::new();
        for step in &def.steps {
            if let StepKind::Emit(cfg) = &step.kind {
                let target = super::emit::target(db, cfg)
                    .await
                    .map_err(|e| e.to_string())?;
                emits.insert(step.id.clone(), target);
            }
        }
        let plan = Arc::new(Plan {
            template: template.to_string(),
            version: version.to_string(),
            def,
            input_contract,
            input_key_fields,
            object_keys,
            emits,
            max_chain_depth: self.max_chain_depth,
        });
        lock(&self.plans).insert(cache_key, Arc::clone(&plan));
        Ok(plan)
    }
}
