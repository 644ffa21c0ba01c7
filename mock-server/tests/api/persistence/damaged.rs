//! A data dir the fake cannot use (a database file cut short, random bytes,
//! a newer build's format, a folder it cannot write, a database another
//! fake holds) ends the start with one line on stderr naming the file and
//! what to do, and exit code 3: never a panic or a backtrace.

use std::path::Path;
use std::process::Command;

use crate::helpers::{DEMO, png};

use super::{TempDir, close, spawn_on};

const FILE: &str = "flat2model.redb";

/// Starts the binary on `dir`; its exit code and what it wrote to stderr.
fn start(dir: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--port", "0", "--data-dir"])
        .arg(dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The start on `dir` is refused with exit code 3 and exactly one line,
/// which names `names` and says `does`.
#[track_caller]
fn refused(dir: &Path, names: &Path, does: &str) {
    let (code, stderr) = start(dir);
    assert_eq!(code, Some(3), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("mock-server: --data-dir "), "{line}");
    assert!(
        line.contains(&names.display().to_string()),
        "names {}: {line}",
        names.display()
    );
    assert!(line.contains(does), "says {does:?}: {line}");
    assert!(!line.contains("panicked"), "{line}");
}

/// A data dir holding something: an upload and its bytes.
async fn written(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    let app = spawn_on(&dir.path(), |_| {}).await;
    for salt in 0..3 {
        app.upload_file(DEMO, &format!("f{salt}.png"), None, png(salt)).await;
    }
    app.create_project(DEMO, "kept").await;
    close(&app).await;
    dir
}

/// Writes `value` under `key` in `table` of the (closed) database `file`.
fn write_row(file: &Path, table: mock_server::persist::tables::Table, key: &str, value: &[u8]) {
    let db = redb::Database::open(file).expect("open");
    let txn = db.begin_write().expect("txn");
    txn.open_table(table)
        .expect("table")
        .insert(key, value)
        .expect("insert");
    txn.commit().expect("commit");
}

#[tokio::test]
async fn a_damaged_database_file_is_refused_in_one_line_with_exit_code_3() {
    let cut = written("damaged-cut").await;
    let file = cut.path().join(FILE);
    let len = std::fs::metadata(&file).expect("file").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_len(len / 3))
        .expect("cut short");
    refused(&cut.path(), &file, "move it away");

    let noise = TempDir::new("damaged-noise");
    std::fs::create_dir_all(noise.path()).expect("dir");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(noise.path().join(FILE), bytes).expect("noise");
    refused(&noise.path(), &noise.path().join(FILE), "move it away");
}

#[tokio::test]
async fn a_database_of_a_newer_build_is_refused_in_one_line() {
    use mock_server::persist::records::{MetaRecord, encode};
    use mock_server::persist::tables::{FORMAT_VERSION, META};
    let dir = written("damaged-newer").await;
    let file = dir.path().join(FILE);
    let newer = MetaRecord {
        format: FORMAT_VERSION + 1,
        seed: 0,
    };
    write_row(&file, META, "identity", &encode(&newer));
    refused(&dir.path(), &file, "by a newer build");
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_written_or_is_in_use_is_refused_in_one_line() {
    // A path through a regular file can never be created, whoever runs.
    let base = TempDir::new("damaged-unwritable");
    std::fs::create_dir_all(base.path()).expect("dir");
    let plain = base.path().join("plain-file");
    std::fs::write(&plain, b"x").expect("file");
    refused(&plain.join("data"), &plain.join("data"), "choose a folder");

    // A folder without write permission (root may write anyway: then the
    // check says nothing).
    let locked_out = base.path().join("read-only");
    std::fs::create_dir_all(&locked_out).expect("dir");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&locked_out, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    if std::fs::write(locked_out.join("probe"), b"").is_err() {
        refused(&locked_out, &locked_out.join(FILE), "write access");
    } else {
        eprintln!("skipped the read-only folder: this user (root?) writes it anyway");
    }
    std::fs::set_permissions(&locked_out, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // The database of a fake that runs.
    let dir = TempDir::new("damaged-in-use");
    let app = spawn_on(&dir.path(), |_| {}).await;
    app.create_project(DEMO, "held").await;
    refused(
        &dir.path(),
        &dir.path().join(FILE),
        "another mock-server is using this data dir",
    );
    close(&app).await;
}

/// One record the start cannot read (a bug's, or another build's) refuses
/// the start, naming it: skipping it would lose, silently, something a
/// client was told is stored.
#[tokio::test]
async fn a_record_that_cannot_be_read_refuses_the_start_naming_it() {
    use mock_server::persist::tables::FILES;
    let dir = written("damaged-record").await;
    let file = dir.path().join(FILE);
    write_row(&file, FILES, "sku_bad", br#"{"id": 7}"#);
    refused(&dir.path(), Path::new("files/sku_bad"), "move the file away");
}
