//! Health counters in shards. Every run and attempt adds to its instance's minute and hour
//! bucket in the transaction that records it; on PostgreSQL, concurrent transactions adding to
//! the same row wait for each other's commit, so one busy workflow's recording ran one commit
//! at a time. Each row now also has a `shard` (0 on SQLite, where writers are serial anyway;
//! 0..8 on PostgreSQL, one per transaction in turn) and readers sum (or take the latest) over
//! shards. `health_buckets`, `health_fields` and `instance_states` are rebuilt with the shard in
//! their primary key; existing rows become shard 0.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const LATENCY_BUCKETS: usize = 19;
const COUNTERS: [&str; 14] = [
    "events",
    "runs_succeeded",
    "runs_skipped",
    "runs_rejected",
    "runs_failed",
    "runs_waiting",
    "runs_expired",
    "duplicates",
    "delivered",
    "attempts_failed",
    "retried",
    "dead",
    "records_complete",
    "records_incomplete",
];

fn big(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .big_integer()
        .not_null()
        .to_owned()
}

fn text(name: &str, len: u32, null: bool) -> ColumnDef {
    let mut c = ColumnDef::new(Alias::new(name));
    c.string_len(len);
    if null {
        c.null();
    } else {
        c.not_null();
    }
    c.to_owned()
}

fn shard() -> ColumnDef {
    ColumnDef::new(Alias::new("shard"))
        .integer()
        .not_null()
        .default(0)
        .to_owned()
}

/// Rebuilds `table` with `cols` + shard and the key `key` + shard; its rows become shard 0.
/// (Copied aside and back rather than renamed: no rename of tables or key names to differ
/// between SQLite and PostgreSQL.)
async fn rebuild(
    manager: &SchemaManager<'_>,
    table: &str,
    cols: Vec<ColumnDef>,
    key: &[&str],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let aside = format!("{table}_unsharded");
    db.execute_unprepared(&format!("CREATE TABLE {aside} AS SELECT * FROM {table}"))
        .await?;
    manager
        .drop_table(Table::drop().table(Alias::new(table)).to_owned())
        .await?;
    let mut t = Table::create();
    t.table(Alias::new(table));
    let mut names = Vec::new();
    for mut c in cols {
        names.push(c.get_column_name());
        t.col(&mut c);
    }
    t.col(shard());
    let mut pk = Index::create();
    for k in key {
        pk.col(Alias::new(*k));
    }
    pk.col(Alias::new("shard"));
    t.primary_key(&mut pk);
    manager.create_table(t.to_owned()).await?;
    let list = names.join(", ");
    db.execute_unprepared(&format!(
        "INSERT INTO {table} ({list}, shard) SELECT {list}, 0 FROM {aside}"
    ))
    .await?;
    manager
        .drop_table(Table::drop().table(Alias::new(&aside)).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut cols = vec![big("instance_id"), text("grain", 1, false), big("bucket")];
        for c in COUNTERS {
            cols.push(big(c).default(0).to_owned());
        }
        for i in 0..LATENCY_BUCKETS {
            cols.push(big(&format!("lat_{i:02}")).default(0).to_owned());
        }
        rebuild(
            manager,
            "health_buckets",
            cols,
            &["instance_id", "grain", "bucket"],
        )
        .await?;
        rebuild(
            manager,
            "health_fields",
            vec![
                big("instance_id"),
                big("bucket"),
                text("field", 128, false),
                text("reason", 300, false),
                big("count").default(0).to_owned(),
            ],
            &["instance_id", "bucket", "field", "reason"],
        )
        .await?;
        rebuild(
            manager,
            "instance_states",
            vec![
                big("instance_id"),
                text("last_event_at", 32, true),
                text("last_run_at", 32, true),
                text("last_success_at", 32, true),
                text("last_failure_at", 32, true),
                text("last_auth_failure_at", 32, true),
                text("updated_at", 32, false),
            ],
            &["instance_id"],
        )
        .await
    }
}
