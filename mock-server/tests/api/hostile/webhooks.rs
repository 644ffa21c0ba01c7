//! Webhook URLs at the fake itself or off http(s), and a receiver that
//! never answers.

use super::*;

#[tokio::test]
async fn webhook_urls_at_the_fake_itself_or_off_http_are_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let port = app.base.rsplit(':').next().expect("a port");
    let own = [
        format!("{}/hook", app.base),
        format!("{}/webhooks", app.base),
        format!("http://localhost:{port}/hook"),
        format!("http://LOCALHOST:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://0.0.0.0:{port}/hook"),
        format!("http://127.0.0.2:{port}/hook"),
        format!("https://127.0.0.1:{port}/hook"),
    ];
    for url in &own {
        let r = w
            .refuse(
                &format!("the fake itself: {url}"),
                app.put("/webhooks").token(DEMO).json(json!({ "url": url })),
                Api(400, Some("url")),
            )
            .await;
        assert!(message(&r).contains("the fake itself"), "{url}: {}", r.text());
    }
    for url in [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "gopher://example.com/",
        "ws://example.com/hook",
        "mailto:ops@example.com",
        "//example.com/hook",
        "example.com/hook",
        "http://",
        "",
        // 127.0.0.1 written as one number: a host outside the schema's pattern.
        "http://2130706433/hook",
    ] {
        w.refuse(
            &format!("not an http(s) URL: {url:?}"),
            app.put("/webhooks").token(DEMO).json(json!({ "url": url })),
            Api(400, Some("url")),
        )
        .await;
    }
    // Another port on the same host is someone else: accepted.
    let elsewhere = format!("http://127.0.0.1:{}/hook", free_port().await);
    app.register_webhook(DEMO, &elsewhere, None).await;

    // Behind a public URL the fake is also that host and port.
    let fronted = TestApp::spawn_with(|c| c.public_url = Some("http://fake.example:9000".into())).await;
    for url in ["http://fake.example:9000/hook", "https://FAKE.EXAMPLE:9000/"] {
        let r = fronted
            .put("/webhooks")
            .token(DEMO)
            .json(json!({ "url": url }))
            .send()
            .await;
        check(&format!("the fake's public URL: {url}"), &r, Api(400, Some("url")));
    }
    fronted.get("/webhooks").token(DEMO).send().await.expect(404);
    let log = fronted
        .get("/notifications")
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(log, json!([]), "no ping was sent");
}

async fn free_port() -> u16 {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A receiver that accepts the connection and never reads or answers: the
/// attempt times out after `--webhook-timeout`, is retried on the injected
/// clock, and all the while the API and the engine carry on.
#[tokio::test]
async fn a_receiver_that_never_answers_cannot_hang_the_fake() {
    let w = World::build(|c| {
        c.webhook_timeout = Duration::from_millis(1500);
        // Jobs finish without the clock moving under the hung attempt.
        c.time_scale = 0.0;
    })
    .await;
    let app = &w.app;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (accepted, mut connections) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = accepted.send(());
        }
    });
    let started = WallClock::now();
    app.register_webhook(DEMO, &url, None).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "registering did not wait for the ping"
    );
    tokio::time::timeout(Duration::from_secs(10), connections.recv())
        .await
        .expect("the ping's connection within 10 s")
        .expect("open");
    let ping = || async {
        let log = app.get("/__admin/webhooks/deliveries").send().await.expect(200).json();
        log["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .find(|d| d["event"] == "ping")
            .cloned()
            .expect("the ping's delivery")
    };
    assert_eq!(ping().await["status"], "in_flight");

    // While the ping hangs: the API answers, a job runs to the end.
    app.get("/project").token(DEMO).send().await.expect(200);
    let job = app.create_job(DEMO, w.job_body()).await;
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
    assert_eq!(
        ping().await["status"],
        "in_flight",
        "all of that happened during the hung attempt"
    );

    let failed = ping_until(&ping, |d| d["status"] == "pending").await;
    let attempt = &failed["attempts"][0];
    assert!(str_of(&attempt["error"]).starts_with("timed out"), "{failed}");
    let latency = attempt["latency_ms"].as_u64().expect("latency");
    assert!(
        (1400..5000).contains(&latency),
        "cut off at --webhook-timeout: {latency} ms"
    );
    assert_eq!(failed["status"], "pending");
    let at = mock_server::clock::Instant::parse_rfc3339(str_of(&attempt["at"])).expect("at");
    let next = mock_server::clock::Instant::parse_rfc3339(str_of(&failed["next_attempt_at"])).expect("next");
    assert_eq!(next.millis() - at.millis(), 5000, "retried 5 s later on the clock");

    // Nothing more happens until the clock says so; then the retry hangs
    // and times out in turn.
    assert_eq!(ping().await["attempts"].as_array().map(Vec::len), Some(1));
    app.post("/__admin/clock")
        .json(json!({"advance": "5s"}))
        .send()
        .await
        .expect(200);
    let retried = ping_until(&ping, |d| d["attempts"].as_array().is_some_and(|a| a.len() == 2)).await;
    assert!(
        str_of(&retried["attempts"][1]["error"]).starts_with("timed out"),
        "{retried}"
    );
    app.get("/identity").token(DEMO).send().await.expect(200);
}

/// Polls the ping's delivery until `done` holds (at most 10 s: a real
/// network timeout is being waited for, not the fake's clock).
async fn ping_until<F: Future<Output = Value>>(ping: &impl Fn() -> F, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = WallClock::now() + Duration::from_secs(10);
    loop {
        let d = ping().await;
        if done(&d) {
            return d;
        }
        assert!(WallClock::now() < deadline, "the delivery never got there: {d}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
