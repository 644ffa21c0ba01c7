//! A shared, long-running fake stays bounded whatever its clients hold
//! back: stalled bodies are cut, uploads in flight share a byte budget and
//! a count that keeps connections for other clients, connections near the
//! open-file limit are shed.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{DEMO, TestApp};

/// Sends `head` and the start of a body, never the rest, and reads the
/// answer until the server closes the connection.
async fn stall(base: &str, head: String, start: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect");
    s.write_all(head.as_bytes()).await.expect("head");
    s.write_all(start).await.expect("start of the body");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("cut and closed within 10 s")
        .expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn a_stalled_request_body_is_cut_after_the_body_timeout() {
    let app = TestApp::spawn_with(|c| c.body_timeout = Duration::from_millis(200)).await;
    let json = stall(
        &app.base,
        format!(
            "POST /project HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        ),
        b"{\"project_na",
    )
    .await;
    assert!(json.starts_with("HTTP/1.1 408"), "{json}");
    assert!(json.contains("--body-timeout"), "{json}");
    let form = stall(
        &app.base,
        format!(
            "POST /identity/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO}\r\n\
             Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n"
        ),
        b"--XX\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n\x89PNG",
    )
    .await;
    assert!(form.starts_with("HTTP/1.1 408"), "{form}");
    // Nothing of either was kept.
    assert_eq!(app.projects(DEMO).await["projects"], serde_json::json!([]));
}

#[tokio::test]
async fn bodies_in_flight_share_a_byte_budget_and_one_more_is_503() {
    let app = TestApp::spawn_with(|c| {
        c.body_timeout = Duration::from_millis(300);
        c.max_body_bytes_in_flight = 10_000;
    })
    .await;
    // An upload that holds 9,000 bytes of the budget while it stalls.
    let head = format!(
        "POST /identity/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 9000\r\n\r\n"
    );
    let base = app.base.clone();
    let holder = tokio::spawn(async move { stall(&base, head, b"--XX\r\n").await });
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let r = app
                .post("/project")
                .token(DEMO)
                .json(serde_json::json!({ "project_name": "x".repeat(1_100) }))
                .send()
                .await;
            if r.status == 503 {
                break r;
            }
            // The holder's request has not reached the server yet: 400 (too long a name).
            assert_eq!(r.status, 400);
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("refused with 503 while the stalled upload holds the budget");
    assert_eq!(refused.headers["retry-after"], "1");
    assert!(refused.text().contains("--max-body-bytes-in-flight"));
    // A request without a body does not touch the budget.
    app.get("/project").token(DEMO).send().await.expect(200);
    // Once the stalled upload is cut, its bytes are given back.
    assert!(holder.await.expect("joined").starts_with("HTTP/1.1 408"));
    app.create_project(DEMO, "after").await;
}

/// Opens a connection and asks for `/__admin/health`: whether it was
/// answered (a shed connection is closed without a byte).
async fn health_on_new_connection(base: &str) -> (bool, tokio::net::TcpStream) {
    let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect");
    let _ = s
        .write_all(b"GET /__admin/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let mut buf = [0u8; 12];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("answered or closed within 10 s")
        .unwrap_or(0);
    (n > 0 && buf.starts_with(b"HTTP/1.1 200"), s)
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_are_shed_and_served_again_after() {
    let app = TestApp::spawn_with(|c| c.max_connections = 2).await;
    let mut open = Vec::new();
    let mut shed = false;
    // The test client may hold a pooled connection of its own: at most
    // three tries reach the cap.
    for _ in 0..3 {
        let (answered, s) = health_on_new_connection(&app.base).await;
        if !answered {
            shed = true;
            break;
        }
        open.push(s);
    }
    assert!(shed, "a connection past the cap was served");
    assert!(open.len() <= 2);
    drop(open);
    // Once the kept-alive connections end, new ones are served again.
    let served = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if health_on_new_connection(&app.base).await.0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(served.is_ok(), "served again after connections ended");
}

/// `n` uploads that send their headers, announcing a body, and not a byte
/// of it; each ends with the answer read to the close.
fn stalled_uploads(base: &str, n: usize) -> tokio::task::JoinSet<String> {
    let head = format!(
        "POST /identity/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n"
    );
    let mut uploads = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (base, head) = (base.to_owned(), head.clone());
        uploads.spawn(async move { stall(&base, head, b"").await });
    }
    uploads
}

#[tokio::test]
async fn past_the_bodies_in_flight_an_upload_is_503_and_its_connection_freed_for_new_clients() {
    // Without the count the four stalled uploads would hold all four
    // connections until --body-timeout (far off) and a new one would be shed.
    let app = TestApp::spawn_with(|c| {
        c.max_connections = 4;
        c.max_bodies_in_flight = 2;
        c.body_timeout = Duration::from_secs(120);
    })
    .await;
    let mut uploads = stalled_uploads(&app.base, 4);
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        let one = uploads.join_next().await.expect("a task").expect("joined");
        let two = uploads.join_next().await.expect("a task").expect("joined");
        [one, two]
    })
    .await
    .expect("the two uploads past the count answered at once, their sockets closed");
    for answer in refused {
        let head = answer.to_ascii_lowercase();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(head.contains("\r\nconnection: close\r\n"), "{answer}");
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{answer}");
        assert!(answer.contains("--max-bodies-in-flight"), "{answer}");
    }
    // A new client is served (its connection admitted once the refused
    // ones' slots are given back) while the two uploads still hold theirs.
    let served = tokio::time::timeout(Duration::from_secs(10), async {
        while !health_on_new_connection(&app.base).await.0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(served.is_ok(), "a new connection was shed while uploads stalled");
    assert!(uploads.try_join_next().is_none(), "the stalled uploads are still held");
    assert_eq!(uploads.len(), 2);
}

#[tokio::test]
async fn refused_bodies_are_logged_once_a_burst_and_not_as_errors() {
    let mut server = crate::binary::Binary::start(&["--max-bodies-in-flight", "1"], &[]).await;
    let mut uploads = stalled_uploads(&server.url, 3);
    for _ in 0..2 {
        let answer = tokio::time::timeout(Duration::from_secs(10), uploads.join_next())
            .await
            .expect("refused at once")
            .expect("a task")
            .expect("joined");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }
    // The holder hangs up: its count is given back, and a body is served again.
    uploads.abort_all();
    let client = reqwest::Client::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let r = client
                .post(format!("{}/project", server.url))
                .bearer_auth(DEMO)
                .json(&serde_json::json!({ "project_name": "after" }))
                .send()
                .await
                .expect("answered");
            if r.status() != 503 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a body served once the holder hung up");
    server.log_until("requests that send a body are served again").await;
    let log = server.log_so_far();
    let naming = log.iter().filter(|l| l.contains("--max-bodies-in-flight")).count();
    assert_eq!(naming, 1, "one warning for the burst, no line per refusal: {log:#?}");
    assert!(!log.iter().any(|l| l.contains("server error")), "{log:#?}");
    server.kill().await;
}

#[tokio::test]
async fn at_start_the_open_file_limit_is_raised_to_the_hard_limit_and_logged() {
    let mut server = crate::binary::Binary::start(&[], &[]).await;
    server.log_until("open-file limit raised").await;
    let line = server.log.last().expect("the line").clone();
    let (_, hard) = rlimit::Resource::NOFILE.get().expect("the limit");
    let logged: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(logged["fields"]["after"], hard, "{line}");
    server.kill().await;
}
