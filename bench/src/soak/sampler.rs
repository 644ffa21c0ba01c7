//! The highest RSS and descriptor count of a process over a stretch of
//! time, read from `/proc` every 50 ms by a background task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::process::{fd_count, rss_bytes};

/// A running sampler; `stop` gives the peaks.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

/// The peaks seen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peaks {
    /// Highest RSS, bytes.
    pub rss: u64,
    /// Most open descriptors.
    pub fds: u64,
}

impl Sampler {
    /// Starts sampling process `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let (mut rss, mut fds) = (0, 0);
            loop {
                rss = rss.max(rss_bytes(pid));
                fds = fds.max(fd_count(pid));
                if flag.load(Ordering::Relaxed) {
                    return (rss, fds);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self { stop, task }
    }

    /// Stops, after one last sample; the peaks.
    pub async fn stop(self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        let (rss, fds) = self.task.await.unwrap_or_default();
        Peaks { rss, fds }
    }
}

/// A counter shared between tasks, with its high-water mark.
#[derive(Debug, Default)]
pub struct Gauge {
    now: AtomicU64,
    max: AtomicU64,
    total: AtomicU64,
}

impl Gauge {
    /// One more.
    pub fn up(&self) {
        let n = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(n, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// One fewer.
    pub fn down(&self) {
        self.now.fetch_sub(1, Ordering::Relaxed);
    }

    /// (now, most at once, ever counted up).
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.now.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_keeps_its_high_water_mark() {
        let g = Gauge::default();
        g.up();
        g.up();
        g.down();
        g.up();
        g.down();
        g.down();
        assert_eq!(g.read(), (0, 2, 3));
    }

    #[tokio::test]
    async fn the_sampler_sees_this_process() {
        let s = Sampler::start(std::process::id());
        let p = s.stop().await;
        assert!(p.rss > 1024 * 1024, "{p:?}");
        assert!(p.fds >= 3, "{p:?}");
    }
}
