//! The loop guard, up front: workflows start one another through `emit` steps (an instance
//! emitting contract C starts every live instance triggered by C). Creating, resuming or moving
//! an instance to another version is refused when it would close a cycle — the instance would
//! start itself again through the chain — with the cycle named in the error. Workers guard at
//! run time too (a run already in its event's chain, or a chain longer than
//! `execution.max_chain_depth`, emits nothing: `worker::runs::emit`).

use crate::catalog::definitions::{TemplateDef, Trigger};
use crate::error::{ApiError, ApiResult};
use entity::instance;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// One instance as the chain graph sees it.
struct Node {
    name: String,
    trigger: Option<String>,
    emits: BTreeSet<String>,
}

fn node_of(name: &str, def: &TemplateDef) -> Node {
    Node {
        name: name.to_string(),
        trigger: match &def.trigger {
            Trigger::Event { contract, .. } => Some(contract.clone()),
            _ => None,
        },
        emits: def.emits().into_iter().map(str::to_string).collect(),
    }
}

/// Refuses `def` for instance `id` (`None`: one being created) named `name` when, with the
/// other instances that can run (not retired), it would start itself through a chain of emitted
/// events. `field` names the input the error is about (`template`, `toVersion`, `id`).
pub async fn refuse_cycle(
    db: &DatabaseConnection,
    id: Option<i64>,
    name: &str,
    def: &TemplateDef,
    field: &str,
) -> ApiResult<()> {
    let me = node_of(&format!("'{name}'"), def);
    if me.emits.is_empty() {
        return Ok(());
    }
    let rows = instance::Entity::find()
        .filter(instance::Column::Status.ne("retired"))
        .all(db)
        .await?;
    let mut defs: HashMap<(String, String), Option<TemplateDef>> = HashMap::new();
    // Node 0 is the instance being checked; the others are numbered from 1.
    let mut nodes = vec![me];
    for r in rows.iter().filter(|r| Some(r.id) != id) {
        let key = (r.template.clone(), r.template_version.clone());
        if !defs.contains_key(&key) {
            let parsed = worker::catalog::version(db, "template", &r.template, &r.template_version)
                .await?
                .and_then(|v| TemplateDef::parse(&v.definition).ok());
            defs.insert(key.clone(), parsed);
        }
        if let Some(Some(d)) = defs.get(&key) {
            nodes.push(node_of(&format!("'{}' ({})", r.name, r.template), d));
        }
    }
    // Breadth-first from node 0 along "emits a contract that triggers": reaching node 0 again
    // is a cycle; `via` keeps the path to name it.
    let mut via: HashMap<usize, (usize, String)> = HashMap::new();
    let mut queue = VecDeque::from([0usize]);
    let mut seen = BTreeSet::from([0usize]);
    while let Some(n) = queue.pop_front() {
        for contract in nodes[n].emits.clone() {
            for (m, next) in nodes.iter().enumerate() {
                if next.trigger.as_deref() != Some(contract.as_str()) {
                    continue;
                }
                if m == 0 {
                    let mut hops =
                        vec![format!("{contract}, which starts {} again", nodes[0].name)];
                    let mut at = n;
                    while at != 0 {
                        let (prev, c) = &via[&at];
                        hops.push(format!("{c}, which starts {}", nodes[at].name));
                        at = *prev;
                    }
                    hops.reverse();
                    return Err(ApiError::bad_input(
                        field,
                        format!(
                            "loop refused: workflow {} would start itself: it emits {}",
                            nodes[0].name,
                            hops.join("; that emits ")
                        ),
                    ));
                }
                if seen.insert(m) {
                    via.insert(m, (n, contract.clone()));
                    queue.push_back(m);
                }
            }
        }
    }
    Ok(())
}
