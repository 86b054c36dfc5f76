//! The built-in campaign-approval template end to end: a marketer starts it by hand
//! (`startRun`), it looks the segment up, posts the approval request to chat (a real HTTP
//! receiver on loopback standing in for Slack), waits for an approver — never the requester nor
//! the workflow's owner, and only someone with the step's role — then for compliance when the
//! template (SMS) or the policy asks for it, and posts the decision. A request nobody decides in
//! time ends `expired` and its owner is told.

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::receiver::Receiver;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
pub const START: &str = "mutation($i: Int!, $in: JSON) { startRun(instance: $i, input: $in) {
    id instance status detail startedBy } }";
pub const APPROVE: &str = "mutation($r: Int!) { approveRun(id: $r) { status detail } }";
const RUN: &str = "query($i: Int!) { runs(instance: $i) { id status step detail startedBy } }";

pub fn alice(app: &TestApp) -> String {
    app.token_in("alice", &["marketer"], "marketing")
}

/// A segment record as the segment contract describes it, sent through ingestion.
pub async fn send_segment(app: &TestApp, id: &str, members: u64, status: &str) {
    let key = write_key(app, &["segment"]).await;
    let (code, body) = post_events(
        app,
        &key,
        &json!([{
            "id": format!("seg-{id}-{}", uuid::Uuid::new_v4().simple()), "type": "segment",
            "occurred_at": "2026-11-27T09:30:00Z",
            "payload": {"segment_id": id, "name": "EMEA trial users", "member_count": members,
                        "status": status, "refreshed_at": "2026-11-27T09:00:00Z"}
        }]),
    )
    .await;
    assert_eq!(code, 202, "segment accepted: {body}");
}

/// An active campaign-approval workflow of alice's (approved by avery: the template is
/// sensitive) posting to `rx`; returns its id.
async fn campaign(app: &TestApp, rx: &Receiver, params: Value) -> i64 {
    campaign_at(app, rx, params, "1.1.0").await
}

/// [`campaign`] on template version `version`.
async fn campaign_at(app: &TestApp, rx: &Receiver, params: Value, version: &str) -> i64 {
    let token = alice(app);
    let chat = app
        .gql(
            &token,
            "mutation($s: JSON!) { createConnection(connector: \"slack\", name: \"#campaigns\", settings: $s) { id } }",
            json!({ "s": { "webhook_url": rx.url("/chat") } }),
        )
        .await;
    let chat = chat["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("slack connection: {chat}"));
    let made = app
        .gql(
            &token,
            "mutation($p: JSON!, $c: [SlotBinding!]!, $v: String) { instantiateTemplate(template: \"campaign-approval\", version: $v, name: \"Spring launch\", params: $p, connections: $c) { id status templateVersion } }",
            json!({ "p": params, "c": [{ "slot": "chat", "connection": chat }], "v": version }),
        )
        .await;
    let inst = &made["data"]["instantiateTemplate"];
    assert_eq!(inst["status"], "pending_approval", "{made}");
    assert_eq!(inst["templateVersion"], version, "{made}");
    let id = inst["id"].as_i64().expect("instance id");
    approve_instance(app, id).await;
    id
}

/// Avery (an approver) approves instance `id`, which becomes active.
pub async fn approve_instance(app: &TestApp, id: i64) {
    let approved = app
        .gql(
            &app.token("avery", &["approver"]),
            "mutation($i: Int!) { approveInstance(id: $i) { status } }",
            json!({ "i": id }),
        )
        .await;
    assert_eq!(
        approved["data"]["approveInstance"]["status"], "active",
        "{approved}"
    );
}

pub fn params(channel: &str) -> Value {
    json!({
        "campaign_name": "Spring launch", "segment_id": "emea-trial", "channel": channel,
        "send_at": "2027-03-01T09:00:00Z", "max_audience": 5000
    })
}

pub async fn run_of(app: &TestApp, instance: i64, run: i64) -> Value {
    let body = app
        .gql(
            &app.token("carol", &["compliance"]),
            RUN,
            json!({ "i": instance }),
        )
        .await;
    body["data"]["runs"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["id"] == run).cloned())
        .unwrap_or_else(|| panic!("run {run}: {body}"))
}

/// Waits until run `run` is in `status` at `step`; returns it.
pub async fn reaches(
    app: &TestApp,
    instance: i64,
    run: i64,
    status: &str,
    step: Option<&str>,
) -> Value {
    let until = std::time::Instant::now() + WAIT;
    let mut last;
    let ok = loop {
        last = run_of(app, instance, run).await;
        if last["status"] == status && step.is_none_or(|s| last["step"] == s) {
            break true;
        }
        if std::time::Instant::now() > until {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(ok, "run {run} never became {status} at {step:?}: {last}");
    last
}

pub async fn start(app: &TestApp, token: &str, instance: i64, input: Value) -> i64 {
    let body = app
        .gql(token, START, json!({ "i": instance, "in": input }))
        .await;
    let run = &body["data"]["startRun"];
    assert_eq!(run["status"], "running", "{body}");
    run["id"].as_i64().expect("run id")
}

/// The text of each chat message the receiver got.
pub fn chat_texts(rx: &Receiver) -> Vec<String> {
    rx.seen()
        .iter()
        .map(|s| s.body["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_manual_start_waits_for_the_right_approvers_then_announces_the_campaign() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![]).await;
    send_segment(&app, "emea-trial", 1200, "active").await;
    let instance = campaign(&app, &rx, params("sms")).await;

    // rita (approver and marketer, alice's team) starts the request: audited, hers.
    let rita = app.token_in("rita", &["approver", "marketer"], "marketing");
    let run = start(&app, &rita, instance, json!({ "requested_for": "Q1 push" })).await;
    let parked = reaches(
        &app,
        instance,
        run,
        "waiting_approval",
        Some("manager_approval"),
    )
    .await;
    assert_eq!(parked["startedBy"], "rita", "{parked}");
    let entries = audit_entries(&app, "run.start").await;
    assert!(
        entries.iter().any(|e| e["actor"] == "rita"
            && e["target"] == format!("run:{run}")
            && e["outcome"] == "allowed"),
        "run.start audited: {entries:?}"
    );

    // The approval request reached chat, rendered from the segment that was looked up.
    assert!(
        eventually(WAIT, || async { rx.count() >= 1 }).await,
        "no approval request"
    );
    let texts = chat_texts(&rx);
    assert_eq!(
        texts[0],
        "Approval needed: campaign 'Spring launch' via sms to segment 'EMEA trial users' (1200 people) on 2027-03-01T09:00:00Z. Review it in Switchyard.",
        "{texts:?}"
    );

    // Four eyes: neither the workflow's owner nor the run's starter; the step's role decides.
    let by = |who: &str, roles: &[&str]| app.token(who, roles);
    let owner = app.gql(&alice(&app), APPROVE, json!({ "r": run })).await;
    assert_eq!(error_code(&owner), Some("FORBIDDEN"), "owner: {owner}");
    let starter = app.gql(&rita, APPROVE, json!({ "r": run })).await;
    assert_eq!(
        error_code(&starter),
        Some("FORBIDDEN"),
        "starter: {starter}"
    );
    assert!(
        error_message(&starter).contains("started"),
        "{}",
        error_message(&starter)
    );
    let wrong_role = app
        .gql(&by("carol", &["compliance"]), APPROVE, json!({ "r": run }))
        .await;
    assert_eq!(error_code(&wrong_role), Some("FORBIDDEN"), "{wrong_role}");
    assert!(
        error_message(&wrong_role).contains("role approver"),
        "{}",
        error_message(&wrong_role)
    );
    let denied = audit_entries(&app, "run.approve").await;
    assert!(
        denied.iter().filter(|e| e["outcome"] == "denied").count() >= 3,
        "denials audited: {denied:?}"
    );

    // The manager step by an approver; SMS then needs compliance (the template says so).
    let ok = app
        .gql(&by("avery", &["approver"]), APPROVE, json!({ "r": run }))
        .await;
    assert_eq!(ok["data"]["approveRun"]["status"], "running", "{ok}");
    reaches(
        &app,
        instance,
        run,
        "waiting_approval",
        Some("compliance_approval"),
    )
    .await;
    let not_compliance = app
        .gql(&by("olga", &["approver"]), APPROVE, json!({ "r": run }))
        .await;
    assert_eq!(
        error_code(&not_compliance),
        Some("FORBIDDEN"),
        "{not_compliance}"
    );
    let signed = app
        .gql(&by("carol", &["compliance"]), APPROVE, json!({ "r": run }))
        .await;
    assert_eq!(
        signed["data"]["approveRun"]["status"], "running",
        "{signed}"
    );
    reaches(&app, instance, run, "succeeded", None).await;
    assert!(
        eventually(WAIT, || async { rx.count() >= 2 }).await,
        "no decision posted"
    );
    assert_eq!(
        chat_texts(&rx)[1],
        "Campaign 'Spring launch' to segment 'EMEA trial users' is approved and can go out on 2027-03-01T09:00:00Z."
    );
    let decided = audit_entries(&app, "run.approve").await;
    let oks: Vec<&Value> = decided
        .iter()
        .filter(|e| e["outcome"] == "allowed")
        .collect();
    assert_eq!(oks.len(), 2, "{decided:?}");
}

#[tokio::test]
async fn a_request_nobody_decides_in_time_expires_and_its_owner_is_told() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![]).await;
    send_segment(&app, "emea-trial", 1200, "active").await;
    let instance = campaign(&app, &rx, params("email")).await;
    let run = start(&app, &alice(&app), instance, json!({})).await;
    let parked = reaches(
        &app,
        instance,
        run,
        "waiting_approval",
        Some("manager_approval"),
    )
    .await;
    assert!(
        parked["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("role approver"),
        "{parked}"
    );
    bring_deadline(&app, run).await;
    let expired = reaches(&app, instance, run, "expired", None).await;
    assert!(
        expired["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("manager_approval"),
        "{expired}"
    );
    let notes = app
        .gql(
            &alice(&app),
            "{ myNotifications { topic target message } }",
            json!({}),
        )
        .await;
    let notes = notes["data"]["myNotifications"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        notes
            .iter()
            .any(|n| n["topic"] == "approval_expired" && n["target"] == format!("run:{run}")),
        "owner notified: {notes:?}"
    );
    let late = app
        .gql(
            &app.token("avery", &["approver"]),
            APPROVE,
            json!({ "r": run }),
        )
        .await;
    assert_eq!(error_code(&late), Some("CONFLICT"), "{late}");
    app.drain(WAIT).await;
    assert_eq!(
        rx.count(),
        1,
        "only the request was posted: {:?}",
        chat_texts(&rx)
    );
}

#[tokio::test]
async fn the_policy_can_require_a_compliance_sign_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["model.conf", "policy.csv", "tests.csv"] {
        std::fs::copy(policy_dir().join(f), dir.path().join(f)).expect("copy policy");
    }
    let mut csv = std::fs::read_to_string(dir.path().join("policy.csv")).expect("policy");
    csv.push_str("p, signoff, workflow:campaign-approval, compliance, any, allow\n");
    std::fs::write(dir.path().join("policy.csv"), csv).expect("write policy");
    // tests.csv says no rule requires it; this installation's policy does.
    let cases = std::fs::read_to_string(dir.path().join("tests.csv")).expect("cases");
    let cases: String = cases
        .lines()
        .filter(|l| !l.starts_with("signoff,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("tests.csv"), cases).expect("write cases");
    let app = spawn_with(Setup {
        workers: true,
        policy_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![]).await;
    send_segment(&app, "emea-trial", 1200, "active").await;
    // Email and no budget: the template itself would not ask compliance.
    let instance = campaign(&app, &rx, params("email")).await;
    let run = start(&app, &alice(&app), instance, json!({})).await;
    reaches(
        &app,
        instance,
        run,
        "waiting_approval",
        Some("manager_approval"),
    )
    .await;
    let first = app
        .gql(
            &app.token("avery", &["approver"]),
            APPROVE,
            json!({ "r": run }),
        )
        .await;
    assert_eq!(
        first["data"]["approveRun"]["status"], "waiting_approval",
        "{first}"
    );
    assert!(
        first["data"]["approveRun"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("compliance sign-off"),
        "{first}"
    );
    let again = app
        .gql(
            &app.token("olga", &["approver"]),
            APPROVE,
            json!({ "r": run }),
        )
        .await;
    assert_eq!(error_code(&again), Some("FORBIDDEN"), "{again}");
    let signed = app
        .gql(
            &app.token("carol", &["compliance"]),
            APPROVE,
            json!({ "r": run }),
        )
        .await;
    assert_eq!(
        signed["data"]["approveRun"]["detail"], "approved by avery; signed off by carol",
        "{signed}"
    );
    reaches(&app, instance, run, "succeeded", None).await;
    assert!(eventually(WAIT, || async { rx.count() >= 2 }).await);
}

#[tokio::test]
async fn bad_starts_change_nothing() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![]).await;
    // An event-triggered workflow cannot be started by hand.
    let forwarding = crate::execution::forwarding_to(&app, &rx.url("/hook"), 5).await;
    let pat = app.token("pat", &["platform_engineer"]);
    let refused = app
        .gql(&pat, START, json!({ "i": forwarding, "in": {} }))
        .await;
    assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    assert!(
        error_message(&refused).contains("starts on `event.form_submitted` events"),
        "{}",
        error_message(&refused)
    );
    let runs = app.gql(&pat, RUN, json!({ "i": forwarding })).await;
    assert_eq!(runs["data"]["runs"], json!([]), "{runs}");

    // A segment that does not exist: the run is rejected at the check, nothing is posted.
    let instance = campaign(&app, &rx, params("email")).await;
    let viewer = app
        .gql(
            &app.token("vic", &["viewer"]),
            START,
            json!({ "i": instance }),
        )
        .await;
    assert_eq!(error_code(&viewer), Some("FORBIDDEN"), "{viewer}");
    let not_object = app
        .gql(&alice(&app), START, json!({ "i": instance, "in": [1, 2] }))
        .await;
    assert_eq!(
        error_code(&not_object),
        Some("BAD_USER_INPUT"),
        "{not_object}"
    );
    let run = start(&app, &alice(&app), instance, json!({})).await;
    let rejected = reaches(&app, instance, run, "rejected", Some("check_segment")).await;
    assert!(
        rejected["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("no segment with segment_id = emea-trial"),
        "{rejected}"
    );
    // Too large once it exists.
    send_segment(&app, "emea-trial", 999_999, "active").await;
    let run = start(&app, &alice(&app), instance, json!({})).await;
    let rejected = reaches(&app, instance, run, "rejected", Some("check_segment")).await;
    assert_eq!(
        rejected["detail"], "The segment is larger than the allowed audience",
        "{rejected}"
    );
    app.drain(WAIT).await;
    assert_eq!(rx.count(), 0, "{:?}", chat_texts(&rx));
}

/// The deadline is 72 hours away: brings it, and its expiry job, to now.
async fn bring_deadline(app: &TestApp, run: i64) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let db = &app.state.db;
    let row = entity::run::Entity::find_by_id(run)
        .one(db)
        .await
        .expect("read run")
        .expect("run");
    let deadline = row.deadline_at.expect("an approval deadline");
    let hours = (entity::clock::parse(&deadline).expect("time") - chrono::Utc::now()).num_minutes()
        as f64
        / 60.0;
    assert!((71.0..=72.0).contains(&hours), "72 h deadline: {deadline}");
    let past = entity::clock::format(chrono::Utc::now() - chrono::Duration::seconds(1));
    entity::run::Entity::update_many()
        .col_expr(entity::run::Column::DeadlineAt, Expr::value(past))
        .filter(entity::run::Column::Id.eq(run))
        .exec(db)
        .await
        .expect("move deadline");
    let moved = entity::work_queue::Entity::update_many()
        .col_expr(
            entity::work_queue::Column::RunAt,
            Expr::value(entity::clock::now_ms()),
        )
        .filter(entity::work_queue::Column::DedupeKey.eq(format!("expire:{run}")))
        .exec(db)
        .await
        .expect("move expiry job");
    assert_eq!(moved.rows_affected, 1, "one expiry job was staged");
    if let Some(engine) = &app.state.engine {
        engine.wake.all();
    }
}

#[tokio::test]
async fn on_timeout_reject_ends_an_undecided_request_rejected() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![]).await;
    send_segment(&app, "emea-trial", 1200, "active").await;
    // Version 1.0.0 says `on_timeout: reject` where 1.1.0 says `expire`.
    let instance = campaign_at(&app, &rx, params("email"), "1.0.0").await;
    let run = start(&app, &alice(&app), instance, json!({})).await;
    reaches(
        &app,
        instance,
        run,
        "waiting_approval",
        Some("manager_approval"),
    )
    .await;
    bring_deadline(&app, run).await;
    let ended = reaches(&app, instance, run, "rejected", None).await;
    let detail = ended["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("rejected: nobody approved step manager_approval"),
        "{ended}"
    );
    app.drain(Duration::from_secs(10)).await;
    let texts = chat_texts(&rx);
    assert!(
        texts.iter().all(|t| !t.contains("is approved")),
        "a rejected campaign is not announced: {texts:?}"
    );
}
