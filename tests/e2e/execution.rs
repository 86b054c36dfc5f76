//! Workflows that run: accepted events become runs and deliveries at real local destinations,
//! with idempotency keys, retries, dead letters, replay and the SSRF guard. The workers run
//! in-process exactly as `switchyard serve` runs them, with a compressed retry schedule
//! (now, +1 s, +1 s, +1 s).

use crate::helpers::*;
use crate::ingest::{post_events, write_key};
use crate::receiver::{Receiver, Reply};
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PAT: (&str, &str) = ("pat", "platform_engineer");
/// Who the tests watch runs and deliveries as: compliance may read every workflow and every
/// data class, whoever owns it (`mia`'s workflows included).
const WATCHER: (&str, &str) = ("carol", "compliance");
const WAIT: Duration = Duration::from_secs(20);

const INSTANTIATE: &str = "mutation($t: String!, $n: String!, $p: JSON!, $c: [SlotBinding!]!) {
    instantiateTemplate(template: $t, name: $n, params: $p, connections: $c) { id status } }";
const RUNS: &str =
    "query($i: Int!) { runs(instance: $i) { id eventId status step detail latencyMs } }";
const DELIVERIES: &str = "query($r: Int!) { deliveries(run: $r) {
    id status attempts responseCode error idempotencyKey history record latencyMs connector } }";
const DEAD: &str =
    "query($i: Int!) { deadLetters(instance: $i) { id status attempts error responseCode } }";
const REPLAY: &str = "mutation($ids: [Int!], $i: Int) {
    replayDeadLetters(ids: $ids, instance: $i) { delivery replayed reason } }";

async fn spawn() -> TestApp {
    spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await
}

pub async fn connect(app: &TestApp, who: (&str, &str), connector: &str, settings: Value) -> Value {
    app.gql(
        &app.token(who.0, &[who.1]),
        "mutation($c: String!, $n: String!, $s: JSON!) { createConnection(connector: $c, name: $n, settings: $s) { id } }",
        json!({ "c": connector, "n": format!("{connector}-{}", uuid::Uuid::new_v4().simple()), "s": settings }),
    )
    .await
}

pub async fn connection_id(
    app: &TestApp,
    who: (&str, &str),
    connector: &str,
    settings: Value,
) -> i64 {
    let body = connect(app, who, connector, settings).await;
    body["data"]["createConnection"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("createConnection {connector}: {body}"))
}

/// Publishes `form-forwarding`: every form submission to a webhook (email, form, company).
async fn publish_forwarding(app: &TestApp) {
    let input = json!({
        "key": "form-forwarding", "name": "Form forwarding", "category": "lead-management",
        "owner": "platform-integrations", "version": "1.0.0",
        "summary": "Send every form submission to an endpoint of yours.",
        "description": "Posts email, form and company of each submission to a signed webhook.",
        "definition": {
            "parameters": {"type": "object", "properties": {}, "additionalProperties": false},
            "trigger": {"type": "event", "contract": "event.form_submitted", "versions": "^1"},
            "slots": {"hook": {"category": "generic", "description": "Receiving endpoint"}},
            "reads": [{"contract": "event.form_submitted", "versions": "^1",
                       "fields": ["email", "form_id", "company"]}],
            "steps": [{"id": "forward", "type": "deliver", "description": "Send it",
                       "reads": ["email", "form_id", "company"],
                       "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]
        }
    });
    let body = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
            json!({ "i": input }),
        )
        .await;
    assert!(body["errors"].is_null(), "publish form-forwarding: {body}");
}

/// An active form-forwarding instance posting to `url`; returns its id.
pub async fn forwarding_to(app: &TestApp, url: &str, timeout_seconds: u64) -> i64 {
    publish_forwarding(app).await;
    let hook = connection_id(
        app,
        PAT,
        "webhook",
        json!({ "url": url, "secret": SECRET, "timeout_seconds": timeout_seconds }),
    )
    .await;
    let body = app
        .gql(
            &app.token(PAT.0, &[PAT.1]),
            INSTANTIATE,
            json!({ "t": "form-forwarding", "n": "to receiver", "p": {},
                    "c": [{ "slot": "hook", "connection": hook }] }),
        )
        .await;
    body["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("instantiate: {body}"))
}

fn event(id: &str, email: &str) -> Value {
    json!({
        "id": id, "type": "event.form_submitted", "occurred_at": "2026-11-27T09:30:00Z",
        "payload": {
            "email": email, "form_id": "ebook-2026", "source_category": "web",
            "first_name": "Ada", "last_name": "Lovelace", "company": "Analytical Engines",
            "country": "FR", "consent_marketing": true, "submitted_at": "2026-11-27T09:30:00Z"
        }
    })
}

async fn send(app: &TestApp, events: Value) {
    let key = write_key(app, &["event.form_submitted"]).await;
    let (status, body) = post_events(app, &key, &events).await;
    assert!(status == 202 || status == 207, "{status} {body}");
}

/// Sends one form submission with `id` and `email`.
pub async fn event_to(app: &TestApp, id: &str, email: &str) {
    send(app, json!([event(id, email)])).await;
}

/// Runs and deliveries of `instance`, for failure messages.
async fn dump(app: &TestApp, instance: i64) -> String {
    let mut out = String::new();
    for r in runs(app, instance).await {
        out.push_str(&format!("\nrun {r}"));
        for d in deliveries(app, r["id"].as_i64().unwrap_or(0)).await {
            out.push_str(&format!("\n  delivery {d}"));
        }
    }
    out
}

async fn runs(app: &TestApp, instance: i64) -> Vec<Value> {
    let body = app
        .gql(
            &app.token(WATCHER.0, &[WATCHER.1]),
            RUNS,
            json!({ "i": instance }),
        )
        .await;
    body["data"]["runs"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("runs: {body}"))
}

async fn deliveries(app: &TestApp, run: i64) -> Vec<Value> {
    let body = app
        .gql(
            &app.token(WATCHER.0, &[WATCHER.1]),
            DELIVERIES,
            json!({ "r": run }),
        )
        .await;
    body["data"]["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("deliveries: {body}"))
}

/// Waits until instance `instance` has a delivery in `status`; returns it.
async fn delivery_in(app: &TestApp, instance: i64, status: &str) -> Value {
    let until = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < until {
        for r in runs(app, instance).await {
            let id = r["id"].as_i64().unwrap_or(0);
            if let Some(d) = deliveries(app, id)
                .await
                .into_iter()
                .find(|d| d["status"] == status)
            {
                return d;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no delivery became {status}: runs {:?}",
        runs(app, instance).await
    );
}

#[tokio::test]
async fn an_accepted_event_is_delivered_signed_with_its_idempotency_key() {
    let app = spawn().await;
    let rx = Receiver::start(vec![]).await;
    let instance = forwarding_to(&app, &rx.url("/hook"), 5).await;
    send(&app, json!([event("ev-1", "ada@example.com")])).await;
    let d = delivery_in(&app, instance, "delivered").await;
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["responseCode"], 200);
    assert!(d["latencyMs"].as_i64().is_some(), "{d}");
    let seen = rx.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.path, "/hook");
    let id = req
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(
        id,
        d["idempotencyKey"].as_str().unwrap_or("?"),
        "webhook-id is the delivery key"
    );
    assert!(req.headers.get("webhook-signature").is_some());
    assert_eq!(req.body["data"]["email"], "ada@example.com");
    assert_eq!(req.body["data"]["company"], "Analytical Engines");
    assert!(
        req.body["data"].get("first_name").is_none(),
        "only the fields the template sends"
    );

    // The same event again (same id) and a second submission of the same person and form
    // (same business key) produce no second request.
    send(
        &app,
        json!([
            event("ev-1", "ada@example.com"),
            event("ev-2", "ada@example.com")
        ]),
    )
    .await;
    app.drain(WAIT).await;
    assert_eq!(
        rx.count(),
        1,
        "one effect per business key: {:?}",
        rx.distinct("webhook-id")
    );

    // Each ingest request that stored events left one audit entry, naming the source.
    let audit = app
        .gql(
            &app.token("carol", &["compliance"]),
            "query($f: AuditFilter) { auditLog(filter: $f, first: 10) { edges { node { actor after } } } }",
            json!({ "f": { "action": "events.ingest" } }),
        )
        .await;
    let edges = audit["data"]["auditLog"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        edges.len(),
        2,
        "the second request stored ev-2 only: {audit}"
    );
    assert_eq!(edges[0]["node"]["actor"], "write-key:website", "{audit}");
    assert_eq!(edges[0]["node"]["after"]["runs_staged"], 1, "{audit}");
}

#[tokio::test]
async fn a_500_then_200_is_delivered_once_after_a_retry_with_the_same_webhook_id() {
    let app = spawn().await;
    let rx = Receiver::start(vec![Reply::Status(500)]).await;
    let instance = forwarding_to(&app, &rx.url("/hook"), 5).await;
    send(&app, json!([event("ev-r", "retry@example.com")])).await;
    let d = delivery_in(&app, instance, "delivered").await;
    assert_eq!(d["attempts"], 2, "{d}");
    let history = d["history"].as_array().expect("history");
    assert_eq!(history[0]["status_code"], 500);
    assert_eq!(history[1]["status_code"], 200);
    assert_eq!(rx.count(), 2);
    assert_eq!(
        rx.distinct("webhook-id").len(),
        1,
        "both attempts carry the same webhook-id"
    );
}

#[tokio::test]
async fn a_run_job_repeated_after_its_run_was_recorded_adds_no_run_and_no_delivery() {
    let app = spawn().await;
    let rx = Receiver::start(vec![]).await;
    let instance = forwarding_to(&app, &rx.url("/hook"), 5).await;
    send(&app, json!([event("ev-again", "again@example.com")])).await;
    delivery_in(&app, instance, "delivered").await;
    // The event's run job once more, after its run was recorded (the batch does not read
    // existing runs for first jobs: the run's unique key has to keep it to one).
    let job = worker::jobs::Job::V1(worker::jobs::JobV1::Run {
        instance_id: instance,
        event_id: "ev-again".into(),
        from_step: None,
    });
    let tx = worker::db::begin_write(&app.state.db).await.expect("begin");
    let staged = worker::queue::stage(
        &tx,
        vec![worker::queue::NewJob::run(job, chrono::Utc::now())],
    )
    .await
    .expect("stage");
    // Counted before the commit, so no worker can have taken it yet: the job is really queued
    // (a repeat `stage` skipped would make the assertions below pass for nothing).
    let queued = {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        entity::work_queue::Entity::find()
            .filter(entity::work_queue::Column::Kind.eq("run"))
            .count(&*tx)
            .await
            .expect("count")
    };
    tx.commit().await.expect("commit");
    assert!(staged.is_empty(), "staged unclaimed");
    assert_eq!(queued, 1, "the repeated run job is in the queue");
    let engine = app.state.engine.as_ref().expect("workers");
    engine.wake.runs_queued();
    app.drain(WAIT).await;
    assert_eq!(runs(&app, instance).await.len(), 1, "still one run");
    assert_eq!(rx.count(), 1, "delivered once");
}

#[tokio::test]
async fn a_hanging_destination_times_out_and_the_retry_delivers() {
    let app = spawn().await;
    let rx = Receiver::start(vec![Reply::Hang(Duration::from_secs(4))]).await;
    let instance = forwarding_to(&app, &rx.url("/slow"), 1).await;
    send(&app, json!([event("ev-h", "hang@example.com")])).await;
    let d = delivery_in(&app, instance, "delivered").await;
    assert_eq!(d["attempts"], 2, "{d}");
    let first = &d["history"][0];
    assert!(first["status_code"].is_null(), "{first}");
    assert!(
        first["error"].as_str().unwrap_or("").contains("time"),
        "{first}"
    );
}

#[tokio::test]
async fn a_410_is_a_dead_letter_at_once_and_a_replay_delivers_it_once() {
    let app = spawn().await;
    let rx = Receiver::start(vec![Reply::Status(410)]).await;
    let instance = forwarding_to(&app, &rx.url("/gone"), 5).await;
    send(&app, json!([event("ev-g", "gone@example.com")])).await;
    let dead = delivery_in(&app, instance, "dead").await;
    assert_eq!(dead["attempts"], 1, "410 is permanent: {dead}");
    assert_eq!(dead["responseCode"], 410);
    let token = app.token(PAT.0, &[PAT.1]);
    let listed = app.gql(&token, DEAD, json!({ "i": instance })).await;
    assert_eq!(
        listed["data"]["deadLetters"][0]["id"], dead["id"],
        "{listed}"
    );

    // A marketer may not replay a platform team's instance.
    let denied = app
        .gql(
            &app.token("mia", &["marketer"]),
            REPLAY,
            json!({ "i": instance }),
        )
        .await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");

    let replayed = app
        .gql(&token, REPLAY, json!({ "ids": [dead["id"]] }))
        .await;
    assert_eq!(
        replayed["data"]["replayDeadLetters"][0]["replayed"], true,
        "{replayed}"
    );
    let d = delivery_in(&app, instance, "delivered").await;
    assert_eq!(d["attempts"], 2);
    assert_eq!(rx.count(), 2);
    assert_eq!(
        rx.distinct("webhook-id").len(),
        1,
        "a replay keeps the webhook-id"
    );
    let again = app
        .gql(&token, REPLAY, json!({ "ids": [dead["id"]] }))
        .await;
    assert_eq!(
        error_code(&again),
        Some("NOT_FOUND"),
        "no longer a dead letter: {again}"
    );

    let audit = app
        .gql(
            &app.token("carol", &["compliance"]),
            "query($f: AuditFilter) { auditLog(filter: $f, first: 10) { edges { node { action target actor } } } }",
            json!({ "f": { "action": "delivery.replay" } }),
        )
        .await;
    let edges = audit["data"]["auditLog"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        edges.iter().any(|e| e["node"]["actor"] == "pat"
            && e["node"]["target"] == format!("delivery:{}", dead["id"])),
        "{audit}"
    );
}

#[tokio::test]
async fn retries_exhausted_make_a_dead_letter_with_every_attempt_recorded() {
    let app = spawn().await;
    let rx = Receiver::start(vec![Reply::Status(503); 4]).await;
    let instance = forwarding_to(&app, &rx.url("/down"), 5).await;
    send(&app, json!([event("ev-d", "down@example.com")])).await;
    let dead = delivery_in(&app, instance, "dead").await;
    assert_eq!(dead["attempts"], 4, "the whole schedule was used: {dead}");
    let codes: Vec<&Value> = dead["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| &h["status_code"])
        .collect();
    assert_eq!(codes, vec![&json!(503); 4]);
    assert!(
        dead["error"].as_str().unwrap_or("").contains("503"),
        "{dead}"
    );
}

#[tokio::test]
async fn metadata_and_private_addresses_are_refused_before_any_packet() {
    let app = spawn().await;
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
    ] {
        let body = connect(
            &app,
            PAT,
            "webhook",
            json!({ "url": url, "secret": SECRET }),
        )
        .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{url}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "settings.url",
            "{body}"
        );
    }
}

#[tokio::test]
async fn lead_capture_upserts_each_lead_in_hubspot_and_posts_a_name_free_notice() {
    let app = spawn().await;
    let hubspot = Receiver::start(vec![]).await;
    let slack = Receiver::start(vec![]).await;
    let mia = ("mia", "marketer");
    let crm = connection_id(
        &app,
        mia,
        "hubspot",
        json!({ "base_url": hubspot.url(""), "access_token": "pat-eu1-0123456789" }),
    )
    .await;
    let chat = connection_id(
        &app,
        mia,
        "slack",
        json!({ "webhook_url": slack.url("/services/T0/B0/x") }),
    )
    .await;
    let body = app
        .gql(
            &app.token(mia.0, &[mia.1]),
            INSTANTIATE,
            json!({ "t": "lead-capture", "n": "EMEA forms", "p": { "default_lead_status": "new" },
                    "c": [{ "slot": "crm", "connection": crm }, { "slot": "chat", "connection": chat }] }),
        )
        .await;
    let instance = body["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"));
    let mut no_consent = event("lc-3", "nope@example.com");
    no_consent["payload"]["consent_marketing"] = json!(false);
    send(
        &app,
        json!([
            event("lc-1", "ada@example.com"),
            event("lc-2", "grace@example.com"),
            no_consent
        ]),
    )
    .await;
    let arrived = eventually(WAIT, || async {
        hubspot.count() >= 2 && slack.count() >= 2
    })
    .await;
    assert!(
        arrived,
        "hubspot {} slack {}: {}",
        hubspot.count(),
        slack.count(),
        dump(&app, instance).await
    );
    let seen = hubspot.seen();
    let req = &seen[0];
    assert_eq!(req.path, "/crm/v3/objects/contacts/batch/upsert");
    assert_eq!(
        req.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer pat-eu1-0123456789")
    );
    let input = &req.body["inputs"][0];
    assert_eq!(input["idProperty"], "email", "{}", req.body);
    assert!(
        input["id"] == "ada@example.com" || input["id"] == "grace@example.com",
        "{}",
        req.body
    );
    for notice in slack.seen() {
        let text = notice.body["text"].as_str().unwrap_or("");
        assert!(text.contains("Analytical Engines"), "{text}");
        assert!(
            !text.contains("@") && !text.contains("Ada"),
            "no personal data in chat: {text}"
        );
    }
    let finished = eventually(WAIT, || async {
        runs(&app, instance)
            .await
            .iter()
            .any(|r| r["eventId"] == "lc-3" && r["status"] != "running")
    })
    .await;
    assert!(finished, "the run of lc-3 finished");
    let all = runs(&app, instance).await;
    let skipped = all
        .iter()
        .find(|r| r["eventId"] == "lc-3")
        .expect("run of lc-3");
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert_eq!(skipped["step"], "check_consent");
    app.drain(WAIT).await;
    assert_eq!(hubspot.count(), 2, "nobody without consent reached the CRM");
}

/// Sends identify messages for `(user id, email, segments, ads consent)` through `/v1/batch`.
pub async fn identify(app: &TestApp, key: &str, people: &[(String, String, Vec<&str>, bool)]) {
    let batch: Vec<Value> = people
        .iter()
        .map(|(user, email, segments, consent)| {
            json!({ "type": "identify", "userId": user,
                    "messageId": format!("id-{}", uuid::Uuid::new_v4().simple()),
                    "timestamp": "2026-11-27T09:30:00Z",
                    "traits": { "email": email, "segment_ids": segments, "ads_opt_in": consent,
                                "lifecycle_stage": "lead", "email_opt_in": true,
                                "updated_at": "2026-11-27T09:30:00Z" } })
        })
        .collect();
    let resp = app
        .client
        .post(app.url("/v1/batch"))
        .basic_auth(key, Some(""))
        .json(&json!({ "batch": batch }))
        .send()
        .await
        .expect("batch");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(
        status == 200 || status == 202 || status == 207,
        "{status} {body}"
    );
    assert_eq!(
        body["rejected"],
        0,
        "{}",
        &body.to_string()[..body.to_string().len().min(600)]
    );
}

fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[tokio::test]
async fn audience_sync_sends_only_hashed_differences_since_the_last_sync() {
    let app = spawn().await;
    let ads = Receiver::start(vec![]).await;
    let key = write_key(&app, &["contact"]).await;
    let mut people: Vec<(String, String, Vec<&str>, bool)> = (0..101)
        .map(|i| {
            (
                format!("u{i}"),
                format!("Person{i}@Example.com"),
                vec!["emea-trial"],
                true,
            )
        })
        .collect();
    people.push((
        "u-no".into(),
        "noconsent@example.com".into(),
        vec!["emea-trial"],
        false,
    ));
    identify(&app, &key, &people).await;

    let mia = ("mia", "marketer");
    let conn = connection_id(
        &app,
        mia,
        "ads-audience",
        json!({ "url": ads.url("/audiences"), "secret": SECRET }),
    )
    .await;
    let body = app
        .gql(
            &app.token(mia.0, &[mia.1]),
            INSTANTIATE,
            json!({ "t": "audience-sync", "n": "EMEA trial users",
                    "p": { "segment_ids": ["emea-trial"], "match_keys": ["email"], "min_segment_size": 100 },
                    "c": [{ "slot": "ads", "connection": conn }] }),
        )
        .await;
    let inst = &body["data"]["instantiateTemplate"];
    assert_eq!(inst["status"], "pending_approval", "{body}");
    let id = inst["id"].as_i64().expect("id");
    let approved = app
        .gql(
            &app.token("olga", &["approver"]),
            "mutation($i: Int!) { approveInstance(id: $i) { status } }",
            json!({ "i": id }),
        )
        .await;
    assert_eq!(
        approved["data"]["approveInstance"]["status"], "active",
        "{approved}"
    );

    let run_now = |app: &TestApp| {
        let token = app.token(mia.0, &[mia.1]);
        let app_url = app.url("/graphql");
        let client = app.client.clone();
        async move {
            let body: Value = client
                .post(app_url)
                .bearer_auth(token)
                .json(&json!({ "query": "mutation($i: Int!) { runInstanceNow(id: $i) }", "variables": { "i": id } }))
                .send().await.expect("run now").json().await.expect("json");
            assert!(body["errors"].is_null(), "{body}");
        }
    };
    run_now(&app).await;
    let arrived = eventually(WAIT, || async { ads.count() >= 1 }).await;
    assert!(
        arrived,
        "first sync reached the ad platform: {}",
        dump(&app, id).await
    );
    let first = ads.seen()[0].body.clone();
    let adds = first["data"]["add"].as_array().expect("adds");
    assert_eq!(adds.len(), 101, "everyone with consent, nobody without");
    assert_eq!(first["data"]["remove"].as_array().map(Vec::len), Some(0));
    let text = first.to_string();
    assert!(
        !text.contains("example.com") && !text.contains("Example.com"),
        "no raw email leaves for ads"
    );
    assert!(
        text.contains(&sha256_hex("person7@example.com")),
        "emails are hashed lower-case"
    );

    // One person leaves the segment, one joins: the next sync sends exactly that.
    identify(
        &app,
        &key,
        &[
            ("u0".into(), "Person0@Example.com".into(), vec![], true),
            (
                "u500".into(),
                "new@example.com".into(),
                vec!["emea-trial"],
                true,
            ),
        ],
    )
    .await;
    // Ticks are per second: make sure the next one is a new tick.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    run_now(&app).await;
    assert!(
        eventually(WAIT, || async { ads.count() >= 2 }).await,
        "second sync sent"
    );
    let second = ads.seen()[1].body.clone();
    let added: Vec<String> = second["data"]["add"]
        .as_array()
        .expect("adds")
        .iter()
        .map(|a| {
            a["identifiers"]["email_sha256"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(added, vec![sha256_hex("new@example.com")], "{second}");
    let removed = second["data"]["remove"].as_array().expect("removes");
    assert_eq!(removed.len(), 1);
    assert!(
        removed[0]
            .as_str()
            .unwrap_or("")
            .ends_with(&sha256_hex("person0@example.com"))
    );
    assert_eq!(second["data"]["audience_size"], 101);

    // Nothing changed: the third sync sends nothing.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    run_now(&app).await;
    let token = app.token(mia.0, &[mia.1]);
    assert!(
        eventually(WAIT, || async {
            let body = app
                .gql(
                    &token,
                    "query($i: Int!) { runs(instance: $i) { status detail } }",
                    json!({ "i": id }),
                )
                .await;
            body["data"]["runs"]
                .as_array()
                .is_some_and(|r| r.len() == 3 && r[0]["status"] == "succeeded")
        })
        .await
    );
    assert_eq!(ads.count(), 2, "no changes, no request");
}

/// A scratch database on the test PostgreSQL server with a reporting table; `None` (and a
/// message) when the tests run without PostgreSQL.
async fn warehouse() -> Option<(String, sea_orm::DatabaseConnection)> {
    use sea_orm::ConnectionTrait;
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))?;
    let admin = sea_orm::Database::connect(&url).await.expect("postgres");
    let name = format!("sy_wh_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create db");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let dsn = format!("{base}/{name}");
    let db = sea_orm::Database::connect(&dsn)
        .await
        .expect("warehouse db");
    db.execute_unprepared(
        "CREATE TABLE pipeline (opportunity_id text PRIMARY KEY, account_domain text, amount numeric, \
         currency text, stage text, contact_email text, contact_email_sha256 text, lead_status text)",
    )
    .await
    .expect("create table");
    db.execute_unprepared(
        "CREATE TABLE engagement (metric_id text PRIMARY KEY, campaign_id text, asset_id text, \
         channel text, date date, impressions bigint, clicks bigint, spend numeric, currency text, \
         asset_name text, asset_format text)",
    )
    .await
    .expect("create table");
    Some((dsn, db))
}

#[tokio::test]
async fn engagement_to_warehouse_loads_rows_joined_with_their_creative_asset() {
    use sea_orm::ConnectionTrait;
    let Some((dsn, wh)) = warehouse().await else {
        eprintln!(
            "skipped: the warehouse connector needs PostgreSQL (set DATABASE_URL=postgres://…)"
        );
        return;
    };
    let app = spawn().await;
    let dana = ("dana", "data_engineer");
    let table = connection_id(
        &app,
        dana,
        "postgres",
        json!({ "dsn": dsn, "table": "engagement", "key_column": "metric_id" }),
    )
    .await;
    let body = app
        .gql(
            &app.token(dana.0, &[dana.1]),
            INSTANTIATE,
            json!({ "t": "engagement-to-warehouse", "n": "engagement", "p": {},
                    "c": [{ "slot": "warehouse", "connection": table }] }),
        )
        .await;
    let id = body["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"));
    let key = write_key(&app, &["creative_asset", "engagement_metric"]).await;
    let asset = json!({ "id": "asset-1", "type": "creative_asset", "occurred_at": "2026-11-27T09:00:00Z",
        "payload": { "asset_id": "hero-video", "name": "Spring hero video", "format": "video",
                     "updated_at": "2026-11-27T09:00:00Z" } });
    let (status, sent) = post_events(&app, &key, &json!([asset])).await;
    assert_eq!(status, 202, "{sent}");
    let metric = |n: &str, asset: Option<&str>, clicks: u32| {
        let mut payload = json!({ "metric_id": format!("m-{n}"), "campaign_id": "spring-26",
            "channel": "paid_social", "date": "2026-11-26", "impressions": 1000, "clicks": clicks,
            "spend": 12.5, "currency": "EUR", "measured_at": "2026-11-27T06:00:00Z" });
        if let Some(a) = asset {
            payload["asset_id"] = json!(a);
        }
        json!({ "id": format!("metric-{n}-{clicks}"), "type": "engagement_metric",
                "occurred_at": "2026-11-27T06:00:00Z", "payload": payload })
    };
    let (status, sent) = post_events(
        &app,
        &key,
        &json!([
            metric("known", Some("hero-video"), 40),
            metric("unknown", Some("nope-asset"), 7),
            metric("none", None, 3)
        ]),
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    app.drain(WAIT).await;
    let rows = || {
        let wh = wh.clone();
        async move {
            wh.query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT metric_id, clicks, asset_name, asset_format FROM engagement ORDER BY 1",
            ))
            .await
            .expect("select")
        }
    };
    let got = rows().await;
    let ids: Vec<String> = got
        .iter()
        .map(|r| r.try_get("", "metric_id").unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        ["m-known", "m-none"],
        "the row for an unknown asset is skipped: {}",
        dump(&app, id).await
    );
    let name: Option<String> = got[0].try_get("", "asset_name").unwrap_or_default();
    let format: Option<String> = got[0].try_get("", "asset_format").unwrap_or_default();
    assert_eq!(
        (name.as_deref(), format.as_deref()),
        (Some("Spring hero video"), Some("video"))
    );
    let skipped = runs(&app, id).await;
    let unknown = skipped
        .iter()
        .find(|r| r["eventId"] == "metric-unknown-7")
        .expect("run of the unknown asset");
    assert_eq!(unknown["status"], "skipped", "{unknown}");
    assert_eq!(unknown["step"], "find_asset", "{unknown}");
    // A corrected row replaces the old one (upsert on metric_id).
    let (status, _) = post_events(
        &app,
        &key,
        &json!([metric("known", Some("hero-video"), 55)]),
    )
    .await;
    assert_eq!(status, 202);
    app.drain(WAIT).await;
    let got = rows().await;
    assert_eq!(got.len(), 2);
    let clicks: i64 = got[0].try_get("", "clicks").unwrap_or_default();
    assert_eq!(clicks, 55, "the corrected row replaced the first");
}

#[tokio::test]
async fn reporting_export_upserts_warehouse_rows_and_appends_the_export_file() {
    use sea_orm::ConnectionTrait;
    let Some((dsn, wh)) = warehouse().await else {
        eprintln!(
            "skipped: the warehouse connector needs PostgreSQL (set DATABASE_URL=postgres://…)"
        );
        return;
    };
    let app = spawn().await;
    let dana = ("dana", "data_engineer");
    let bad = connect(
        &app,
        dana,
        "postgres",
        json!({ "dsn": dsn, "table": "missing_table", "key_column": "opportunity_id" }),
    )
    .await;
    assert_eq!(
        bad["errors"][0]["extensions"]["field"], "settings.table",
        "{bad}"
    );
    let warehouse = connection_id(
        &app,
        dana,
        "postgres",
        json!({ "dsn": dsn, "table": "pipeline", "key_column": "opportunity_id" }),
    )
    .await;
    let folder = tempfile::tempdir().expect("export dir");
    let file = connection_id(
        &app,
        dana,
        "file",
        json!({ "directory": folder.path().display().to_string(), "format": "jsonl" }),
    )
    .await;
    let body = app
        .gql(
            &app.token(dana.0, &[dana.1]),
            INSTANTIATE,
            json!({ "t": "reporting-export", "n": "pipeline", "p": { "lookback_days": 1, "file_export_enabled": true },
                    "c": [{ "slot": "warehouse", "connection": warehouse }, { "slot": "export_file", "connection": file }] }),
        )
        .await;
    let id = body["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"));
    let key = write_key(&app, &["event.opportunity_created"]).await;
    let opp = |n: u32, amount: u32| {
        json!({
        "id": format!("opp-ev-{n}-{amount}"), "type": "event.opportunity_created", "occurred_at": "2026-11-27T09:30:00Z",
        "payload": { "opportunity_id": format!("006-{n}"), "account_domain": "acme.com", "amount": amount,
                     "currency": "EUR", "stage": "proposal", "created_at": "2026-11-27T09:30:00Z", "source_category": "web",
                     "contact_email": "Buyer@Acme.com" } })
    };
    let (status, sent) = post_events(&app, &key, &json!([opp(1, 1000), opp(2, 2500)])).await;
    assert_eq!(status, 202, "{sent}");
    let run_now = "mutation($i: Int!) { runInstanceNow(id: $i) }";
    let ran = app
        .gql(&app.token(dana.0, &[dana.1]), run_now, json!({ "i": id }))
        .await;
    assert!(ran["errors"].is_null(), "{ran}");
    let rows = |wh: &sea_orm::DatabaseConnection| {
        let wh = wh.clone();
        async move {
            wh.query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT opportunity_id, amount::text AS amount, contact_email, contact_email_sha256 FROM pipeline ORDER BY 1",
            ))
            .await
            .expect("select")
        }
    };
    assert!(
        eventually(WAIT, || async { rows(&wh).await.len() == 2 }).await,
        "{}",
        dump(&app, id).await
    );
    let got = rows(&wh).await;
    let email: String = got[0].try_get("", "contact_email").unwrap_or_default();
    let hashed: String = got[0]
        .try_get("", "contact_email_sha256")
        .unwrap_or_default();
    assert_eq!(email, "", "clear-text email only when explicitly allowed");
    assert_eq!(hashed, sha256_hex("buyer@acme.com"));
    let lines = || -> usize {
        std::fs::read_dir(folder.path())
            .map(|d| {
                d.flatten()
                    .map(|f| {
                        std::fs::read_to_string(f.path())
                            .unwrap_or_default()
                            .lines()
                            .count()
                    })
                    .sum()
            })
            .unwrap_or(0)
    };
    assert!(
        eventually(WAIT, || async { lines() == 2 }).await,
        "export file has one line per opportunity"
    );

    // The next export: a new deal adds a row; a same-day resend of deal 1 is dropped by the
    // template's "one row per deal" dedupe step.
    let (status, _) = post_events(&app, &key, &json!([opp(1, 1200), opp(3, 900)])).await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ran = app
        .gql(&app.token(dana.0, &[dana.1]), run_now, json!({ "i": id }))
        .await;
    assert!(ran["errors"].is_null(), "{ran}");
    assert!(
        eventually(WAIT, || async { rows(&wh).await.len() == 3 }).await,
        "{}",
        dump(&app, id).await
    );
    assert!(
        eventually(WAIT, || async { lines() == 3 }).await,
        "one more line in the export file"
    );
    let settled = eventually(WAIT, || async {
        runs(&app, id)
            .await
            .iter()
            .any(|r| r["eventId"] == "opp-ev-1-1200" && r["status"] != "running")
    })
    .await;
    assert!(
        settled,
        "the resend's run finished: {}",
        dump(&app, id).await
    );
    let resend = runs(&app, id)
        .await
        .into_iter()
        .find(|r| r["eventId"] == "opp-ev-1-1200");
    let resend = resend.expect("the resend has a run");
    assert_eq!(resend["status"], "skipped", "{resend}");
    assert_eq!(resend["step"], "one_row_per_deal");
    let amount: String = rows(&wh).await[0].try_get("", "amount").unwrap_or_default();
    assert_eq!(amount, "1000");
}

#[tokio::test]
async fn a_dead_letter_is_not_replayed_once_policy_forbids_its_data_there() {
    let policies = tempfile::tempdir().expect("policy dir");
    for name in ["model.conf", "policy.csv", "tests.csv"] {
        std::fs::copy(policy_dir().join(name), policies.path().join(name)).expect("copy policy");
    }
    let app = spawn_with(Setup {
        workers: true,
        policy_dir: Some(policies.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let rx = Receiver::start(vec![Reply::Status(410)]).await;
    let instance = forwarding_to(&app, &rx.url("/hook"), 5).await;
    send(&app, json!([event("ev-p", "policy@example.com")])).await;
    let dead = delivery_in(&app, instance, "dead").await;

    // Compliance decides personal data may no longer go to generic endpoints.
    let csv = std::fs::read_to_string(policies.path().join("policy.csv")).expect("policy");
    let csv = csv.replace(
        "p, flows, flow:personal:generic, send, any, allow",
        "p, flows, flow:personal:generic, send, any, deny",
    );
    std::fs::write(policies.path().join("policy.csv"), csv).expect("write policy");
    assert!(app.state.policy.reload_if_changed().await.expect("reload"));

    let token = app.token(PAT.0, &[PAT.1]);
    let body = app
        .gql(&token, REPLAY, json!({ "ids": [dead["id"]] }))
        .await;
    let result = &body["data"]["replayDeadLetters"][0];
    assert_eq!(result["replayed"], false, "{body}");
    let reason = result["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("email") && reason.contains("generic"),
        "the refusal says why: {reason}"
    );
    app.drain(WAIT).await;
    assert_eq!(rx.count(), 1, "nothing was sent again");
    let still = app.gql(&token, DEAD, json!({ "i": instance })).await;
    assert_eq!(
        still["data"]["deadLetters"][0]["id"], dead["id"],
        "still a dead letter: {still}"
    );
}

#[tokio::test]
async fn an_approve_step_holds_the_run_until_someone_else_approves_it() {
    let app = spawn().await;
    let rx = Receiver::start(vec![]).await;
    let input = json!({
        "key": "gated-forwarding", "name": "Gated forwarding", "category": "approvals",
        "owner": "platform-integrations", "version": "1.0.0",
        "summary": "Forward a submission once a person approved it.",
        "description": "Each submission waits for an approver before it is sent on.",
        "definition": {
            "parameters": {"type": "object", "properties": {}},
            "trigger": {"type": "event", "contract": "event.form_submitted", "versions": "^1"},
            "slots": {"hook": {"category": "generic"}},
            "reads": [{"contract": "event.form_submitted", "versions": "^1", "fields": ["email", "form_id"]}],
            "steps": [
                {"id": "sign_off", "type": "approve", "config": {"reason": "Partner data needs sign-off"}},
                {"id": "forward", "type": "deliver", "reads": ["email", "form_id"],
                 "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]
        }
    });
    let token = app.token(PAT.0, &[PAT.1]);
    let published = app
        .gql(
            &token,
            "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
            json!({ "i": input }),
        )
        .await;
    assert!(published["errors"].is_null(), "{published}");
    let hook = connection_id(
        &app,
        PAT,
        "webhook",
        json!({ "url": rx.url("/gate"), "secret": SECRET }),
    )
    .await;
    let made = app
        .gql(
            &token,
            INSTANTIATE,
            json!({ "t": "gated-forwarding", "n": "gate", "p": {},
            "c": [{ "slot": "hook", "connection": hook }] }),
        )
        .await;
    let instance = made["data"]["instantiateTemplate"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{made}"));
    send(
        &app,
        json!([
            event("gate-1", "one@example.com"),
            event("gate-2", "two@example.com")
        ]),
    )
    .await;
    let parked = eventually(WAIT, || async {
        runs(&app, instance)
            .await
            .iter()
            .filter(|r| r["status"] == "waiting_approval")
            .count()
            == 2
    })
    .await;
    assert!(parked, "{}", dump(&app, instance).await);
    assert_eq!(rx.count(), 0, "nothing leaves before approval");
    let all = runs(&app, instance).await;
    let id_of = |e: &str| {
        all.iter()
            .find(|r| r["eventId"] == e)
            .and_then(|r| r["id"].as_i64())
            .expect("run")
    };
    let approve = "mutation($r: Int!) { approveRun(id: $r) { status detail } }";
    let reject = "mutation($r: Int!) { rejectRun(id: $r) { status detail } }";

    let own = app
        .gql(&token, approve, json!({ "r": id_of("gate-1") }))
        .await;
    assert_eq!(error_code(&own), Some("FORBIDDEN"), "four eyes: {own}");
    let marketer = app
        .gql(
            &app.token("mia", &["marketer"]),
            approve,
            json!({ "r": id_of("gate-1") }),
        )
        .await;
    assert_eq!(error_code(&marketer), Some("FORBIDDEN"), "{marketer}");

    let olga = app.token("olga", &["approver"]);
    let ok = app
        .gql(&olga, approve, json!({ "r": id_of("gate-1") }))
        .await;
    assert_eq!(
        ok["data"]["approveRun"]["detail"], "approved by olga",
        "{ok}"
    );
    let no = app
        .gql(&olga, reject, json!({ "r": id_of("gate-2") }))
        .await;
    assert_eq!(no["data"]["rejectRun"]["status"], "rejected", "{no}");
    assert!(
        eventually(WAIT, || async { rx.count() >= 1 }).await,
        "{}",
        dump(&app, instance).await
    );
    let d = delivery_in(&app, instance, "delivered").await;
    assert_eq!(d["record"]["email"], "one@example.com");
    app.drain(WAIT).await;
    assert_eq!(rx.count(), 1, "the rejected run sent nothing");
    let again = app
        .gql(&olga, approve, json!({ "r": id_of("gate-2") }))
        .await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
}
