//! Which connections the fake takes. Every connection costs an open file,
//! from the same pool as the data dir, the webhook client and the listener
//! itself; once that pool is empty, `accept` fails and nothing is served,
//! not even to a well-behaved client. So at start the open-file soft limit
//! is raised to the hard limit ([`raise_open_file_limit`]), and near it a
//! new connection is closed at once instead of served ([`Admission`]),
//! keeping `RESERVED_FILES` descriptors for everything else. Shedding is
//! logged once when it begins, not per connection, and again only after
//! it stopped. The same count, with its own cap, bounds the request bodies
//! being read at once (`--max-bodies-in-flight`, see
//! [`crate::http::body_budget`]), so that uploads that stall cannot take
//! every connection the cap allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Descriptors kept for what is not a client connection: the data dir,
/// webhook deliveries, the listener, logs.
pub const RESERVED_FILES: u64 = 256;

/// Raises the open-file soft limit to the hard limit; returns (before,
/// after), or `None` where there is no such limit (or it cannot be read).
pub fn raise_open_file_limit() -> Option<(u64, u64)> {
    let (before, _) = rlimit::Resource::NOFILE.get().ok()?;
    let after = rlimit::increase_nofile_limit(u64::MAX).ok()?;
    Some((before, after))
}

/// How many connections to serve at once: `--max-connections`, or, when
/// 0, the open-file soft limit less [`RESERVED_FILES`] (at least 16).
pub fn connection_cap(flag: usize) -> usize {
    if flag > 0 {
        return flag;
    }
    let soft = rlimit::Resource::NOFILE.get().map_or(1024, |(soft, _)| soft);
    usize::try_from(soft.saturating_sub(RESERVED_FILES).max(16)).unwrap_or(usize::MAX)
}

/// How many request bodies may be read at once: `--max-bodies-in-flight`,
/// or, when 0, three quarters of `connections` (at least 1), so a quarter
/// of the connections stays for requests that hold no body open.
pub fn bodies_cap(flag: usize, connections: usize) -> usize {
    if flag > 0 {
        return flag;
    }
    (connections / 4 * 3 + connections % 4 * 3 / 4).max(1)
}

/// What is logged when shedding begins (at warn) and when it ends (info).
#[derive(Debug, Clone, Copy)]
pub struct Notice {
    /// Shedding began: what is refused, and which flag caps it.
    pub shedding: &'static str,
    /// Admitted again after shedding.
    pub served: &'static str,
}

/// The notice of the connection cap.
pub const CONNECTIONS: Notice = Notice {
    shedding: "at the connection cap (--max-connections, or the open-file limit less 256): \
               new connections are closed at once until some end",
    served: "connections are served again",
};

/// A burst of refusals, logged once: a warning at the first refused, an
/// info line at the first admitted after it; nothing per request.
#[derive(Debug)]
pub struct Burst {
    refusing: AtomicBool,
    notice: Notice,
}

impl Burst {
    /// No burst yet; `notice` says what is refused.
    pub const fn new(notice: Notice) -> Self {
        Self {
            refusing: AtomicBool::new(false),
            notice,
        }
    }

    /// One refused at `cap`: warns when it begins a burst.
    pub fn refused(&self, cap: usize) {
        if !self.refusing.swap(true, Ordering::AcqRel) {
            tracing::warn!(cap, "{}", self.notice.shedding);
        }
    }

    /// One admitted under `cap`: says so when it ends a burst. Read first,
    /// so the common case writes nothing shared.
    pub fn admitted(&self, cap: usize) {
        if self.refusing.load(Ordering::Acquire) && self.refusing.swap(false, Ordering::AcqRel) {
            tracing::info!(cap, "{}", self.notice.served);
        }
    }

    /// Whether the last one was refused.
    pub fn refusing(&self) -> bool {
        self.refusing.load(Ordering::Acquire)
    }
}

/// What is open (connections, or bodies being read), against a cap.
#[derive(Debug)]
pub struct Admission {
    cap: usize,
    open: Arc<AtomicUsize>,
    burst: Burst,
}

/// One admitted connection; it stops counting when dropped.
#[derive(Debug)]
pub struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// At most `cap` at once; `notice` is logged when shedding begins and ends.
    pub fn new(cap: usize, notice: Notice) -> Self {
        Self {
            cap,
            open: Arc::new(AtomicUsize::new(0)),
            burst: Burst::new(notice),
        }
    }

    /// Admits one more, or `None`: refuse it at once.
    pub fn admit(&self) -> Option<Admitted> {
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.cap).then_some(n + 1))
            .is_ok();
        if admitted {
            self.burst.admitted(self.cap);
            Some(Admitted(self.open.clone()))
        } else {
            self.burst.refused(self.cap);
            None
        }
    }

    /// The most admitted at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Admitted now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Whether new ones are being refused now.
    pub fn shedding(&self) -> bool {
        self.burst.refusing()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_connections_are_shed_until_one_ends() {
        let a = Admission::new(2, CONNECTIONS);
        let one = a.admit().expect("first");
        let _two = a.admit().expect("second");
        assert!(a.admit().is_none() && a.shedding());
        assert!(a.admit().is_none(), "still shedding");
        drop(one);
        assert_eq!(a.open(), 1);
        assert!(a.admit().is_some() && !a.shedding(), "served again");
    }

    #[test]
    fn the_cap_follows_the_flag_or_the_open_file_limit() {
        assert_eq!(connection_cap(7), 7);
        assert!(connection_cap(0) >= 16);
    }

    #[test]
    fn bodies_take_three_quarters_of_the_connections_unless_set() {
        assert_eq!(bodies_cap(0, 768), 576);
        assert_eq!(bodies_cap(0, 6), 4);
        assert_eq!(bodies_cap(0, 1), 1, "at least one");
        assert_eq!(bodies_cap(0, usize::MAX), usize::MAX / 4 * 3 + 2, "no overflow");
        assert_eq!(bodies_cap(5, 768), 5);
    }

    #[test]
    fn the_notice_names_the_reserved_files() {
        assert!(CONNECTIONS.shedding.contains(&RESERVED_FILES.to_string()));
    }
}
