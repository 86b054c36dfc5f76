//! Benchmark (not a test): `contract check` of a 200-field contract against 1,000 live workflow
//! instances consuming it (pinned to 100 consuming template versions), straight against the
//! database.
//!
//! `cargo run --release --example contract_check_bench -- [DATABASE_URL]`

use api::audit::Actor;
use api::catalog::{definitions::CatalogDoc, seed};
use serde_json::{Map, Value, json};
use std::time::Instant;

fn contract(version: &str, extra_enum_value: bool) -> anyhow::Result<CatalogDoc> {
    let mut props = Map::new();
    for i in 0..200 {
        let mut p = json!({"type": "string", "maxLength": 200, "description": format!("field {i}"), "x-pii": "none"});
        if i == 0 {
            let mut values = vec!["a", "b", "c"];
            if extra_enum_value {
                values.push("d");
            }
            p = json!({"type": "string", "enum": values, "description": "category", "x-pii": "none"});
        }
        props.insert(format!("f{i:03}"), p);
    }
    Ok(serde_json::from_value(json!({
        "kind": "contract", "key": "bench.wide", "name": "Wide", "summary": "200 fields",
        "description": "A wide contract for the benchmark.", "category": "event", "owner": "bench",
        "version": version,
        "definition": {"compatibility": "FULL", "freshness_sla_minutes": 60, "enforcement": "block",
            "schema": {"type": "object", "additionalProperties": false, "properties": Value::Object(props)}}
    }))?)
}

fn template(i: usize) -> anyhow::Result<CatalogDoc> {
    let fields: Vec<String> = (0..20)
        .map(|k| format!("f{:03}", (i + k * 7) % 200))
        .collect();
    Ok(serde_json::from_value(json!({
        "kind": "template", "key": format!("consumer-{i:04}"), "name": "Consumer", "summary": "reads bench.wide",
        "description": "A consumer for the benchmark.", "category": "reporting", "owner": "bench", "version": "1.0.0",
        "definition": {
            "parameters": {"type": "object"},
            "trigger": {"type": "event", "contract": "bench.wide", "versions": "^1"},
            "slots": {"out": {"category": "generic"}},
            "reads": [{"contract": "bench.wide", "versions": "^1", "fields": fields}],
            "steps": [
                {"id": "route", "type": "route", "reads": ["f000", fields[1].clone()], "config": {}},
                {"id": "send", "type": "deliver", "reads": fields.clone(), "config": {"slot": "out"}}
            ]
        }
    }))?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = std::env::args().nth(1).unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        )
    });
    let db = api::db::connect(&url).await?;
    api::db::migrate(&db).await?;
    let mut docs = vec![contract("1.0.0", false)?];
    for i in 0..100 {
        docs.push(template(i)?);
    }
    let started = Instant::now();
    seed::apply(&db, &Actor::system("bench"), &docs)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for i in 0..1000 {
        use sea_orm::{ActiveModelTrait, Set};
        entity::instance::ActiveModel {
            template: Set(format!("consumer-{:04}", i % 100)),
            template_version: Set("1.0.0".into()),
            name: Set(format!("instance {i}")),
            owner: Set("bench".into()),
            params: Set("{}".into()),
            bindings: Set("{}".into()),
            flows: Set("{}".into()),
            status: Set("active".into()),
            approved_by: Set(None),
            created_at: Set("2026-11-27T00:00:00.000000Z".into()),
            updated_at: Set("2026-11-27T00:00:00.000000Z".into()),
            ..Default::default()
        }
        .insert(&db)
        .await?;
    }
    println!(
        "seeded 1 contract, 100 consuming templates, 1000 live instances in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    for (label, doc) in [
        ("compatible change", contract("1.0.1", false)?),
        ("breaking change", contract("1.1.0", true)?),
    ] {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let started = Instant::now();
            last = Some(
                api::contracts::registry::check(&db, &doc)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let r = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
        println!(
            "{label}: median {:.1} ms (min {:.1}, max {:.1}); compatible={} live instances={} broken={}",
            times[2],
            times[0],
            times[4],
            r.compatible,
            r.consumers.iter().filter(|c| c.kind == "instance").count(),
            r.consumers
                .iter()
                .filter(|c| c.kind == "instance" && c.broken)
                .count()
        );
    }
    Ok(())
}
