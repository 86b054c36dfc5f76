//! A template version's definition, typed: parameters, trigger, slots, the contract fields it
//! reads, and its steps — each step a variant of [`StepKind`] with its own typed config.
//!
//! Parsed once, when a version is published (an unknown or mistyped key is refused there,
//! naming its path, e.g. `steps[2].config.window`), and again by workers from the stored JSON,
//! which then cannot fail. Nothing here evaluates anything: CEL expressions stay text, checked
//! by the catalog at publish and run by the worker.

use super::DocError;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The step types of the fixed vocabulary, as written in documents.
pub const STEP_TYPES: &[&str] = &[
    "validate", "dedupe", "enrich", "map", "route", "suppress", "approve", "deliver", "notify",
    "delay", "sla", "emit",
];

#[derive(Debug, Clone)]
pub struct TemplateDef {
    pub sensitive: bool,
    pub parameters: Value,
    pub trigger: Trigger,
    pub slots: BTreeMap<String, Slot>,
    pub reads: Vec<Read>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Trigger {
    Event { contract: String, versions: String },
    Schedule { cron: String },
    Manual,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    pub category: String,
    #[serde(default)]
    pub description: String,
    /// When the policy comes to withhold fields from this slot, the workflow keeps running and
    /// sends what remains (narrowed); otherwise it is paused until the owner acts.
    #[serde(default)]
    pub narrow: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Read {
    pub contract: String,
    pub versions: String,
    pub fields: Vec<String>,
}

/// One step: what every step has, plus its kind with the kind's own configuration.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub description: String,
    /// Contract fields the step reads (declared, so data flows can be decided up front).
    pub reads: Vec<String>,
    /// CEL condition; the step is passed over when it is false.
    pub when: Option<String>,
    pub kind: StepKind,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    Validate(ValidateConfig),
    Dedupe(DedupeConfig),
    Enrich(EnrichConfig),
    Route(RouteConfig),
    Suppress(SuppressConfig),
    Map(MapConfig),
    Deliver(DeliverConfig),
    Notify(NotifyConfig),
    Delay(DelayConfig),
    Approve(ApproveConfig),
    Sla(SlaConfig),
    Emit(EmitConfig),
}

impl StepKind {
    /// The step type as written in documents (`deliver`).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Validate(_) => "validate",
            StepKind::Dedupe(_) => "dedupe",
            StepKind::Enrich(_) => "enrich",
            StepKind::Route(_) => "route",
            StepKind::Suppress(_) => "suppress",
            StepKind::Map(_) => "map",
            StepKind::Deliver(_) => "deliver",
            StepKind::Notify(_) => "notify",
            StepKind::Delay(_) => "delay",
            StepKind::Approve(_) => "approve",
            StepKind::Sla(_) => "sla",
            StepKind::Emit(_) => "emit",
        }
    }

    /// The slot a `deliver` or `notify` step sends to.
    pub fn slot(&self) -> Option<&str> {
        match self {
            StepKind::Deliver(c) => Some(&c.slot),
            StepKind::Notify(c) => Some(&c.slot),
            _ => None,
        }
    }
}

/// What a failed check does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnFail {
    /// The run ends `skipped` (filtered out, nothing wrong with the data).
    #[default]
    Skip,
    /// The run ends `rejected` (the data breaks a rule).
    Reject,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateConfig {
    /// CEL checks; without rules, every field in the step's `reads` must be present.
    #[serde(default)]
    pub rules: Vec<CheckRule>,
    /// What a missing field does (rule-less validation).
    #[serde(default)]
    pub on_fail: Option<OnFail>,
    /// Look the record to validate up in the contact store instead of taking the event.
    #[serde(default)]
    pub lookup: Option<Lookup>,
    /// Only events newer than this many days (the parameter named) pass.
    #[serde(default)]
    pub since_days_from_param: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRule {
    pub check: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub on_fail: OnFail,
}

/// A record looked up by value: `contract` records whose `by` field equals the CEL `value`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub contract: String,
    pub by: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// Event fields whose values make the key.
    pub key: Vec<String>,
    #[serde(default)]
    pub window_minutes: Option<u64>,
    #[serde(default)]
    pub window_minutes_from_param: Option<String>,
    #[serde(default)]
    pub window_days_from_param: Option<String>,
}

/// What an `enrich` step looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrichSource {
    Contact,
    Lead,
    Account,
    /// Per watched contract: minutes since the last event, events and rejections in a window.
    ContractHealth,
}

impl EnrichSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrichSource::Contact => "contact",
            EnrichSource::Lead => "lead",
            EnrichSource::Account => "account",
            EnrichSource::ContractHealth => "contract_health",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnMissing {
    #[default]
    Continue,
    Skip,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    pub lookup: EnrichSource,
    /// Event field holding the value looked up (default `email`).
    #[serde(default)]
    pub by: Option<String>,
    /// Field of the looked-up record matched against it (default: the store's key).
    #[serde(default)]
    pub match_field: Option<String>,
    /// Where the found record goes in the event (default: the lookup's name).
    #[serde(default, rename = "as")]
    pub into: Option<String>,
    /// Fields of the found record to keep (all when empty).
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default)]
    pub on_missing: OnMissing,
    /// `contract_health`: the parameter listing the contracts to measure.
    #[serde(default)]
    pub contracts_from_param: Option<String>,
    /// `contract_health`: the window counts are taken over.
    #[serde(default)]
    pub window_minutes: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Event field that receives the chosen owner (default `owner`).
    #[serde(default)]
    pub assign_to: Option<String>,
    #[serde(default)]
    pub default_owner: Option<String>,
    pub rules: Vec<RouteRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    pub when: String,
    pub owner: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressConfig {
    /// Suppression list checked by the event's `email`.
    #[serde(default)]
    pub list: Option<String>,
    /// Field that must be `true` (consent).
    #[serde(default)]
    pub consent_field: Option<String>,
    /// CEL: suppress when true.
    #[serde(default)]
    pub suppress_when: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapConfig {
    /// Object kind of the record built (`lead`, `contact`, …).
    #[serde(default)]
    pub object: Option<String>,
    /// Output field → event field it is copied from.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Output field → CEL expression computing it.
    #[serde(default)]
    pub computed: BTreeMap<String, String>,
}

/// What the destination is asked to do with a delivered record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeliverAction {
    #[default]
    Upsert,
    Append,
    Remove,
    PostMessage,
    /// Forward the record as it is (webhooks, transactional sends).
    Send,
}

impl DeliverAction {
    /// As stored on delivery rows (`message` for `post_message`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliverAction::Upsert | DeliverAction::Send => "upsert",
            DeliverAction::Append => "append",
            DeliverAction::Remove => "remove",
            DeliverAction::PostMessage => "message",
        }
    }
}

/// One field or a list of fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Fields {
    One(String),
    Many(Vec<String>),
}

impl Fields {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Fields::One(f) => vec![f.clone()],
            Fields::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverConfig {
    pub slot: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub action: DeliverAction,
    /// Record field(s) forming the destination key (else the object's contract key fields).
    #[serde(default)]
    pub key: Option<Fields>,
    /// Event field(s) making the delivery's identity (else the trigger contract's key fields).
    #[serde(default)]
    pub idempotency_key: Option<Fields>,
    /// Audience sync: CEL naming the audience.
    #[serde(default)]
    pub audience_name: Option<String>,
    /// Audience sync: record fields that identify a member.
    #[serde(default)]
    pub identifiers: Vec<String>,
    /// Audience sync: CEL deciding whether people who left are removed.
    #[serde(default)]
    pub remove_departed: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub slot: String,
    /// Text with `{{event.x}}` / `{{params.x}}` placeholders.
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayConfig {
    #[serde(default)]
    pub minutes: Option<u64>,
    #[serde(default)]
    pub minutes_from_param: Option<String>,
}

/// What happens to a run nobody decided on in time (either way its owner is told).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    /// The run ends `rejected`, as if the approver had said no.
    #[default]
    Reject,
    /// The run ends `expired`.
    Expire,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveConfig {
    /// Role the approver must hold (any role allowed to approve when absent).
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub timeout_hours: Option<u64>,
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

/// The document shape before steps are typed.
/// `sla`: a service-level timer on an earlier `deliver` step. The run waits `minutes` (or the
/// parameter `minutes_from_param`); then, if the destination has not accepted that delivery or
/// the field `assign_to` (default `owner`) is not set, the SLA is breached: the step sets
/// `event.<assign_to>` to the fallback owner, keeps the previous one in `event.previous_owner`
/// and sets `event.sla_breached`, so later steps (`when: "event.sla_breached"`) re-route and
/// notify. Within the SLA it passes and `event.sla_breached` is false.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// Id of the `deliver` step whose delivery must be accepted in time.
    pub watch: String,
    #[serde(default)]
    pub minutes: Option<u64>,
    #[serde(default)]
    pub minutes_from_param: Option<String>,
    #[serde(default)]
    pub assign_to: Option<String>,
    #[serde(default)]
    pub fallback_owner: Option<String>,
    #[serde(default)]
    pub fallback_owner_from_param: Option<String>,
}

/// `emit`: the run emits an event — a completion or business event such as
/// `event.audience_published` — through ingestion: it is checked against its contract, stored in
/// the run's transaction, and starts every live workflow triggered by that contract (workflows
/// starting workflows). The event's payload is built like a `map` step's record; with neither
/// `fields` nor `computed` it is the run's current input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitConfig {
    /// The contract of the emitted event (`event.audience_published`).
    pub contract: String,
    /// Its version; the contract's current version when absent.
    #[serde(default)]
    pub version: Option<String>,
    /// Payload field → run field it is copied from.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Payload field → CEL expression computing it.
    #[serde(default)]
    pub computed: BTreeMap<String, String>,
}

impl TemplateDef {
    /// The contracts the template's `emit` steps emit (the edges of the chain graph).
    pub fn emits(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Emit(c) => Some(c.contract.as_str()),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    #[serde(default)]
    sensitive: bool,
    parameters: Value,
    trigger: Trigger,
    #[serde(default)]
    slots: BTreeMap<String, Slot>,
    #[serde(default)]
    reads: Vec<Read>,
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    reads: Vec<String>,
    #[serde(default)]
    when: Option<String>,
    #[serde(default)]
    config: Option<Value>,
}

fn config<T: serde::de::DeserializeOwned>(at: &str, value: &Value) -> Result<T, DocError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            format!("{at}.config")
        } else {
            format!("{at}.config.{path}")
        };
        DocError::new(path, e.inner().to_string())
    })
}

impl TemplateDef {
    /// Parses a definition; errors name the path below the definition (`steps[2].config.window`).
    pub fn parse(definition: &Value) -> Result<Self, DocError> {
        let raw: RawTemplate = super::from_value(definition)?;
        let mut steps = Vec::with_capacity(raw.steps.len());
        for (i, s) in raw.steps.into_iter().enumerate() {
            let at = format!("steps[{i}]");
            let cfg = s
                .config
                .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
            let kind = match s.kind.as_str() {
                "validate" => StepKind::Validate(config(&at, &cfg)?),
                "dedupe" => StepKind::Dedupe(config(&at, &cfg)?),
                "enrich" => StepKind::Enrich(config(&at, &cfg)?),
                "route" => StepKind::Route(config(&at, &cfg)?),
                "suppress" => StepKind::Suppress(config(&at, &cfg)?),
                "map" => StepKind::Map(config(&at, &cfg)?),
                "deliver" => StepKind::Deliver(config(&at, &cfg)?),
                "notify" => StepKind::Notify(config(&at, &cfg)?),
                "delay" => StepKind::Delay(config(&at, &cfg)?),
                "approve" => StepKind::Approve(config(&at, &cfg)?),
                "sla" => StepKind::Sla(config(&at, &cfg)?),
                "emit" => StepKind::Emit(config(&at, &cfg)?),
                other => {
                    return Err(DocError::new(
                        format!("{at}.type"),
                        format!(
                            "`{other}` is not a step type; use one of: {}",
                            STEP_TYPES.join(", ")
                        ),
                    ));
                }
            };
            steps.push(Step {
                id: s.id,
                description: s.description,
                reads: s.reads,
                when: s.when,
                kind,
            });
        }
        Ok(Self {
            sensitive: raw.sensitive,
            parameters: raw.parameters,
            trigger: raw.trigger,
            slots: raw.slots,
            reads: raw.reads,
            steps,
        })
    }

    /// The contract whose events start runs, or, for other triggers, the first one read.
    pub fn input_contract(&self) -> Option<&str> {
        match &self.trigger {
            Trigger::Event { contract, .. } => Some(contract),
            _ => self.reads.first().map(|r| r.contract.as_str()),
        }
    }

    /// Every CEL expression of a step with the path it sits at (for publish-time checks).
    pub fn expressions(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        for (i, s) in self.steps.iter().enumerate() {
            let at = format!("steps[{i}]");
            if let Some(w) = &s.when {
                out.push((format!("{at}.when"), w.as_str()));
            }
            let c = format!("{at}.config");
            match &s.kind {
                StepKind::Validate(v) => {
                    for (j, r) in v.rules.iter().enumerate() {
                        out.push((format!("{c}.rules[{j}].check"), r.check.as_str()));
                    }
                    if let Some(l) = &v.lookup {
                        out.push((format!("{c}.lookup.value"), l.value.as_str()));
                    }
                }
                StepKind::Route(r) => {
                    for (j, rule) in r.rules.iter().enumerate() {
                        out.push((format!("{c}.rules[{j}].when"), rule.when.as_str()));
                    }
                }
                StepKind::Suppress(s) => {
                    if let Some(w) = &s.suppress_when {
                        out.push((format!("{c}.suppress_when"), w.as_str()));
                    }
                }
                StepKind::Map(m) => {
                    for (name, e) in &m.computed {
                        out.push((format!("{c}.computed.{name}"), e.as_str()));
                    }
                }
                StepKind::Emit(m) => {
                    for (name, e) in &m.computed {
                        out.push((format!("{c}.computed.{name}"), e.as_str()));
                    }
                }
                StepKind::Deliver(d) => {
                    if let Some(e) = &d.audience_name {
                        out.push((format!("{c}.audience_name"), e.as_str()));
                    }
                    if let Some(e) = &d.remove_departed {
                        out.push((format!("{c}.remove_departed"), e.as_str()));
                    }
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(steps: Value) -> Value {
        json!({"parameters": {"type": "object"}, "trigger": {"type": "manual"},
               "slots": {"hook": {"category": "generic"}}, "steps": steps})
    }

    #[test]
    fn steps_become_typed_configs() {
        let def = TemplateDef::parse(&doc(json!([
            {"id": "d", "type": "dedupe", "config": {"key": ["email"], "window_minutes": 5}},
            {"id": "s", "type": "deliver", "config": {"slot": "hook", "action": "send"}}
        ])))
        .expect("parses");
        match &def.steps[0].kind {
            StepKind::Dedupe(c) => assert_eq!(c.window_minutes, Some(5)),
            other => panic!("{other:?}"),
        }
        assert_eq!(def.steps[1].kind.slot(), Some("hook"));
    }

    #[test]
    fn unknown_and_mistyped_keys_name_their_path() {
        let e = TemplateDef::parse(&doc(json!([
            {"id": "a", "type": "delay", "config": {"minutes": 1}},
            {"id": "b", "type": "validate", "config": {}},
            {"id": "d", "type": "dedupe", "config": {"key": ["email"], "window": 5}}
        ])))
        .expect_err("unknown key");
        assert_eq!(e.path, "steps[2].config.window", "{e}");
        let e = TemplateDef::parse(&doc(json!([
            {"id": "d", "type": "dedupe", "config": {"key": ["email"], "window_minutes": "soon"}}
        ])))
        .expect_err("mistyped");
        assert_eq!(e.path, "steps[0].config.window_minutes", "{e}");
        let e = TemplateDef::parse(&doc(json!([{"id": "x", "type": "teleport"}])))
            .expect_err("unknown type");
        assert_eq!(e.path, "steps[0].type");
    }
}
