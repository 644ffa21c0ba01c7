//! Load without loss (issue #8): 1,000 jobs submitted at once across four
//! accounts, with SSE subscribers on every account and a webhook receiver,
//! while the manual clock moves the jobs to their end. Every subscriber must
//! see exactly its account's log (one terminal notification per job, no gap,
//! nothing of another account), every job must end as its fault plan says,
//! every notification must reach the webhook exactly once per delivery id
//! (also when the receiver answers 500 for a while), the fake's delivery log
//! must agree with what the receiver got, and the request journal must hold
//! one entry per request the test sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::helpers::{DEMO, OTHER, TestApp};
use crate::peers::{Behaviour, Received, Receiver, SseClient, SseMessage, verify_signature};

const JOBS: usize = 1000;

/// The two fixture accounts and two `--any-token` tenants.
const TOKENS: [&str; 4] = [DEMO, OTHER, "load-tenant-a", "load-tenant-b"];

/// How long (real time) the server may take to catch up before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// Clock steps in seconds: fine steps while the jobs run (0.2–1 s queue,
/// 3–7 s outputs), minutes up to the slow jobs' 600 s, then five-minute steps
/// for an hour, long enough for the webhook retries (5 s … 30 min) after an
/// outage. 4,350 s in all.
const STEPS: [u64; 44] = [
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 300,
    300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300,
];
/// The step before which a late subscriber connects (it resumes from id 0).
const LATE_SUBSCRIBER_AT: usize = 12;
/// The step after which a failing receiver recovers (the clock is then at 390 s).
const RECOVERY_AFTER: usize = 25;

/// One job of the mix: what it asks, and how it must end.
struct Mix {
    instructions: Value,
    plan: Option<&'static str>,
    post_process: bool,
    model: Option<&'static str>,
    ends: &'static str,
    /// A status field the job must end with, and its value.
    shows: Option<(&'static str, &'static str)>,
}

impl Mix {
    fn new(instructions: Value, ends: &'static str) -> Self {
        Self {
            instructions,
            plan: None,
            post_process: false,
            model: None,
            ends,
            shows: None,
        }
    }
    fn shows(mut self, field: &'static str, value: &'static str) -> Self {
        self.shows = Some((field, value));
        self
    }
    fn plan(mut self, plan: &'static str) -> Self {
        self.plan = Some(plan);
        self
    }
    fn post_process(mut self) -> Self {
        self.post_process = true;
        self
    }
    fn model(mut self, model: &'static str) -> Self {
        self.model = Some(model);
        self
    }
}

/// Job `i`: a tenth each of fallback, partial failure, refusal on every
/// engine, a job failed midway, post-processing (ok and failed), a slow
/// output, a refusal with an explicit engine, a failed variation, and plain
/// jobs of one to three instructions.
fn mix(i: usize) -> Mix {
    match i % 10 {
        0 => Mix::new(json!([{"prompt": "mock:refuse"}]), "completed"),
        1 => Mix::new(json!([{}, {"prompt": "mock:fail"}]), "completed"),
        2 => Mix::new(json!([{"prompt": "mock:refuse-all"}]), "failed"),
        3 => Mix::new(json!([{}, {}]), "failed")
            .plan(r#"{"fail_job_at_progress":50,"fail_job_message":"GPU on fire"}"#)
            .shows("error_message", "GPU on fire"),
        4 => Mix::new(json!([{}]), "completed")
            .post_process()
            .shows("post_processing_status", "completed"),
        5 => Mix::new(json!([{"prompt": "mock:fail-post-processing"}]), "completed")
            .post_process()
            .shows("post_processing_status", "failed"),
        6 => Mix::new(json!([{}]), "completed").plan(r#"{"delay_outputs":[{"output":0,"seconds":600}]}"#),
        7 => Mix::new(json!([{"prompt": "mock:refuse"}]), "failed").model("nano_banana_pro"),
        8 => Mix::new(json!([{"num_variations": 2}]), "completed").plan(r#"{"fail_outputs":[0]}"#),
        _ => {
            let ars = ["1:1", "3:4", "4:3", "9:16", "16:9"];
            let instructions: Vec<Value> = (0..(i / 10) % 3 + 1)
                .map(|k| json!({"num_variations": 1 + (i + k) % 2, "options": {"size": "1K", "ar": ars[(i + k) % 5]}}))
                .collect();
            Mix::new(Value::Array(instructions), "completed")
        }
    }
}

fn is_terminal(n: &Value) -> bool {
    n["name"] == "batch_edit" && matches!(n["data"]["status"].as_str(), Some("completed" | "failed"))
}

fn id_of(n: &Value) -> u64 {
    n["id"].as_u64().expect("a notification id")
}

/// An SSE subscriber read by its own task: every message it gets, and the
/// last id so far (to wait on).
struct Subscriber {
    account: usize,
    only_batch_edit: bool,
    messages: Arc<Mutex<Vec<SseMessage>>>,
    last_id: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    async fn open(app: &TestApp, account: usize, only_batch_edit: bool, last_event_id: Option<u64>) -> Self {
        let query = if only_batch_edit { "?name_list=batch_edit" } else { "" };
        let mut sse = SseClient::connect(app, query, TOKENS[account], last_event_id).await;
        let (tx, last_id) = watch::channel(0);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&messages);
        // Keep-alives every second keep the client's 10 s silence limit away.
        let task = tokio::spawn(async move {
            while let Some(m) = sse.next_event().await {
                let id = m.id;
                sink.lock().expect("not poisoned").push(m);
                if let Some(id) = id {
                    tx.send_replace(id);
                }
            }
        });
        Self {
            account,
            only_batch_edit,
            messages,
            last_id,
            task,
        }
    }

    /// Waits until the stream has passed `id`; then stops reading.
    async fn finish_at(mut self, id: u64) -> Vec<SseMessage> {
        tokio::time::timeout(PATIENCE, self.last_id.wait_for(|l| *l >= id))
            .await
            .unwrap_or_else(|_| panic!("subscriber of account {} stuck before id {id}", self.account))
            .expect("the stream stays open");
        self.task.abort();
        self.messages.lock().expect("not poisoned").clone()
    }
}

/// Every request the webhook receiver got, collected by a task, with the
/// count of 2xx answers to wait on.
struct Deliveries {
    received: Arc<Mutex<Vec<Received>>>,
    delivered: watch::Receiver<usize>,
}

impl Deliveries {
    fn collect(mut rx: Receiver) -> Self {
        let (tx, delivered) = watch::channel(0);
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        tokio::spawn(async move {
            let mut ok = 0;
            while let Some(r) = rx.recv().await {
                let success = (200..300).contains(&r.answered);
                sink.lock().expect("not poisoned").push(r);
                if success {
                    ok += 1;
                    tx.send_replace(ok);
                }
            }
        });
        Self { received, delivered }
    }
}

async fn advance(app: &TestApp, seconds: u64) {
    app.post("/__admin/clock")
        .json(json!({ "advance": seconds }))
        .send()
        .await
        .expect(200);
}

/// Prints how long a phase took (`cargo test -- --nocapture` shows it).
fn lap(what: &str, since: &mut Instant) {
    eprintln!("load: {what}: {:.2?}", since.elapsed());
    *since = Instant::now();
}

async fn load_without_loss(outage: bool) {
    let total = Instant::now();
    let mut t = Instant::now();
    let app = TestApp::spawn_with(|c| {
        c.any_token = true;
        c.job_rate_limit = 0;
        c.sse_keepalive = Duration::from_secs(1);
        // Half the default 10 s: an attempt the fake stalls for seconds (its
        // receiver answers at once) times out, is sent again, arrives twice,
        // and fails the test.
        c.webhook_timeout = Duration::from_secs(5);
    })
    .await;
    let failing = Arc::new(AtomicBool::new(outage));
    let receiver = Receiver::start(Behaviour::FailWhile(Arc::clone(&failing))).await;
    let hook = receiver.url.clone();
    let deliveries = Deliveries::collect(receiver);

    // The webhook first, so every notification of the account is delivered.
    let mut secrets = Vec::new();
    let mut inputs = Vec::new();
    for (a, token) in TOKENS.iter().enumerate() {
        let reg = app.register_webhook(token, &format!("{hook}/{a}"), None).await;
        secrets.push(reg["secret"].as_str().expect("secret").to_owned());
        inputs.push(app.job_inputs(token, 1).await);
    }
    let mut subscribers = Vec::new();
    for a in 0..TOKENS.len() {
        subscribers.push(Subscriber::open(&app, a, false, None).await);
    }
    subscribers.push(Subscriber::open(&app, 0, false, None).await);
    subscribers.push(Subscriber::open(&app, 0, true, None).await);
    lap("setup", &mut t);

    // 1,000 job creations at once; halfway through, a subscriber connects
    // (its backfill races the notifications being published).
    let halfway = tokio::sync::Notify::new();
    let answered = AtomicUsize::new(0);
    let creations = join_all((0..JOBS).map(|i| {
        let (app, inputs, halfway, answered) = (&app, &inputs, &halfway, &answered);
        async move {
            let account = i % TOKENS.len();
            let m = mix(i);
            let mut body = TestApp::job_body(&inputs[account], m.instructions);
            body["post_process"] = json!(m.post_process);
            if let Some(model) = m.model {
                body["options"] = json!({ "model": model });
            }
            let mut call = app.post("/flat-2-model").token(TOKENS[account]).json(body);
            if let Some(plan) = m.plan {
                call = call.header("x-mock-fault-plan", plan);
            }
            let r = call.send().await.expect(202).json();
            assert_eq!(r["status"], "pending");
            if answered.fetch_add(1, Ordering::SeqCst) + 1 == JOBS / 2 {
                halfway.notify_one();
            }
            r["job_id"].as_str().expect("job_id").to_owned()
        }
    }));
    let midway = async {
        halfway.notified().await;
        Subscriber::open(&app, 2, false, None).await
    };
    let (created, midway) = tokio::join!(creations, midway);
    subscribers.push(midway);
    let owner: HashMap<&str, usize> = created
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i % TOKENS.len()))
        .collect();
    assert_eq!(owner.len(), JOBS, "every job id is new");
    lap("1,000 jobs created", &mut t);

    for (step, seconds) in STEPS.iter().enumerate() {
        if step == LATE_SUBSCRIBER_AT {
            // Mid-run, resuming from the start: the backfill meets the live tail.
            subscribers.push(Subscriber::open(&app, 1, false, Some(0)).await);
        }
        advance(&app, *seconds).await;
        if step == RECOVERY_AFTER {
            failing.store(false, Ordering::SeqCst);
        }
    }
    lap("clock moved", &mut t);

    // No job is stuck, and each ended as its plan says.
    let statuses = join_all(
        created
            .iter()
            .enumerate()
            .map(|(i, id)| app.status(TOKENS[i % TOKENS.len()], id)),
    )
    .await;
    for (i, s) in statuses.iter().enumerate() {
        let m = mix(i);
        assert_eq!(s["status"], m.ends, "job {i} ({}): {s}", created[i]);
        if let Some((field, value)) = m.shows {
            assert_eq!(s[field], value, "job {i} ({}): {s}", created[i]);
        }
    }
    lap("1,000 statuses", &mut t);

    let logs = account_logs(&app, &owner).await;

    // Each subscriber saw exactly its account's log (or its batch_edit part),
    // in order, without a gap or a repeat.
    for s in subscribers {
        check_stream(s, &logs, &owner).await;
    }
    lap("logs and SSE checked", &mut t);

    // Webhooks: every notification and each account's ping delivered.
    let expected_deliveries = logs.iter().map(Vec::len).sum::<usize>() + TOKENS.len();
    let mut delivered = deliveries.delivered.clone();
    let waited = tokio::time::timeout(PATIENCE, delivered.wait_for(|n| *n >= expected_deliveries))
        .await
        .map(|r| r.is_ok());
    assert_eq!(
        waited,
        Ok(true),
        "{} of {expected_deliveries} webhook deliveries arrived",
        *deliveries.delivered.borrow()
    );
    // The fake records an attempt just after the receiver answers it.
    let deadline = Instant::now() + PATIENCE;
    let book = loop {
        let book = app.get("/__admin/webhooks/deliveries").send().await.expect(200).json();
        let book = book["deliveries"].as_array().expect("list").clone();
        if book.iter().all(|d| d["status"] == "delivered") {
            break book;
        }
        assert!(Instant::now() < deadline, "deliveries never all recorded as delivered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let received = deliveries.received.lock().expect("not poisoned").clone();
    check_deliveries(&received, &book, &logs, &secrets, &owner, outage);
    lap("webhooks checked", &mut t);

    // The journal: one entry per request this test sent, none other.
    let journal = app.get("/__admin/journal").send().await.expect(200).json();
    let entries = journal["requests"].as_array().expect("list");
    let mut journaled: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["method"].as_str().expect("method").to_owned(),
                e["path"].as_str().expect("path").to_owned(),
            )
        })
        .collect();
    let mut sent: Vec<(String, String)> = app
        .sent()
        .into_iter()
        .filter(|(_, p)| !p.starts_with("/__admin"))
        .collect();
    assert!(sent.len() > 2 * JOBS, "creations and status reads at least");
    assert_eq!(journaled.len(), sent.len(), "one journal entry per request");
    journaled.sort();
    sent.sort();
    assert_eq!(journaled, sent);
    let seqs: BTreeSet<u64> = entries.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, (1..=sent.len() as u64).collect(), "numbered once each, no gap");
    lap("journal checked", &mut t);
    eprintln!(
        "load: total {:.2?} (outage: {outage}, {} notifications, {} webhook requests)",
        total.elapsed(),
        expected_deliveries - TOKENS.len(),
        received.len()
    );
}

/// Each account's log, by polling, checked: ids increasing, one terminal
/// notification per job of the account and none of another's; and the
/// control API's view of all accounts is exactly the union of the logs.
async fn account_logs(app: &TestApp, owner: &HashMap<&str, usize>) -> Vec<Vec<Value>> {
    let mut logs: Vec<Vec<Value>> = Vec::new();
    for (a, token) in TOKENS.iter().enumerate() {
        let log = app.notifications(token).await;
        let log = log.as_array().expect("a list").clone();
        let ids: Vec<u64> = log.iter().map(id_of).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "account {a}: ids increase");
        let mut terminal: HashMap<&str, usize> = HashMap::new();
        for n in &log {
            if let Some(job) = n["data"]["id_task"].as_str() {
                assert_eq!(owner.get(job), Some(&a), "account {a} sees only its own jobs: {n}");
                if is_terminal(n) {
                    *terminal.entry(job).or_default() += 1;
                }
            }
        }
        let mine = owner.values().filter(|o| **o == a).count();
        assert_eq!(terminal.len(), mine, "account {a}: every job ended");
        assert!(terminal.values().all(|c| *c == 1), "account {a}: one terminal each");
        logs.push(log);
    }
    let admin = app.get("/__admin/notifications").send().await.expect(200).json();
    let mut by_account: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for n in admin["notifications"].as_array().expect("list") {
        by_account
            .entry(n["account"].as_str().expect("account").to_owned())
            .or_default()
            .insert(id_of(n));
    }
    let mut admin_sets: Vec<BTreeSet<u64>> = by_account.into_values().filter(|s| !s.is_empty()).collect();
    let mut polled_sets: Vec<BTreeSet<u64>> = logs.iter().map(|l| l.iter().map(id_of).collect()).collect();
    admin_sets.sort();
    polled_sets.sort();
    assert_eq!(admin_sets, polled_sets, "admin notifications = the accounts' logs");

    logs
}

/// Stops subscriber `s` once it has read its account's last notification and
/// checks it saw exactly the log (or its `batch_edit` part): backfill, one
/// `backfill_complete`, then live, the same notifications in the same order.
async fn check_stream(s: Subscriber, logs: &[Vec<Value>], owner: &HashMap<&str, usize>) {
    let (a, only_batch_edit) = (s.account, s.only_batch_edit);
    let expected: Vec<&Value> = logs[a]
        .iter()
        .filter(|n| !only_batch_edit || n["name"] == "batch_edit")
        .collect();
    let last = expected.last().map(|n| id_of(n)).expect("a log");
    let got = s.finish_at(last).await;
    let complete_at = got
        .iter()
        .position(|m| m.event.as_deref() == Some("backfill_complete"))
        .expect("backfill_complete");
    assert_eq!(
        got.iter()
            .filter(|m| m.event.as_deref() == Some("backfill_complete"))
            .count(),
        1
    );
    assert!(
        got[..complete_at]
            .iter()
            .all(|m| m.event.as_deref() == Some("backfill"))
    );
    assert!(
        got[complete_at + 1..].iter().all(|m| m.event.is_none()),
        "live: plain data"
    );
    let seen: Vec<Value> = got
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != complete_at)
        .map(|(_, m)| m.json())
        .collect();
    assert_eq!(
        seen.len(),
        expected.len(),
        "account {a} (batch_edit only: {only_batch_edit})"
    );
    for (m, n) in seen.iter().zip(&expected) {
        assert_eq!(m, *n, "account {a}: the stream is the log");
    }
    let terminal = seen.iter().filter(|m| is_terminal(m)).count();
    assert_eq!(terminal, owner.values().filter(|o| **o == a).count());
}

/// The receiver's view against the accounts' logs and the fake's delivery log.
fn check_deliveries(
    received: &[Received],
    book: &[Value],
    logs: &[Vec<Value>],
    secrets: &[String],
    owner: &HashMap<&str, usize>,
    outage: bool,
) {
    let header = |r: &Received, name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{name} header"))
            .to_owned()
    };
    let by_notification: Vec<HashMap<u64, &Value>> =
        logs.iter().map(|l| l.iter().map(|n| (id_of(n), n)).collect()).collect();
    let mut by_id: BTreeMap<u64, Vec<&Received>> = BTreeMap::new();
    // Per account: the notification ids delivered, and the pings.
    let mut delivered: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); logs.len()];
    let mut pings = vec![0; logs.len()];
    // Per job: the ids of its successful deliveries, in order of arrival.
    let mut per_job: HashMap<String, Vec<u64>> = HashMap::new();
    for r in received {
        let a: usize = r
            .path
            .strip_prefix("/hook/")
            .and_then(|s| s.parse().ok())
            .expect("/hook/{account}");
        assert!(
            verify_signature(&secrets[a], &r.body, &header(r, "x-webhook-signature")),
            "signed with account {a}'s secret"
        );
        let v: Value = serde_json::from_slice(&r.body).expect("a JSON body");
        assert_eq!(header(r, "x-webhook-event"), v["name"].as_str().expect("name"));
        let id: u64 = header(r, "x-webhook-delivery").parse().expect("a delivery id");
        by_id.entry(id).or_default().push(r);
        if !(200..300).contains(&r.answered) {
            continue;
        }
        if v["name"] == "ping" {
            pings[a] += 1;
            continue;
        }
        if !delivered[a].insert(id_of(&v)) {
            let nid = id_of(&v);
            let logged: Vec<_> = book.iter().filter(|d| d["notification_id"] == nid).collect();
            panic!("notification {nid} delivered twice (delivery {id}): {logged:#?}");
        }
        assert_eq!(
            Some(&&v),
            by_notification[a].get(&id_of(&v)),
            "the delivery is the notification"
        );
        if let Some(job) = v["data"]["id_task"].as_str() {
            assert_eq!(owner.get(job), Some(&a));
            per_job.entry(job.to_owned()).or_default().push(id_of(&v));
        }
    }
    assert_eq!(pings, vec![1; logs.len()], "one ping each");
    for (a, log) in logs.iter().enumerate() {
        let all: BTreeSet<u64> = log.iter().map(id_of).collect();
        assert_eq!(delivered[a], all, "account {a}: every notification delivered");
    }
    for (job, ids) in &per_job {
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{job}: delivered in order");
    }
    // Exactly once per delivery id: one 2xx, after any failures, same bytes.
    let mut retried = 0;
    for (id, rs) in &by_id {
        let ok = rs.iter().filter(|r| (200..300).contains(&r.answered)).count();
        assert_eq!(ok, 1, "delivery {id} succeeded once");
        assert!(
            (200..300).contains(&rs[rs.len() - 1].answered),
            "delivery {id}: nothing after success"
        );
        assert!(rs.iter().all(|r| r.body == rs[0].body && r.path == rs[0].path));
        retried += usize::from(rs.len() > 1);
    }
    if outage {
        assert!(retried > JOBS / 2, "the outage made retries: {retried}");
    } else {
        assert_eq!(retried, 0, "a receiver that never fails gets no retry");
    }
    // The fake's delivery log agrees attempt by attempt.
    assert_eq!(book.len(), by_id.len(), "one logged delivery per delivery id received");
    for d in book {
        let id = d["id"].as_u64().expect("id");
        let rs = &by_id[&id];
        let body: Value = serde_json::from_slice(&rs[0].body).expect("json");
        assert_eq!(d["status"], "delivered");
        assert_eq!(d["event"], body["name"]);
        assert_eq!(d["notification_id"], body["id"]);
        let codes: Vec<u64> = d["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .map(|a| a["status_code"].as_u64().expect("answered"))
            .collect();
        let answered: Vec<u64> = rs.iter().map(|r| u64::from(r.answered)).collect();
        assert_eq!(codes, answered, "delivery {id}: the log has the receiver's answers");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_jobs_lose_and_duplicate_nothing() {
    load_without_loss(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_outage_under_load_is_retried_exactly_once_per_delivery() {
    load_without_loss(true).await;
}
