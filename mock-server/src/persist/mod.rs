//! `--data-dir`: everything a client created, kept in an embedded, crash-safe
//! database so that a restart, even after `kill -9`, loses nothing that was
//! acknowledged.
//!
//! The store is [redb](https://www.redb.org): pure Rust (the workspace
//! forbids `unsafe`, and needs no C toolchain), ACID, copy-on-write B-trees
//! whose commit is durable once it returns (fsync), one file, and an
//! exclusive lock that keeps a second process off the same data dir.
//!
//! How it fits the fake:
//! - **Memory stays the source of every read.** The database is written,
//!   and read only at start ([`load`]). `GET /jobs/{id}/status` never
//!   touches it.
//! - **Every change goes through one writer thread** ([`writer`]) as an
//!   [`Op`](crate::durable::Op), in the order the changes happened. The writer takes whatever
//!   has queued up, writes it in one transaction and commits once: a group
//!   commit, so 1,000 concurrent job creations share a few fsyncs.
//! - **A response is sent only after its changes are committed.** Each
//!   request notes the last change it queued (a task-local), and the
//!   [durability middleware](crate::http::middleware::durable) waits for that commit before the response goes
//!   out. "Acknowledged" means committed.
//! - **Most changes are marks** ([`Dirty`](crate::durable::Dirty)): "file X changed". The writer
//!   writes what memory holds for X at commit time (or deletes X if memory no
//!   longer has it), so two changes racing on one object can never leave the
//!   older one on disk.
//! - **Notifications become visible only once durable.** A job event, the
//!   notifications it causes and their webhook deliveries are one change;
//!   the notifications are appended to the account's log and the deliveries
//!   queued only after that change committed (the `after` step of
//!   [`Durable::submit`]). So no client ever sees a notification that a
//!   crash could take back, and after a restart the job continues from the
//!   last committed event: nothing is announced twice or lost.
//! - Counters (IDs, notification and delivery ids, upload and job order) and
//!   the clock are written with every commit, as they stand when the batch
//!   is taken, so no ID handed out in an acknowledged response is handed out
//!   again after a restart.
//!
//! Uploaded bytes are written, but after a restart not loaded: memory holds
//! their digests and [`blob_reader`] reads them when a request asks.
//!
//! Renders are not stored: rendering is a pure function of a job's inputs
//! and schedule, so an image is rendered again, byte for byte, on its first
//! request after a restart.

mod blob_reader;
pub mod load;
mod migrate;
pub mod records;
pub mod refusal;
pub mod tables;
mod writer;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use redb::{Database, DatabaseError, ReadableTable};
use tokio::sync::watch;

use crate::durable::{After, Durable, Op, Pending, StoreError};
use crate::state::{AppState, Shared};
use records::{MetaRecord, decode, encode};
use tables::{FILE_NAME, FORMAT_VERSION, META};

/// The database's own page cache. redb's default (1 GiB) would fill with
/// every page the start reads and every blob a request reads back, so the
/// process would grow with what is stored; the operating system's file
/// cache keeps hot pages anyway.
const CACHE_BYTES: usize = 32 << 20;

/// A change as queued.
struct Change {
    seq: u64,
    ops: Vec<Op>,
    after: Option<After>,
}

enum Msg {
    Change(Change),
    Close(tokio::sync::oneshot::Sender<()>),
}

/// Where the writer stands: the last change committed, and whether it
/// stopped (a write failed, or the store was closed).
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    committed: u64,
    stopped: bool,
}

tokio::task_local! {
    /// The last change the current request queued (0: none).
    static QUEUED: Cell<u64>;
}

/// An opened data dir, checked, not yet serving.
#[derive(Debug)]
pub struct Opened {
    db: Arc<Database>,
    dir: PathBuf,
    runtime: tokio::runtime::Handle,
}

impl Opened {
    /// Opens (or creates) the database in `dir`, locks it, and checks that
    /// it was written by this format version and `seed`: a foreign data dir
    /// is refused with a message, never mixed with.
    pub fn open(dir: &Path, seed: u64) -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "--data-dir: the store needs the async runtime to be running".to_owned())?;
        std::fs::create_dir_all(dir).map_err(|e| {
            refusal::line(
                dir,
                &format!("cannot create it ({e}): choose a folder the fake may create and write"),
            )
        })?;
        let path = dir.join(FILE_NAME);
        // redb asserts on some damage (a file cut short): a panic here is
        // the file's fault, said in one line like any other.
        let db = refusal::quietly(
            || {
                let db = Self::open_file(dir, &path)?;
                check_identity(&db, dir, seed)?;
                Ok(db)
            },
            |panic| refusal::damaged(dir, &path, panic),
        )?;
        Ok(Self {
            db: Arc::new(db),
            dir: dir.to_owned(),
            runtime,
        })
    }

    /// Opens (or creates) the database file `path` of data dir `dir`, locked.
    fn open_file(dir: &Path, path: &Path) -> Result<Database, String> {
        let repairing = std::sync::atomic::AtomicBool::new(false);
        Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_repair_callback(move |_| {
                // Called as the repair goes on: said once.
                if !repairing.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!("the data dir was not closed cleanly: checking the whole database file");
                }
            })
            .create(path)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => refusal::line(
                    dir,
                    &format!(
                        "the database {} is locked: another mock-server is using this data dir; stop it, or start on another --data-dir",
                        path.display()
                    ),
                ),
                DatabaseError::Storage(redb::StorageError::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                    ) =>
                {
                    refusal::line(
                        dir,
                        &format!(
                            "cannot open {} for writing ({e}): give the fake write access to it, or start on another --data-dir",
                            path.display()
                        ),
                    )
                }
                e => refusal::damaged(dir, path, &e.to_string()),
            })
    }

    /// Starts the writer for the state `shared` will be.
    pub fn start(self, shared: Weak<Shared>) -> Persist {
        let (tx, rx) = std::sync::mpsc::channel();
        let (progress_tx, progress) = watch::channel(Progress::default());
        let gate = Arc::new(RwLock::new(()));
        let writer = writer::Writer {
            db: self.db.clone(),
            rx,
            shared,
            gate: gate.clone(),
            progress: progress_tx,
            runtime: self.runtime,
        };
        let handle = std::thread::Builder::new()
            .name("data-dir-writer".into())
            .spawn(move || writer.run());
        let tx = match handle {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::error!(error = %e, "the data-dir writer could not start");
                None
            }
        };
        Persist {
            queue: Mutex::new(Queue {
                seq: 0,
                tx,
                closed: false,
            }),
            progress,
            gate,
            blobs: Arc::new(blob_reader::BlobReader::new(self.db.clone())),
            loader: Mutex::new(Some(self.db)),
            dir: self.dir,
        }
    }
}

/// Writes `format` and `seed` into a new database, or checks them in an
/// existing one.
fn check_identity(db: &Database, dir: &Path, seed: u64) -> Result<(), String> {
    let file = dir.join(FILE_NAME);
    let err = |e: &dyn std::fmt::Display| refusal::damaged(dir, &file, &e.to_string());
    let expected = MetaRecord {
        format: FORMAT_VERSION,
        seed,
    };
    let txn = db.begin_write().map_err(|e| err(&e))?;
    {
        let mut meta = txn.open_table(META).map_err(|e| err(&e))?;
        let stored = meta
            .get("identity")
            .map_err(|e| err(&e))?
            .map(|v| decode::<MetaRecord>(v.value(), "meta identity"))
            .transpose()
            .map_err(|e| err(&e))?;
        match stored {
            None => {
                meta.insert("identity", encode(&expected).as_slice())
                    .map_err(|e| err(&e))?;
            }
            Some(m) if (migrate::OLDEST_UPGRADABLE..FORMAT_VERSION).contains(&m.format) && m.seed == seed => {
                migrate::upgrade(&txn, m.format).map_err(|e| err(&e))?;
                meta.insert("identity", encode(&expected).as_slice())
                    .map_err(|e| err(&e))?;
                tracing::info!(from = m.format, to = FORMAT_VERSION, "data dir upgraded");
            }
            Some(m) if m.seed != seed => {
                return Err(refusal::line(
                    dir,
                    &format!(
                        "{} was written with --seed {}, started with --seed {seed}: start with --seed {} or use another data dir",
                        file.display(),
                        m.seed,
                        m.seed
                    ),
                ));
            }
            Some(m) if m.format != FORMAT_VERSION => {
                let by = if m.format > FORMAT_VERSION {
                    "a newer"
                } else {
                    "an older"
                };
                return Err(refusal::line(
                    dir,
                    &format!(
                        "{} was written in store format {} by {by} build, this build reads format {FORMAT_VERSION}: start that build on it, or use another data dir",
                        file.display(),
                        m.format
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    txn.commit().map_err(|e| err(&e))
}

struct Queue {
    seq: u64,
    tx: Option<std::sync::mpsc::Sender<Msg>>,
    /// [`Persist::close`] was called.
    closed: bool,
}

/// The store of a `--data-dir` server: queues changes for the writer and
/// tells requests when theirs are durable.
pub struct Persist {
    queue: Mutex<Queue>,
    progress: watch::Receiver<Progress>,
    /// Held for reading while the writer takes a batch and the counters,
    /// for writing by a reset: a batch never mixes counters from after a
    /// reset with data from before it.
    gate: Arc<RwLock<()>>,
    /// The database, until the state is loaded from it.
    loader: Mutex<Option<Arc<Database>>>,
    /// Reads uploaded bytes back for the handles the load made.
    blobs: Arc<blob_reader::BlobReader>,
    dir: PathBuf,
}

impl std::fmt::Debug for Persist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persist")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Persist {
    /// Queues `ops` (and `after`, run once they are committed); returns the
    /// change's number. The current request, if any, waits for it before
    /// its response goes out ([`crate::http::middleware::durable`]). Never blocks.
    pub fn submit(&self, ops: Vec<Op>, after: Option<After>) -> u64 {
        let seq = {
            let mut q = self.queue.lock();
            q.seq += 1;
            let seq = q.seq;
            let sent =
                q.tx.as_ref()
                    .is_some_and(|tx| tx.send(Msg::Change(Change { seq, ops, after })).is_ok());
            if q.closed {
                // Shutting down: what is cut off past the grace.
                tracing::debug!(seq, "the data dir is closed: a change was not stored");
            } else if !sent {
                tracing::error!(seq, "the data-dir writer has stopped: a change was not stored");
            }
            seq
        };
        let _ = QUEUED.try_with(|q| q.set(q.get().max(seq)));
        seq
    }

    /// Waits until change `seq` is committed.
    pub async fn wait(&self, seq: u64) -> Result<(), StoreError> {
        let mut rx = self.progress.clone();
        let p = rx
            .wait_for(|p| p.committed >= seq || p.stopped)
            .await
            .map(|p| *p)
            .unwrap_or(Progress {
                committed: 0,
                stopped: true,
            });
        if p.committed >= seq {
            Ok(())
        } else {
            Err(StoreError(format!(
                "the data dir {} is not being written (see the log)",
                self.dir.display()
            )))
        }
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let seq = self.queue.lock().seq;
        self.wait(seq).await
    }

    /// Commits what is queued, then closes the database and releases its
    /// lock; later changes are not stored. For a clean shutdown, and for
    /// tests that start a second server on the same data dir. An error when
    /// something queued could not be committed (the writer had stopped).
    pub async fn close(&self) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (sent, last) = {
            let mut q = self.queue.lock();
            let sent = q.tx.as_ref().is_some_and(|s| s.send(Msg::Close(tx)).is_ok());
            q.tx = None;
            q.closed = true;
            (sent, q.seq)
        };
        self.loader.lock().take();
        // Before the closer hears of it: the lock goes with the last handle.
        self.blobs.close();
        if sent {
            let _ = rx.await;
        }
        let committed = self.progress.borrow().committed;
        if committed >= last {
            Ok(())
        } else {
            Err(StoreError(format!(
                "changes up to {last} were queued, {committed} committed: see the log"
            )))
        }
    }

    /// The database to load the state from, once.
    fn take_loader(&self) -> Option<Arc<Database>> {
        self.loader.lock().take()
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Durable for Persist {
    fn keeps(&self) -> bool {
        true
    }

    fn submit(&self, ops: Vec<Op>, after: Option<After>) {
        Persist::submit(self, ops, after);
    }

    fn flush(&self) -> Pending<'_> {
        Box::pin(Persist::flush(self))
    }

    fn wait(&self, seq: u64) -> Pending<'_> {
        Box::pin(Persist::wait(self, seq))
    }

    fn close(&self) -> Pending<'_> {
        Box::pin(Persist::close(self))
    }

    /// Holds off the writer from taking a batch (see the field `gate`).
    fn exclusive(&self) -> Option<parking_lot::RwLockWriteGuard<'_, ()>> {
        Some(self.gate.write())
    }
}

/// Loads the state kept in the data dir `p` into `state` (see [`load`]);
/// `false` when the data dir holds nothing yet.
pub fn load_into(p: &Persist, state: &AppState) -> Result<bool, String> {
    let Some(db) = p.take_loader() else {
        return Ok(false);
    };
    let blobs: Arc<dyn crate::blob_bytes::BlobSource> = p.blobs.clone();
    let file = p.dir.join(FILE_NAME);
    refusal::quietly(
        || load::load(&db, &blobs, state).map_err(|e| refusal::line(&p.dir, &e)),
        |panic| refusal::damaged(&p.dir, &file, panic),
    )
}

/// Runs `fut` (a request's handling) noting the last change it queued for
/// the store: what [`crate::http::middleware::durable`] waits for before
/// the response goes out; 0 when it queued none.
pub async fn noting_queued<F: Future>(fut: F) -> (F::Output, u64) {
    QUEUED
        .scope(Cell::new(0), async move {
            let out = fut.await;
            (out, QUEUED.with(Cell::get))
        })
        .await
}

/// How many records each table of the data dir `dir` holds, by table name.
/// Opens the database, so only while no server uses it (diagnostics, tests).
pub fn table_sizes(dir: &Path) -> Result<std::collections::BTreeMap<String, usize>, String> {
    use redb::TableHandle as _;
    let db = Database::open(dir.join(FILE_NAME)).map_err(|e| e.to_string())?;
    let txn = db.begin_read().map_err(|e| e.to_string())?;
    let mut out = std::collections::BTreeMap::new();
    for table in std::iter::once(META).chain(tables::DATA_TABLES) {
        let n = match txn.open_table(table) {
            Ok(t) => t.iter().map_err(|e| e.to_string())?.count(),
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(e) => return Err(e.to_string()),
        };
        out.insert(table.name().to_owned(), n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!("f2m-unit-{name}-{}-{nanos}", std::process::id()))
    }

    #[tokio::test]
    async fn a_data_dir_of_another_format_or_seed_is_refused_and_one_in_use_too() {
        let dir = temp("identity");
        let opened = Opened::open(&dir, 3).expect("a new data dir opens");
        let in_use = Opened::open(&dir, 3).expect_err("locked");
        assert!(in_use.contains("another mock-server"), "{in_use}");
        let txn = opened.db.begin_write().expect("txn");
        {
            let mut meta = txn.open_table(META).expect("meta");
            let other = MetaRecord { format: 99, seed: 3 };
            meta.insert("identity", encode(&other).as_slice()).expect("insert");
        }
        txn.commit().expect("commit");
        drop(opened);
        let format = Opened::open(&dir, 3).expect_err("another format");
        assert!(
            format.contains(&format!(
                "store format 99 by a newer build, this build reads format {FORMAT_VERSION}"
            )),
            "{format}"
        );
        let _ = std::fs::remove_dir_all(&dir);

        let dir = temp("seed");
        drop(Opened::open(&dir, 3).expect("opens"));
        let seed = Opened::open(&dir, 4).expect_err("another seed");
        assert!(seed.contains("written with --seed 3, started with --seed 4"), "{seed}");
        Opened::open(&dir, 3).expect("the same seed opens it again");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn opening_needs_the_runtime() {
        let err = Opened::open(&temp("no-runtime"), 0).expect_err("no runtime");
        assert!(err.contains("runtime"), "{err}");
    }
}
