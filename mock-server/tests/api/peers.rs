//! Network peers for tests: an SSE client that reads events off a real
//! socket, a webhook receiver on 127.0.0.1 port 0 (plain or TLS, with a
//! certificate authority made in the test), and a request held in flight on
//! a raw connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::helpers::TestApp;

/// One SSE message (or comment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseMessage {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub comment: Option<String>,
}

impl SseMessage {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.data.as_deref().expect("a data line")).expect("JSON data")
    }
}

/// A connected SSE client.
pub struct SseClient {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    buf: String,
}

impl SseClient {
    pub async fn connect(app: &TestApp, query: &str, token: &str, last_event_id: Option<u64>) -> Self {
        let mut req = reqwest::Client::new()
            .get(format!("{}/notifications/events{query}", app.base))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        app.note_sent("GET", "/notifications/events");
        Self::from_response(req.send().await.expect("connected"))
    }

    /// A client reading `res`, the answer to `GET /notifications/events`
    /// (from a server that is no [`TestApp`], such as the binary).
    pub fn from_response(res: reqwest::Response) -> Self {
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .expect("ct")
                .starts_with("text/event-stream")
        );
        Self {
            stream: res.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next message, or `None` when the stream ends; fails after 10 s.
    pub async fn next(&mut self) -> Option<SseMessage> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut m = SseMessage::default();
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        m.comment = Some(c.trim().to_owned());
                    } else if let Some((k, v)) = line.split_once(':') {
                        let v = v.strip_prefix(' ').unwrap_or(v).to_owned();
                        match k {
                            "id" => m.id = v.parse().ok(),
                            "event" => m.event = Some(v),
                            "data" => m.data = Some(v),
                            _ => {}
                        }
                    }
                }
                return Some(m);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("an SSE message within 10 s")?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        }
    }

    /// The next message that is not a comment.
    pub async fn next_event(&mut self) -> Option<SseMessage> {
        loop {
            let m = self.next().await?;
            if m.comment.is_none() {
                return Some(m);
            }
        }
    }

    /// Reads past the backfill; returns the backfilled messages.
    pub async fn backfill(&mut self) -> Vec<SseMessage> {
        let mut out = Vec::new();
        loop {
            let m = self.next_event().await.expect("backfill_complete");
            if m.event.as_deref() == Some("backfill_complete") {
                assert_eq!(m.data.as_deref(), Some("{}"));
                return out;
            }
            assert_eq!(m.event.as_deref(), Some("backfill"));
            out.push(m);
        }
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path (`/hook` or `/hook/{label}`).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answered: u16,
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 500 for the first N requests, then 204.
    FailFirst(usize),
    /// Never answers (holds the request open).
    Hang,
    /// 500 while the flag is set, 204 once it is cleared (an outage that
    /// the test ends).
    FailWhile(Arc<AtomicBool>),
    /// Holds each request until the value is `true`, then 204 (an attempt
    /// that stays on the wire for as long as the test wants).
    HoldUntil(tokio::sync::watch::Receiver<bool>),
}

/// A webhook receiver on 127.0.0.1, port 0.
pub struct Receiver {
    pub url: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let router = Self::router(behaviour, tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, rx }
    }

    /// Like [`Receiver::start`], over TLS (`https://127.0.0.1:PORT/hook`)
    /// with a certificate for `127.0.0.1` signed by `ca`.
    pub async fn start_tls(behaviour: Behaviour, ca: &TestCa) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let router = Self::router(behaviour, tx);
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config("127.0.0.1"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the
                    // handshake: there is nothing to serve.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self { url, rx }
    }

    /// The receiver's routes: `/hook`, and `/hook/{label}` so that one
    /// receiver can serve several accounts.
    fn router(behaviour: Behaviour, tx: mpsc::UnboundedSender<Received>) -> axum::Router {
        let count = Arc::new(AtomicUsize::new(0));
        let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let count = count.clone();
            let behaviour = behaviour.clone();
            async move {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let path = uri.path().to_owned();
                let status = match behaviour {
                    Behaviour::HoldUntil(mut open) => {
                        let _ = tx.send(Received {
                            path,
                            headers,
                            body,
                            answered: 204,
                        });
                        let _ = open.wait_for(|open| *open).await;
                        return StatusCode::NO_CONTENT;
                    }
                    Behaviour::Hang => {
                        let _ = tx.send(Received {
                            path,
                            headers,
                            body,
                            answered: 0,
                        });
                        std::future::pending::<()>().await;
                        return StatusCode::NO_CONTENT;
                    }
                    Behaviour::FailFirst(k) if n < k => StatusCode::INTERNAL_SERVER_ERROR,
                    Behaviour::FailWhile(failing) if failing.load(Ordering::SeqCst) => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                    Behaviour::FailFirst(_) | Behaviour::FailWhile(_) => StatusCode::NO_CONTENT,
                };
                let _ = tx.send(Received {
                    path,
                    headers,
                    body,
                    answered: status.as_u16(),
                });
                status
            }
        };
        axum::Router::new()
            .route("/hook", axum::routing::post(handler.clone()))
            .route("/hook/{label}", axum::routing::post(handler))
    }

    /// The next request; fails after 10 s.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("a delivery within 10 s")
            .expect("open")
    }

    /// A request already received, if there is one (never waits).
    pub fn try_next(&mut self) -> Option<Received> {
        self.rx.try_recv().ok()
    }

    /// The next request, or `None` once the receiver is gone; no time limit
    /// (for a task that collects every delivery while the test runs).
    pub async fn recv(&mut self) -> Option<Received> {
        self.rx.recv().await
    }

    /// Requests until one for `name` arrives (others are returned too).
    pub async fn until(&mut self, pred: impl Fn(&serde_json::Value) -> bool) -> Vec<Received> {
        let mut out = Vec::new();
        loop {
            let r = self.next().await;
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON body");
            let done = pred(&v);
            out.push(r);
            if done {
                return out;
            }
        }
    }
}

/// A certificate authority made for one test (rcgen), and what it signs.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// Its certificate, PEM: the contents of a `--webhook-ca-file`.
    pub pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().expect("a CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "flat2model-mock test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).expect("self-signed CA").pem();
        Self {
            issuer: rcgen::Issuer::new(params, key),
            pem,
        }
    }

    /// Writes the CA certificate to a fresh file; its path.
    pub fn write_pem(&self) -> std::path::PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "f2m-test-ca-{}-{}.pem",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, &self.pem).expect("CA file written");
        path
    }

    /// A TLS server configuration presenting a certificate for `host` (an
    /// IP address or a DNS name) signed by this CA.
    pub fn server_config(&self, host: &str) -> Arc<tokio_rustls::rustls::ServerConfig> {
        use tokio_rustls::rustls;
        let key = rcgen::KeyPair::generate().expect("a server key");
        let mut params = rcgen::CertificateParams::new(vec![host.to_owned()]).expect("server params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "flat2model-mock test receiver");
        let cert = params.signed_by(&key, &self.issuer).expect("signed by the CA");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .expect("a server certificate");
        Arc::new(config)
    }
}

/// The documentation's Flask `verify_signature`, in Rust:
/// `"sha256=" + hmac.new(secret, body, sha256).hexdigest()` compared with
/// `hmac.compare_digest`.
pub fn verify_signature(secret: &str, body: &[u8], signature_header: &str) -> bool {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    use subtle::ConstantTimeEq;
    bool::from(expected.as_bytes().ct_eq(signature_header.as_bytes()))
}

/// A request on a raw connection whose head the server has taken up (it
/// answered `Expect: 100-continue` with `100 Continue`, which hyper does
/// once the app reads the body) and whose body is held back: a request
/// that is certainly in flight, for as long as the test wants.
pub struct HeldRequest {
    stream: TcpStream,
    body: Vec<u8>,
}

impl HeldRequest {
    /// Sends the head of `method url` (an absolute URL of the server at
    /// `addr`) and waits for `100 Continue`.
    pub async fn start(addr: &str, method: &str, url: &str, content_type: &str, body: Vec<u8>) -> Self {
        let target = url
            .strip_prefix(&format!("http://{addr}"))
            .expect("a URL of this server");
        let mut stream = TcpStream::connect(addr).await.expect("connected");
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("head sent");
        let mut interim = Vec::new();
        while !interim.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
                .await
                .expect("100 Continue within 10 s")
                .expect("readable");
            assert_eq!(
                n,
                1,
                "the server closed the connection: {:?}",
                String::from_utf8_lossy(&interim)
            );
            interim.push(byte[0]);
        }
        let interim = String::from_utf8_lossy(&interim);
        assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
        Self { stream, body }
    }

    /// Sends the body and reads the answer to the end of the connection
    /// (the server closes it: it is shutting down). Fails after 10 s.
    pub async fn finish(mut self) -> String {
        self.stream.write_all(&self.body).await.expect("body sent");
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut out))
            .await
            .expect("answered and closed within 10 s")
            .expect("readable");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Reads what the server sends without sending the body: for a request
    /// the server gave up on, the end of the connection.
    pub async fn abandoned(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        // A reset counts as an end too.
        let _ = tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut out))
            .await
            .expect("the connection ends within 10 s");
        out
    }
}
