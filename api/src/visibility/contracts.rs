//! Values quoted in messages that belong to a data contract rather than to one workflow: the
//! drift counters' last message (`"nope" is not a "email"` quotes the value). Nobody owns them,
//! so a value of class `c` is shown in full only to callers allowed to read `data:<c>:*` — that
//! class in every workflow (a scope `any` rule; as shipped, compliance). Everyone else sees the
//! message replaced by its class label. A message whose field cannot be traced takes the most
//! sensitive class of the contract.

use super::{UNKNOWN, label, rank};
use crate::access::{self, Ask};
use crate::audit::Actor;
use crate::catalog::{
    self,
    definitions::{ContractDef, Kind, typed},
};
use crate::error::ApiResult;
use crate::policy::Policy;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// What one caller may see of the messages about one contract's events.
pub struct ContractView<'a> {
    policy: &'a Policy,
    actor: &'a Actor,
    contract: String,
    /// Payload field → class (the contract's current version).
    classes: HashMap<String, String>,
    decided: HashMap<String, bool>,
    shown: BTreeSet<String>,
}

impl<'a> ContractView<'a> {
    pub async fn load(
        db: &DatabaseConnection,
        policy: &'a Policy,
        actor: &'a Actor,
        contract: &str,
    ) -> ApiResult<Self> {
        let mut classes = HashMap::new();
        if let Some(item) = catalog::find(db, Kind::Contract, contract).await?
            && let Some(v) =
                catalog::version(db, Kind::Contract, contract, &item.latest_version).await?
        {
            let def: ContractDef = typed(&v.definition)?;
            for (name, p) in def
                .schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let class = p.get("x-pii").and_then(Value::as_str).unwrap_or("none");
                classes.insert(name.clone(), class.to_string());
            }
        }
        Ok(Self {
            policy,
            actor,
            contract: contract.to_string(),
            classes,
            decided: HashMap::new(),
            shown: BTreeSet::new(),
        })
    }

    /// The class of the value at `pointer` (`/payload/email`, `/payload/items/*/x`).
    fn class_at(&self, pointer: &str) -> String {
        let field = pointer
            .strip_prefix("/payload")
            .unwrap_or(pointer)
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        if field.is_empty() {
            let most = self.classes.values().max_by_key(|c| rank(c));
            return most.map_or("none", String::as_str).to_string();
        }
        self.classes
            .get(field)
            .map_or(UNKNOWN, String::as_str)
            .to_string()
    }

    /// `message` about the value at `pointer`, or its class label when the caller may not read
    /// that class.
    pub fn message(&mut self, pointer: &str, message: String) -> String {
        let class = self.class_at(pointer);
        if class == "none" {
            return message;
        }
        let allowed = *self.decided.entry(class.clone()).or_insert_with(|| {
            let object = access::data_object(&class, "*");
            access::allows(self.policy, self.actor, Ask::unowned(&object, "read"))
        });
        if allowed {
            self.shown.insert(class);
            message
        } else {
            label(&class)
        }
    }

    /// Writes the `data.read` audit entry when a classified message was shown in full.
    pub async fn audit_reads(&self, db: &DatabaseConnection) -> ApiResult<()> {
        if self.shown.is_empty() {
            return Ok(());
        }
        let after =
            json!({ "contract": self.contract, "classes": self.shown, "records": "contractDrift" });
        super::record_read(
            db,
            self.actor,
            &format!("contract:{}", self.contract),
            after,
        )
        .await
    }
}
