//! A webhook receiver that never answers cannot starve the API: attempts
//! on the wire are capped (`--webhook-max-in-flight`), and an account's
//! unfinished deliveries too (`--webhook-max-pending`), the oldest pending
//! one dropped and shown as `dropped` in the delivery log.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::binary::Binary;
use crate::helpers::{DEMO, OTHER, TestApp};

/// A receiver on 127.0.0.1 port 0 that accepts connections, holds them and
/// never reads or answers; its URL and how many connections it accepted.
async fn dead_receiver() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, accepted)
}

/// One attempt on the wire at a time, held for a minute, and at most
/// `max_pending` unfinished deliveries an account.
fn one_slot(max_pending: u32) -> impl Fn(&mut mock_server::Config) {
    move |c| {
        c.webhook_max_in_flight = 1;
        c.webhook_max_pending = max_pending;
        c.webhook_timeout = Duration::from_secs(60);
    }
}

/// The answer of the delivery log for `query` (`?account=…&status=…`).
async fn log(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/__admin/webhooks/deliveries{query}"))
        .send()
        .await
        .expect(200)
        .json()
}

/// The deliveries the log lists for `query`.
async fn deliveries(app: &TestApp, query: &str) -> Vec<Value> {
    log(app, query).await["deliveries"]
        .as_array()
        .expect("deliveries")
        .clone()
}

/// The count of drops the log shows for `query`.
async fn dropped(app: &TestApp, query: &str) -> u64 {
    log(app, query).await["dropped"].as_u64().expect("a count of drops")
}

/// How many deliveries of `log` have `status`.
fn with_status(log: &[Value], status: &str) -> usize {
    log.iter().filter(|d| d["status"] == status).count()
}

/// `POST /webhooks/test` for `token`: one more delivery, of its own key.
async fn test_event(app: &TestApp, token: &str) -> u64 {
    let r = app.post("/webhooks/test").token(token).send().await.expect(202).json();
    r["delivery_id"].as_u64().expect("a delivery")
}

#[tokio::test]
async fn webhook_attempts_in_flight_never_exceed_the_cap_and_the_api_still_answers() {
    let app = TestApp::spawn_with(|c| {
        c.webhook_max_in_flight = 3;
        c.webhook_timeout = Duration::from_secs(60);
    })
    .await;
    let (url, accepted) = dead_receiver().await;
    app.register_webhook(DEMO, &url, None).await;
    for _ in 0..9 {
        test_event(&app, DEMO).await;
    }
    let log = deliveries(&app, "").await;
    assert_eq!(log.len(), 10, "the ping and nine test events");
    assert_eq!(with_status(&log, "in_flight"), 3, "{log:?}");
    assert_eq!(with_status(&log, "pending"), 7, "the rest wait for a slot");
    // The receiver sees the three connections, and no more.
    tokio::time::timeout(Duration::from_secs(10), async {
        while accepted.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("three attempts reach the receiver");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);

    // With every slot taken: a job is created and its status answers.
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    app.finish_jobs();
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
    let log = deliveries(&app, "").await;
    assert_eq!(with_status(&log, "in_flight"), 3, "still three on the wire: {log:?}");
    assert!(log.len() > 10, "the job's notifications are queued behind them");
}

#[tokio::test]
async fn past_an_accounts_pending_cap_its_oldest_pending_delivery_is_dropped_and_others_are_untouched() {
    let app = TestApp::spawn_with(one_slot(3)).await;
    let (url, _) = dead_receiver().await;
    app.register_webhook(DEMO, &url, None).await;
    // The ping takes the one slot; four test events follow it.
    let events = [
        test_event(&app, DEMO).await,
        test_event(&app, DEMO).await,
        test_event(&app, DEMO).await,
        test_event(&app, DEMO).await,
    ];
    // The other account, at the same receiver, stays within its cap.
    app.register_webhook(OTHER, &url, None).await;
    let others = [test_event(&app, OTHER).await, test_event(&app, OTHER).await];

    let dropped = deliveries(&app, "?status=dropped").await;
    let ids: Vec<u64> = dropped.iter().filter_map(|d| d["id"].as_u64()).collect();
    assert_eq!(ids, events[..2], "the two oldest pending ones: {dropped:?}");
    for d in &dropped {
        assert_eq!(d["attempts"], json!([]), "never sent");
        assert_eq!(d["next_attempt_at"], Value::Null, "and never will be");
    }
    let log = deliveries(&app, "").await;
    let status = |id: u64| log.iter().find(|d| d["id"] == id).expect("in the log")["status"].clone();
    assert_eq!(
        [status(events[2]), status(events[3])],
        [json!("pending"), json!("pending")],
        "the newest stay"
    );
    assert_eq!(with_status(&log, "in_flight"), 1, "the ping runs its course");
    for id in others {
        assert_eq!(status(id), "pending", "the other account's deliveries are untouched");
    }
    assert_eq!(
        log.iter().filter(|d| d["status"] == "dropped").count(),
        2,
        "nothing of the other account was dropped"
    );
}

/// With the open-file limit at 96 (soft and hard), a receiver that never
/// answers and 150 deliveries due at once: without a cap every attempt
/// holds a socket until `--webhook-timeout`, the descriptors run out and
/// the API accepts no new connection.
#[tokio::test]
async fn a_receiver_that_never_answers_cannot_starve_the_api_of_open_files() {
    // Never accepted: the kernel completes the handshakes (the backlog),
    // so each attempt holds its socket in the fake and none in the test.
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", receiver.local_addr().expect("addr"));
    let mut server = Binary::start_with_open_files(
        96,
        &[
            "--clock",
            "manual",
            "--webhook-timeout",
            "60s",
            "--webhook-max-in-flight",
            "8",
            "--webhook-max-pending",
            "20",
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let base = server.url.clone();
    let put = client
        .put(format!("{base}/webhooks"))
        .bearer_auth(DEMO)
        .json(&json!({ "url": url }))
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 200);
    for _ in 0..150 {
        let r = client
            .post(format!("{base}/webhooks/test"))
            .bearer_auth(DEMO)
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), 202);
    }
    // A client on a new connection is answered.
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let health = fresh.get(format!("{base}/__admin/health")).send().await;
    assert!(
        health.as_ref().is_ok_and(|r| r.status() == 200),
        "a new connection was not answered: {health:?}"
    );
    let created = fresh
        .post(format!("{base}/project"))
        .bearer_auth(DEMO)
        .json(&json!({ "project_name": "still served" }))
        .send()
        .await;
    assert!(
        created.as_ref().is_ok_and(|r| r.status() == 201),
        "a creation on a new connection was not answered: {created:?}"
    );

    // 150 drops or so in one burst: one warning.
    let _ = fresh.get(format!("{base}/end-of-the-flood")).send().await;
    server.log_until("/end-of-the-flood").await;
    let warnings = server
        .log_so_far()
        .iter()
        .filter(|l| l.contains("--webhook-max-pending"))
        .count();
    assert_eq!(warnings, 1, "one warning for the burst: {:?}", server.log);
}

#[tokio::test]
async fn a_dropped_delivery_stays_dropped_after_a_restart_on_the_data_dir() {
    use crate::persistence::{TempDir, close, spawn_on};
    let dir = TempDir::new("dropped-deliveries");
    let (url, _) = dead_receiver().await;
    let app = spawn_on(&dir.path(), one_slot(2)).await;
    app.register_webhook(DEMO, &url, None).await;
    let first = test_event(&app, DEMO).await;
    let second = test_event(&app, DEMO).await;
    close(&app).await;
    let before = deliveries(&app, "?status=dropped").await;
    assert_eq!(
        before.iter().filter_map(|d| d["id"].as_u64()).collect::<Vec<_>>(),
        [first]
    );
    drop(app);

    // A larger cap after the restart: the drop is what was kept, not
    // made again while loading.
    let app = spawn_on(&dir.path(), one_slot(10)).await;
    let after = deliveries(&app, "").await;
    let status = |id: u64| after.iter().find(|d| d["id"] == id).expect("kept")["status"].clone();
    assert_eq!(status(first), "dropped", "{after:?}");
    assert_eq!(status(second), "pending");
    assert_eq!(
        dropped(&app, "").await,
        1,
        "the count starts again from the dropped records kept"
    );
}

/// At the defaults the log's cap took a dropped record at once (issue
/// #20's soak): the listing counts the drops, per account as it filters,
/// and a reset of the account starts its count again.
#[tokio::test]
async fn the_delivery_log_counts_the_drops_of_the_account_it_lists_until_its_reset() {
    let app = TestApp::spawn_with(one_slot(2)).await;
    let (url, _) = dead_receiver().await;
    app.register_webhook(DEMO, &url, None).await;
    app.register_webhook(OTHER, &url, None).await;
    // DEMO's ping takes the one slot; its three test events drop two of
    // them. OTHER's ping waits, and its two test events drop it.
    for _ in 0..3 {
        test_event(&app, DEMO).await;
    }
    for _ in 0..2 {
        test_event(&app, OTHER).await;
    }
    let demo = "?account=demo@flat2model.test";
    let other = "?account=other@flat2model.test";
    assert_eq!(with_status(&deliveries(&app, demo).await, "dropped"), 2);
    assert_eq!(dropped(&app, demo).await, 2);
    assert_eq!(dropped(&app, other).await, 1);
    assert_eq!(dropped(&app, "").await, 3, "every account's");
    assert_eq!(
        dropped(&app, &format!("{demo}&status=pending")).await,
        2,
        "the status filter lists records; the count is of drops"
    );

    app.post("/__admin/reset")
        .json(json!({ "token": DEMO }))
        .send()
        .await
        .expect(200);
    assert_eq!(dropped(&app, demo).await, 0, "its reset starts it again");
    assert_eq!(dropped(&app, other).await, 1, "another account's stays");
    app.post("/__admin/reset").send().await.expect(200);
    assert_eq!(dropped(&app, "").await, 0, "a full reset forgets every count");
}
