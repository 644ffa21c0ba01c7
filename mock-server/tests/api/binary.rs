//! The real `mock-server` binary as a child process: started on port 0,
//! its log (stderr) drained line by line, signalled with `kill`.
//!
//! This is the one way tests start the binary.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Sends `req` and reads its JSON answer.
pub async fn send_json(req: reqwest::RequestBuilder) -> serde_json::Value {
    req.send().await.expect("sent").json().await.expect("a JSON body")
}

/// A running `mock-server` (killed when dropped).
pub struct Binary {
    pub url: String,
    child: Child,
    /// Log lines read off stderr by a task that always drains it, so the
    /// server never blocks on a full pipe, whether or not a test reads them.
    lines: mpsc::UnboundedReceiver<String>,
    /// Every log line read so far.
    pub log: Vec<String>,
}

impl Binary {
    /// Starts the binary with the repository's fixtures, port 0 and `args`,
    /// `envs` added to its environment; returns once it is listening.
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mock-server"));
        cmd.args(["--port", "0", "--log-format", "json"])
            .args(args)
            .env("MOCK_FIXTURES", concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"))
            .envs(envs.iter().copied());
        Self::spawn(cmd).await
    }

    /// [`Binary::start`] with the open-file limit (soft and hard) at
    /// `files`, as `ulimit -n` sets it, so the binary cannot raise it.
    pub async fn start_with_open_files(files: u32, args: &[&str]) -> Self {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_mock-server"))
            .args(["--port", "0", "--log-format", "json"])
            .args(args)
            .env("MOCK_FIXTURES", concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"));
        Self::spawn(cmd).await
    }

    /// Starts the binary as a user would after copying or installing it:
    /// in folder `cwd`, with port 0 and `args` only (no `MOCK_FIXTURES`:
    /// the compiled-in fixtures).
    pub async fn start_in(cwd: &std::path::Path, args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mock-server"));
        cmd.args(["--port", "0", "--log-format", "json"])
            .args(args)
            .env_remove("MOCK_FIXTURES")
            .current_dir(cwd);
        Self::spawn(cmd).await
    }

    /// Spawns `cmd` and waits for its `listening on` line.
    async fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starts");
        let (tx, lines) = mpsc::unbounded_channel();
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                // Kept draining after the `Binary` is gone.
                let _ = tx.send(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
            .await
            .expect("listening within 30 s")
            .expect("a line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not the documented line: {line:?}"))
            .to_owned();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
        });
        Self {
            url,
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// `host:port` it listens on.
    pub fn addr(&self) -> &str {
        self.url.strip_prefix("http://").expect("http URL")
    }

    /// Sends SIGTERM with the `kill` command.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Sends SIGKILL and waits until the process is gone.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL");
    }

    /// Reads log lines until one contains `needle`; fails after 10 s.
    pub async fn log_until(&mut self, needle: &str) {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("a log line with {needle:?} within 10 s; so far {:?}", self.log))
                .unwrap_or_else(|| panic!("the log ended before {needle:?}: {:?}", self.log));
            let found = line.contains(needle);
            self.log.push(line);
            if found {
                return;
            }
        }
    }

    /// Every log line read so far, with those waiting read too (without
    /// waiting for more).
    pub fn log_so_far(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    /// Waits for the process to exit (at most `within`), reading the rest
    /// of its log.
    pub async fn exit(&mut self, within: Duration) -> ExitStatus {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("exited within {within:?}"))
            .expect("waited");
        while let Some(line) = self.lines.recv().await {
            self.log.push(line);
        }
        status
    }
}
