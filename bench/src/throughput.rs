//! Request throughput and latency: the fake's job-status GET and job
//! creation, and the same status GET served by Prism, WireMock and the bare
//! hyper ceiling, each at every connection count.

use std::net::SocketAddr;

use crate::load::{self, Stats, Target};
use crate::{Sizes, TOKEN};

/// One server's runs at each connection count.
#[derive(Debug, Clone)]
pub struct Series {
    /// Who served.
    pub server: String,
    /// What was asked.
    pub request: String,
    /// One run per connection count, in `Sizes::conns` order.
    pub runs: Vec<Stats>,
}

impl Series {
    /// The run at `conns` connections.
    pub fn at(&self, conns: usize) -> Option<&Stats> {
        self.runs.iter().find(|s| s.conns == conns)
    }
}

/// Runs `target` at every connection count; `warmup` first, unmeasured
/// (a JVM needs its JIT warm before it is measured).
pub async fn series(
    server: &str,
    request: &str,
    target: &Target,
    sizes: &Sizes,
    warmup: std::time::Duration,
) -> Series {
    if !warmup.is_zero() {
        let most = sizes.conns.iter().copied().max().unwrap_or(1);
        load::run(target, most, warmup, std::time::Duration::ZERO).await;
    }
    let mut runs = Vec::new();
    for &c in &sizes.conns {
        runs.push(load::run(target, c, sizes.warmup, sizes.duration).await);
    }
    Series {
        server: server.to_owned(),
        request: request.to_owned(),
        runs,
    }
}

/// The fake's status GET of `job`.
pub fn status_target(addr: SocketAddr, job: &str) -> Target {
    Target::get(addr, &crate::peers::status_path(job), TOKEN)
}
