//! The dashboard at `/__admin/ui`: each page shows what the control API
//! says, its forms do what the control calls do and answer 303, and it is
//! behind the control API's guard.

use mock_server::domain::secret::SecretDigest;
use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp};
use crate::peers::{Behaviour, Receiver};

/// A page's HTML, expecting 200 `text/html`.
async fn page(app: &TestApp, path: &str) -> String {
    let r = app.get(path).send().await.expect(200);
    assert!(r.content_type().starts_with("text/html"), "{}", r.content_type());
    r.text()
}

/// Posts a dashboard form as a browser on the dashboard does (its own
/// `Origin`, not following the redirect): the status and `Location`.
async fn form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .post(format!("{}{path}", app.base))
        .header("origin", &app.base)
        .form(fields)
        .send()
        .await
        .expect("sent");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, location, r.text().await.expect("body"))
}

/// The stream's next chunk; fails after 10 s (the stream looks for a
/// change five times a second).
async fn next_chunk(stream: &mut reqwest::Response) -> bytes::Bytes {
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
        .await
        .expect("a chunk within 10 s")
        .expect("read")
        .expect("a chunk")
}

async fn json(app: &TestApp, path: &str) -> Value {
    app.get(path).send().await.expect(200).json()
}

#[tokio::test]
async fn the_jobs_page_and_a_jobs_page_show_its_state_outputs_timeline_and_fault_plan() {
    let app = TestApp::spawn().await;
    assert!(page(&app, "/__admin/ui").await.contains("No jobs yet"));
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app
        .create_job_with_plan(
            DEMO,
            TestApp::job_body(&inputs, json!([{}])),
            r#"{"refuse_outputs":[0]}"#,
        )
        .await;
    let listed = page(&app, "/__admin/ui").await;
    assert!(
        listed.contains(&format!("data-job=\"{job}\" data-status=\"pending\"")),
        "{listed}"
    );
    app.finish_jobs();

    let state = json(&app, &format!("/__admin/jobs/{job}")).await;
    let model = state["state"]["outputs"][0]["model_used"]
        .as_str()
        .expect("an engine")
        .to_owned();
    let listed = page(&app, "/__admin/ui?account=demo@flat2model.test").await;
    assert!(
        listed.contains(&format!("data-job=\"{job}\" data-status=\"completed\"")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("<span class=\"model\">{model}</span>")),
        "{listed}"
    );
    assert!(listed.contains("class=\"thumb\" src=\"http:"), "{listed}");
    // Output 0 was refused by the first engine: `auto` fell back.
    assert_eq!(state["state"]["outputs"][0]["fell_back"], true, "{state}");
    assert!(listed.contains("<span class=\"fallback\""), "{listed}");
    // The thumbnail's link is a working signed link.
    let src = listed.split("class=\"thumb\" src=\"").nth(1).expect("a thumbnail");
    // As HTML escapes it (`/` too); a browser reads it back.
    let src = src[..src.find('"').expect("closed")]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    let img = app.get(&src).send().await.expect(200);
    assert!(img.content_type().starts_with("image/"), "{}", img.content_type());

    let shown = page(&app, &format!("/__admin/ui/jobs/{job}")).await;
    assert!(
        shown.contains("<span class=\"status completed\" id=\"job-status\">completed</span>"),
        "{shown}"
    );
    assert!(shown.contains(&format!("<td class=\"model\">{model}</td>")), "{shown}");
    // The timeline: a dot for each scheduled event, every one applied.
    let events = state["schedule"]["events"].as_array().expect("events").len();
    assert_eq!(shown.matches("<g class=\"event applied\">").count(), events, "{shown}");
    assert!(shown.contains("output finished #0"), "{shown}");
    // The fault plan, as the control API shows it.
    let plan = serde_json::to_string_pretty(&state["fault_plan"]).expect("json");
    let plan = plan.replace('"', "&quot;");
    assert!(shown.contains(&plan), "{plan}\n{shown}");
    assert!(shown.contains("refuse_outputs"), "{shown}");
    assert!(shown.contains("fell back to seedream"), "{shown}");

    let missing = app.get("/__admin/ui/jobs/job_nope").send().await.expect(404);
    assert_eq!(missing.error_field().as_deref(), Some("id"));
}

#[tokio::test]
async fn the_guard_keeps_the_dashboard_behind_the_admin_token_host_and_origin() {
    let app = TestApp::spawn_with(|c| c.admin_token = Some(SecretDigest::of("admin-secret"))).await;
    app.get("/__admin/ui").send().await.expect(401);
    app.get("/__admin/ui/style.css").send().await.expect(401);
    let r = app.get("/__admin/ui").token("admin-secret").send().await.expect(200);
    assert!(r.text().contains("<h1>Jobs</h1>"));

    let open = TestApp::spawn().await;
    let r = open
        .get("/__admin/ui/scenarios")
        .header("host", "evil.example")
        .send()
        .await
        .expect(403);
    assert_eq!(r.error_field().as_deref(), Some("Host"));
    // A form from another site is refused, and changes nothing.
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/__admin/ui/scenarios", open.base))
        .header("origin", "http://evil.example")
        .form(&[("name", "webhook-outage")])
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 403);
    assert_eq!(json(&open, "/__admin/scenarios").await["global"], Value::Null);
    // The dashboard's own origin may post a form, but not a JSON call of
    // the control API: only the dashboard's forms are let through.
    let r = client
        .post(format!("{}/__admin/reset", open.base))
        .header("origin", &open.base)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 403);
    assert_eq!(
        form(&open, "/__admin/ui/scenarios", &[("name", "webhook-outage")])
            .await
            .0,
        303
    );
}

#[tokio::test]
async fn the_scenario_buttons_switch_the_global_and_a_tenants_choice() {
    let app = TestApp::spawn().await;
    let shown = page(&app, "/__admin/ui/scenarios").await;
    assert!(shown.contains("<td class=\"current\">none</td>"), "{shown}");
    let tenant = json(&app, "/__admin/tenants/demo@flat2model.test").await;
    let account = tenant["account"].as_str().expect("account");

    let (status, location, _) = form(
        &app,
        "/__admin/ui/scenarios",
        &[("account", account), ("name", "slow-outputs")],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/__admin/ui/scenarios"));
    assert_eq!(
        json(&app, &format!("/__admin/tenants/{account}")).await["scenario"],
        "slow-outputs"
    );
    assert_eq!(json(&app, "/__admin/scenarios").await["global"], Value::Null);
    let shown = page(&app, "/__admin/ui/scenarios").await;
    assert!(
        shown.contains(&format!("data-scope=\"{account}\""))
            && shown.contains("<td class=\"current\">slow-outputs</td>"),
        "{shown}"
    );

    assert_eq!(
        form(
            &app,
            "/__admin/ui/scenarios",
            &[("account", ""), ("name", "webhook-outage")]
        )
        .await
        .0,
        303
    );
    assert_eq!(json(&app, "/__admin/scenarios").await["global"], "webhook-outage");
    assert_eq!(
        form(&app, "/__admin/ui/scenarios", &[("account", account), ("name", "")])
            .await
            .0,
        303
    );
    assert_eq!(
        json(&app, &format!("/__admin/tenants/{account}")).await["scenario"],
        Value::Null
    );

    // Bad input: 4xx in the envelope naming the field, nothing changed.
    let (status, _, body) = form(&app, "/__admin/ui/scenarios", &[("name", "no-such")]).await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = form(&app, "/__admin/ui/scenarios", &[("nme", "x")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["detail"][0]["position"],
        "body"
    );
    assert_eq!(json(&app, "/__admin/scenarios").await["global"], "webhook-outage");
}

#[tokio::test]
async fn the_deliveries_page_shows_attempts_and_its_button_redelivers() {
    let app = TestApp::spawn().await;
    assert!(
        page(&app, "/__admin/ui/deliveries")
            .await
            .contains("No webhook deliveries yet")
    );
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    let sent = app
        .post("/__admin/webhooks/trigger")
        .json(json!({"event": "batch_edit.completed", "token": DEMO}))
        .send()
        .await
        .expect(200)
        .json();
    let id = sent["delivery_id"].as_u64().expect("a delivery");
    app.delivery_where(|d| d["id"] == id && d["status"] == "delivered")
        .await;
    let shown = page(&app, "/__admin/ui/deliveries").await;
    assert!(
        shown.contains(&format!(
            "data-delivery=\"{id}\" data-status=\"delivered\" data-attempts=\"1\""
        )),
        "{shown}"
    );
    assert!(shown.contains("204"), "{shown}");

    let (status, location, _) = form(&app, &format!("/__admin/ui/deliveries/{id}/redeliver"), &[]).await;
    assert_eq!((status, location.as_str()), (303, "/__admin/ui/deliveries"));
    let again = app
        .delivery_where(|d| d["id"] == id && d["attempts"].as_array().is_some_and(|a| a.len() == 2))
        .await;
    assert_eq!(again["status"], "delivered", "{again}");
    let mut got = 0;
    while rx.try_next().is_some() {
        got += 1;
    }
    // The ping, the triggered event, and the same event again.
    assert!(got >= 2, "{got}");
    assert_eq!(form(&app, "/__admin/ui/deliveries/999999/redeliver", &[]).await.0, 404);
}

#[tokio::test]
async fn the_deliveries_page_shows_the_count_of_drops() {
    let app = TestApp::spawn_with(|c| {
        c.webhook_max_in_flight = 1;
        c.webhook_max_pending = 2;
        c.webhook_timeout = std::time::Duration::from_secs(60);
    })
    .await;
    let rx = Receiver::start(Behaviour::Hang).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    assert!(!page(&app, "/__admin/ui/deliveries").await.contains("id=\"dropped\""));
    // The ping holds the one slot; of three test events the oldest two go.
    for _ in 0..3 {
        app.post("/webhooks/test").token(DEMO).send().await.expect(202);
    }
    let shown = page(&app, "/__admin/ui/deliveries").await;
    assert!(
        shown.contains("<p id=\"dropped\"><strong>2</strong> deliveries dropped"),
        "{shown}"
    );
}

#[tokio::test]
async fn the_notifications_and_journal_pages_show_events_violations_and_kept_bodies() {
    let app = TestApp::spawn_with(|c| c.journal_bodies = mock_server::config::JournalBodies::All).await;
    app.get("/project").send().await.expect(401);
    app.get("/project?per_page=5").token(DEMO).send().await.expect(200);
    let shown = page(&app, "/__admin/ui/journal").await;
    assert_eq!(shown.matches("class=\"violation\"").count(), 1, "{shown}");
    assert!(shown.contains("Authorization: missing"), "{shown}");
    assert!(shown.contains("response ("), "{shown}");
    let only = page(&app, "/__admin/ui/journal?violations=true").await;
    assert_eq!(only.matches("data-seq=").count(), 1, "{only}");

    app.post("/__admin/webhooks/trigger")
        .json(json!({"event": "batch_edit.failed", "token": DEMO}))
        .send()
        .await
        .expect(200);
    let shown = page(&app, "/__admin/ui/notifications").await;
    assert!(shown.contains("<span class=\"status failed\">failed</span>"), "{shown}");
    assert!(shown.contains("job_trigger_"), "{shown}");
}

#[tokio::test]
async fn the_clock_forms_advance_and_drain() {
    let app = TestApp::spawn().await;
    let before = json(&app, "/__admin/clock").await["now_ms"].as_i64().expect("ms");
    assert!(page(&app, "/__admin/ui/clock").await.contains("id=\"mode\">manual<"));
    let (status, location, _) = form(&app, "/__admin/ui/clock", &[("advance", "15m")]).await;
    assert_eq!((status, location.as_str()), (303, "/__admin/ui/clock"));
    let after = json(&app, "/__admin/clock").await["now_ms"].as_i64().expect("ms");
    assert_eq!(after - before, 15 * 60 * 1000);

    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    assert_eq!(form(&app, "/__admin/ui/clock", &[("until_idle", "1")]).await.0, 303);
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");

    let (status, _, body) = form(&app, "/__admin/ui/clock", &[("advance", "soon")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["detail"][0]["field"],
        "advance"
    );
    assert_eq!(form(&app, "/__admin/ui/clock", &[]).await.0, 400);
}

#[tokio::test]
async fn the_live_stream_says_when_the_state_changed() {
    let app = TestApp::spawn().await;
    let mut live = reqwest::get(format!("{}/__admin/ui/live", app.base))
        .await
        .expect("open");
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let first = live.chunk().await.expect("read").expect("a chunk");
    assert_eq!(&first[..], b": live\n\n");
    app.post("/__admin/clock")
        .json(json!({"advance": "1m"}))
        .send()
        .await
        .expect(200);
    assert_eq!(&next_chunk(&mut live).await[..], b"event: changed\ndata: {}\n\n");
    // A page names the state it was drawn at; a stream opened after a
    // change since then tells it at once (the change is not lost between
    // the drawing and the stream's opening).
    let html = page(&app, "/__admin/ui/clock").await;
    let version = html.split("data-version=\"").nth(1).expect("a version");
    let version = &version[..version.find('"').expect("closed")];
    app.post("/__admin/clock")
        .json(json!({"advance": "1m"}))
        .send()
        .await
        .expect(200);
    let mut late = reqwest::get(format!("{}/__admin/ui/live?since={version}", app.base))
        .await
        .expect("open");
    assert_eq!(&late.chunk().await.expect("read").expect("a chunk")[..], b": live\n\n");
    assert_eq!(&next_chunk(&mut late).await[..], b"event: changed\ndata: {}\n\n");
    // The page's script and style are served from the binary.
    let js = app.get("/__admin/ui/live.js").send().await.expect(200);
    assert!(js.text().contains("new EventSource(\"/__admin/ui/live?since=\""));
    let css = app.get("/__admin/ui/style.css").send().await.expect(200);
    assert_eq!(css.content_type(), "text/css; charset=utf-8");
}
