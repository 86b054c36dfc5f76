//! The job queue against a real database (a fresh SQLite file, or a fresh PostgreSQL database
//! when `DATABASE_URL` points at one): claims split work and skip what is held, a lease that ran
//! out lets another worker take the job, and the worker that lost it can no longer finish it.

use sea_orm::DatabaseConnection;
use worker::jobs::{Job, JobV1, Kind};
use worker::queue::{self, Lanes, NewJob};

mod support;
use support::fresh_db;

fn run_job(event: &str) -> NewJob {
    NewJob::run(
        Job::V1(JobV1::Run {
            instance_id: 1,
            event_id: event.into(),
            from_step: None,
        }),
        chrono::Utc::now(),
    )
}

async fn stage(db: &DatabaseConnection, jobs: Vec<NewJob>) {
    let tx = worker::db::begin_write(db).await.expect("begin");
    queue::stage(&tx, jobs).await.expect("stage");
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn a_job_is_staged_once_and_held_jobs_are_not_claimed_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = fresh_db(dir.path()).await;
    stage(&db, vec![run_job("e1"), run_job("e1"), run_job("e2")]).await;
    let lease = entity::clock::now_ms() + 60_000;
    let a = queue::claim(&db, Kind::Run, "node-a", 1, lease, Lanes::Any)
        .await
        .expect("claim");
    let b = queue::claim(&db, Kind::Run, "node-b", 10, lease, Lanes::Any)
        .await
        .expect("claim");
    assert_eq!(a.len(), 1);
    assert_eq!(
        b.len(),
        1,
        "two distinct jobs staged (the repeat was skipped), one each"
    );
    assert_ne!(a[0].id, b[0].id);
    let c = queue::claim(&db, Kind::Run, "node-c", 10, lease, Lanes::Any)
        .await
        .expect("claim");
    assert!(c.is_empty(), "held jobs are not handed out again");
    assert_eq!(queue::busy(&db).await.expect("busy"), 2);
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_finish_the_job() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = fresh_db(dir.path()).await;
    stage(&db, vec![run_job("e1")]).await;
    // Node A's lease has already run out (a frozen or cut-off worker).
    let expired = entity::clock::now_ms() - 1;
    let a = queue::claim(&db, Kind::Run, "node-a", 10, expired, Lanes::Any)
        .await
        .expect("claim");
    assert_eq!(a.len(), 1);
    let lease = entity::clock::now_ms() + 60_000;
    let b = queue::claim(&db, Kind::Run, "node-b", 10, lease, Lanes::Any)
        .await
        .expect("claim");
    assert_eq!(b.len(), 1, "the job is due again once the lease ran out");
    assert_eq!(b[0].id, a[0].id);
    assert_eq!(b[0].claims, a[0].claims + 1);

    let tx = worker::db::begin_write(&db).await.expect("begin");
    let stale = queue::finish(&tx, "node-a", &[(a[0].id, a[0].claims)])
        .await
        .expect("finish");
    tx.commit().await.expect("commit");
    assert!(stale.is_empty(), "the stale worker finishes nothing");

    let tx = worker::db::begin_write(&db).await.expect("begin");
    let owned = queue::finish(&tx, "node-b", &[(b[0].id, b[0].claims)])
        .await
        .expect("finish");
    tx.commit().await.expect("commit");
    assert_eq!(owned.len(), 1, "the current holder finishes it");
    assert_eq!(queue::busy(&db).await.expect("busy"), 0);
}

#[tokio::test]
async fn claims_leave_excluded_lanes_alone_and_a_released_job_is_due_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = fresh_db(dir.path()).await;
    let now = chrono::Utc::now();
    stage(
        &db,
        vec![
            NewJob::deliver(1, 1, 10, now),
            NewJob::deliver(2, 1, 20, now),
            NewJob::deliver(3, 1, 20, now + chrono::Duration::hours(1)),
        ],
    )
    .await;
    let lease = entity::clock::now_ms() + 60_000;
    let parked = vec![queue::connection_lane(10)];
    let got = queue::claim(&db, Kind::Deliver, "n", 10, lease, Lanes::Except(&parked))
        .await
        .expect("claim");
    assert_eq!(got.len(), 1, "only the due job of the other lane");
    assert_eq!(got[0].lane, "c:20");
    queue::release(&db, "n", &[got[0].id], entity::clock::now_ms())
        .await
        .expect("release");
    let again = queue::claim(&db, Kind::Deliver, "m", 10, lease, Lanes::Only("c:20"))
        .await
        .expect("claim");
    assert_eq!(again.len(), 1, "a released job is due again");
    assert_eq!(
        queue::pull_forward(&db, "c:20").await.expect("pull"),
        1,
        "the retry scheduled an hour ahead is made due"
    );
}
