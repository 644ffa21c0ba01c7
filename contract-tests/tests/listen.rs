//! `contract-tests listen` and `trigger` against the fake's binary: the
//! receiver registers itself, checks signatures, prints each event and
//! forwards the original bytes and headers to a local app.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::Mac as _;

fn signed_by(secret: &str, body: &[u8], header: &str) -> bool {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    header == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn listen_registers_verifies_prints_and_forwards_and_trigger_emits() {
    let fake = common::fake(&[]);
    // The local app: 200 to everything, keeps what it got.
    let (app_tx, mut app_rx) = tokio::sync::mpsc::unbounded_channel::<(HeaderMap, Bytes)>();
    let app = axum::Router::new().fallback(axum::routing::post(move |h: HeaderMap, b: Bytes| {
        let _ = app_tx.send((h, b));
        async { "ok" }
    }));
    let app_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let app_url = format!("http://{}/local", app_listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(app_listener, app).await });

    let mut child = Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args(["listen", "--base-url", &fake.base, "--token", "f2m_demo_token"])
        .args(["--forward-to", &app_url, "--max-events", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("listen starts");
    let (line_tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let next = || lines.recv_timeout(Duration::from_secs(20)).expect("a line within 20 s");
    let first = next();
    let hook = first.strip_prefix("listening on ").expect("its URL first").to_owned();
    let registered = next();
    let secret = registered.rsplit(' ').next().expect("secret").to_owned();
    assert!(registered.starts_with("registered on "), "{registered}");

    let trigger = Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args(["trigger", "batch_edit.failed", "--base-url", &fake.base])
        .args(["--account", "demo@flat2model.test"])
        .output()
        .expect("trigger runs");
    assert!(trigger.status.success(), "{}", String::from_utf8_lossy(&trigger.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&trigger.stdout).expect("JSON");
    assert!(answer["delivery_id"].is_u64(), "{answer}");

    // The ping and the triggered event reach the app as the fake sent them.
    let mut forwarded = Vec::new();
    for _ in 0..2 {
        let got = tokio::time::timeout(Duration::from_secs(20), app_rx.recv())
            .await
            .expect("forwarded within 20 s")
            .expect("open");
        forwarded.push(got);
    }
    for (h, body) in &forwarded {
        let sig = h["x-webhook-signature"].to_str().expect("ascii");
        assert!(
            signed_by(&secret, body, sig),
            "the bytes and signature came through as sent"
        );
        assert!(h.contains_key("x-webhook-delivery"));
    }
    assert_eq!(forwarded[1].0["x-webhook-event"], "batch_edit");
    // A forged delivery is printed as such.
    let forged = reqwest::Client::new()
        .post(&hook)
        .header("x-webhook-signature", "sha256=00")
        .header("x-webhook-event", "batch_edit")
        .body(r#"{"id":9,"name":"batch_edit","data":{"status":"completed"},"timestamp":1}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 200, "the app's answer goes back");

    let rest: Vec<String> = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(20)).ok()).collect();
    let status = child.wait().expect("listen ends after 3 events");
    assert!(status.success());
    let text = rest.join("\n");
    assert!(text.contains("forwarding to"), "{text}");
    assert!(text.contains("<- ping delivery 1 signature ok: ping"), "{text}");
    assert!(text.contains("signature ok: batch_edit failed"), "{text}");
    assert!(text.contains("signature INVALID: batch_edit completed"), "{text}");
    assert!(text.contains(&format!("-> {app_url}: 200")), "{text}");
}
