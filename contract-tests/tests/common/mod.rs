//! The fake, started from its binary on 127.0.0.1 port 0 for the harness's
//! integration tests (the harness does not link the fake: it must not
//! trust its code).

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running fake, killed on drop.
#[derive(Debug)]
pub struct Fake {
    child: Child,
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub base: String,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// `mock-server`, built beside this package's own binary (a workspace test
/// run builds it first; alone, this builds it), or `MOCK_SERVER_BIN`.
fn mock_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MOCK_SERVER_BIN") {
        return p.into();
    }
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_contract-tests"))
        .parent()
        .expect("the binary has a folder")
        .to_owned();
    let bin = dir.join("mock-server");
    if !bin.exists() {
        let built = Command::new(env!("CARGO"))
            .args(["build", "-p", "mock-server", "--bin", "mock-server"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(built.success(), "cargo build -p mock-server failed");
    }
    bin
}

/// The fake on the manual clock with instant jobs and the vendor's rate
/// limit, with the fixture accounts and `extra` flags.
pub fn fake(extra: &[&str]) -> Fake {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut child = Command::new(mock_server_binary())
        .args(["--port", "0", "--clock", "manual", "--time-scale", "0"])
        .args(extra)
        .arg("--fixtures")
        .arg(fixtures)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the fake starts");
    // Its stdout closed after the first line: nothing else is read.
    let base = listening_on(child.stdout.take().expect("stdout"));
    Fake { child, base }
}

/// The address a server started from its binary prints first on `stdout`
/// (`listening on http://127.0.0.1:PORT`).
pub fn listening_on(stdout: impl std::io::Read) -> String {
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the server says where it listens");
    line.trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}
