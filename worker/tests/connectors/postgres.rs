//! The postgres connector against a real PostgreSQL: a scratch database is created from
//! `DATABASE_URL` (skipped, with a message, when it does not point at PostgreSQL) and dropped
//! at the end. Checks name the setting at fault; upserts match on the key; the guard applies.

use crate::support;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use worker::connectors::{self, Action, Outcome};
use worker::net::NetPolicy;

fn admin_url() -> Option<String> {
    let url = std::env::var("DATABASE_URL").ok()?;
    (url.starts_with("postgres://") || url.starts_with("postgresql://")).then_some(url)
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<Value> {
    let stmt = Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT row_to_json(t)::text FROM ({sql}) t"),
    );
    db.query_all_raw(stmt)
        .await
        .expect("query")
        .iter()
        .map(|r| {
            serde_json::from_str(&r.try_get_by_index::<String>(0).expect("text")).expect("json")
        })
        .collect()
}

#[tokio::test]
async fn upserts_into_a_real_table() {
    let Some(admin) = admin_url() else {
        println!("skipped: DATABASE_URL does not point at PostgreSQL");
        return;
    };
    let name = format!("sy_conn_test_{}", std::process::id());
    let admin_db = Database::connect(&admin)
        .await
        .expect("connect to DATABASE_URL");
    exec(
        &admin_db,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    exec(&admin_db, &format!("CREATE DATABASE {name}")).await;
    let mut url = reqwest::Url::parse(&admin).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    let dsn = url.to_string();
    let outcome = tokio::spawn(scenarios(dsn)).await;
    exec(
        &admin_db,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn settings(dsn: &str, table: &str, key: &str, columns: Option<Value>) -> Value {
    let mut s = json!({"dsn": dsn, "table": table, "key_column": key});
    if let Some(c) = columns {
        s["columns"] = c;
    }
    s
}

async fn scenarios(dsn: String) {
    let db = Database::connect(&dsn).await.expect("scratch database");
    exec(
        &db,
        "CREATE TABLE leads (email text PRIMARY KEY, first_name text, score int, \
               tags jsonb, updated_at timestamptz NOT NULL DEFAULT now())",
    )
    .await;
    exec(&db, "CREATE TABLE loose (email text, note text)").await;
    exec(&db, "CREATE SCHEMA reporting").await;
    exec(
        &db,
        "CREATE TABLE reporting.opportunities (opportunity_id text UNIQUE, amount numeric)",
    )
    .await;
    let net = NetPolicy::new(&["127.0.0.1".into(), "::1".into()]).expect("valid");
    let check = |s: Value| {
        let net = net.clone();
        async move { connectors::check("postgres", &s, &net).await }
    };

    check(settings(
        &dsn,
        "leads",
        "email",
        Some(json!(["first_name", "score"])),
    ))
    .await
    .expect("valid");
    check(settings(
        &dsn,
        "reporting.opportunities",
        "opportunity_id",
        None,
    ))
    .await
    .expect("valid");
    let err = check(settings(&dsn, "ghosts", "email", None))
        .await
        .expect_err("no table");
    assert_eq!(err.field, "table", "{err}");
    let err = check(settings(&dsn, "leads", "mail", None))
        .await
        .expect_err("no column");
    assert_eq!(err.field, "key_column", "{err}");
    let err = check(settings(&dsn, "loose", "email", None))
        .await
        .expect_err("not unique");
    assert_eq!(err.field, "key_column", "{err}");
    assert!(err.to_string().contains("unique"), "{err}");
    let err = check(settings(
        &dsn,
        "leads",
        "email",
        Some(json!(["first_name", "nickname"])),
    ))
    .await
    .expect_err("column");
    assert_eq!(err.field, "columns", "{err}");
    assert!(err.to_string().contains("nickname"), "{err}");
    let err = connectors::check(
        "postgres",
        &settings(&dsn, "leads", "email", None),
        &NetPolicy::default(),
    )
    .await
    .expect_err("loopback refused");
    assert_eq!(err.field, "dsn");
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(
        !err.to_string().contains(&dsn),
        "the DSN must not leak: {err}"
    );

    let leads = connectors::build("postgres", &settings(&dsn, "leads", "email", None), &net)
        .expect("builds");
    let mut d = support::delivery(
        "lead",
        Action::Upsert,
        json!({"first_name": "Ada", "score": 10, "tags": ["a"], "unknown": 1}),
    );
    assert_eq!(leads.deliver(&d).await, Outcome::Delivered { status: None });
    d.record = json!({"first_name": "Ada L.", "score": "42"});
    assert_eq!(leads.deliver(&d).await, Outcome::Delivered { status: None });
    assert_eq!(
        rows(&db, "SELECT email, first_name, score, tags FROM leads").await,
        [json!({"email": "ada@example.com", "first_name": "Ada L.", "score": 42, "tags": ["a"]})]
    );

    d.record = json!({"score": "not a number"});
    let outcome = leads.deliver(&d).await;
    let Outcome::Permanent { error, .. } = outcome else {
        panic!("a type error is permanent, got {outcome:?}");
    };
    assert!(
        error.contains("22P02") && !error.contains("not a number"),
        "{error}"
    );

    let only_name = connectors::build(
        "postgres",
        &settings(&dsn, "leads", "email", Some(json!(["first_name"]))),
        &net,
    )
    .expect("builds");
    d.record = json!({"first_name": "Augusta", "score": 7});
    assert_eq!(
        only_name.deliver(&d).await,
        Outcome::Delivered { status: None }
    );
    assert_eq!(
        rows(&db, "SELECT first_name, score FROM leads").await,
        [json!({"first_name": "Augusta", "score": 42})]
    );

    let mut anon = support::delivery("lead", Action::Upsert, json!({"first_name": "No Key"}));
    anon.business_key = String::new();
    assert_eq!(
        leads.deliver(&anon).await,
        Outcome::Delivered { status: None }
    );
    assert_eq!(
        rows(
            &db,
            &format!(
                "SELECT 1 AS one FROM leads WHERE email = '{}'",
                anon.idempotency_key
            )
        )
        .await
        .len(),
        1
    );

    d.action = Action::Remove;
    assert_eq!(leads.deliver(&d).await, Outcome::Delivered { status: None });
    assert_eq!(rows(&db, "SELECT email FROM leads").await.len(), 1);

    let opps = connectors::build(
        "postgres",
        &settings(&dsn, "reporting.opportunities", "opportunity_id", None),
        &net,
    )
    .expect("builds");
    let mut o = support::delivery(
        "event.opportunity_created",
        Action::Append,
        json!({"amount": 1200.5}),
    );
    o.business_key = "opp-1".into();
    assert_eq!(opps.deliver(&o).await, Outcome::Delivered { status: None });
    assert_eq!(
        rows(
            &db,
            "SELECT opportunity_id, amount FROM reporting.opportunities"
        )
        .await,
        [json!({"opportunity_id": "opp-1", "amount": 1200.5})]
    );

    let refused = connectors::build(
        "postgres",
        &settings(&dsn, "leads", "email", None),
        &NetPolicy::default(),
    )
    .expect("builds");
    assert!(matches!(
        refused.deliver(&d).await,
        Outcome::Permanent { status: None, .. }
    ));

    let mut down = reqwest::Url::parse(&dsn).expect("url");
    down.set_port(Some(1)).expect("port");
    let unreachable = connectors::build(
        "postgres",
        &settings(down.as_str(), "leads", "email", None),
        &net,
    )
    .expect("builds");
    let outcome = unreachable.deliver(&d).await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
}
