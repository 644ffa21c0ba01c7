//! Child processes under test: started, waited for, measured (RSS and CPU
//! time from `/proc`), and killed when dropped.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A server under test.
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// From spawn to the first 200 on the readiness path.
    pub startup: Duration,
    child: Child,
}

impl Server {
    /// Starts `cmd`, which prints `listening on http://ADDR` on stdout once
    /// bound, then waits for a 200 on `ready_path`.
    pub async fn start_announcing(name: &str, mut cmd: Command, ready_path: &str) -> Result<Self, String> {
        let started = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        let stdout = child.stdout.take().ok_or(format!("{name}: no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(a) = line.trim().strip_prefix("listening on http://") {
                    return a.parse::<SocketAddr>().map_err(|e| e.to_string());
                }
            }
            Err("exited before listening".to_owned())
        })
        .await
        .map_err(|_| format!("{name}: did not announce its address in 30 s"))?
        .map_err(|e| format!("{name}: {e}"))?;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        wait_ready(name, addr, ready_path, Duration::from_secs(30)).await?;
        Ok(Self {
            addr,
            startup: started.elapsed(),
            child,
        })
    }

    /// Starts `cmd`, which listens on `addr` (chosen by the caller), and
    /// waits for a 200 on `ready_path` with `header`.
    pub async fn start_on(
        name: &str,
        mut cmd: Command,
        addr: SocketAddr,
        ready_path: &str,
        wait: Duration,
    ) -> Result<Self, String> {
        let started = Instant::now();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        wait_ready(name, addr, ready_path, wait).await?;
        Ok(Self {
            addr,
            startup: started.elapsed(),
            child,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Resident set size, bytes.
    pub fn rss(&self) -> u64 {
        rss_bytes(self.pid())
    }

    /// Open file descriptors (sockets included).
    pub fn fds(&self) -> u64 {
        fd_count(self.pid())
    }

    /// User + system CPU time used so far.
    pub fn cpu(&self) -> Duration {
        cpu_time(self.pid())
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A free loopback port, for servers that must be told their port.
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Polls `GET path` with a bearer token until it answers 200.
async fn wait_ready(name: &str, addr: SocketAddr, path: &str, wait: Duration) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    let target = crate::load::Target::get(addr, path, crate::TOKEN);
    loop {
        if let Ok(status) = crate::client::status_of(&target).await
            && status == 200
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{name}: no 200 on {path} within {wait:?}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// `VmRSS` of a process, bytes (0 if it is gone).
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Open file descriptors of a process: entries of `/proc/PID/fd` (0 if it
/// is gone).
pub fn fd_count(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// The soft open-file limit of a process, from `/proc/PID/limits`.
pub fn nofile_soft(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User + system CPU time of a process (and its reaped children).
pub fn cpu_time(pid: u32) -> Duration {
    // Fields 14 and 15 of /proc/PID/stat, after the command in parentheses.
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 1000 / clock_ticks_per_sec())
}

/// `getconf CLK_TCK` (100 on Linux, whatever the kernel's HZ).
fn clock_ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// Megabytes, for the report.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        // A running test binary has some resident memory and, after a busy
        // loop, some CPU time. The loop runs until the kernel has counted a
        // tick (at most 5 s): on a loaded machine 30 ms of wall time can be
        // less than one 10 ms tick of CPU, and the test failed so.
        let mut x = 0u64;
        let t = Instant::now();
        while cpu_time(me) == Duration::ZERO && t.elapsed() < Duration::from_secs(5) {
            let burst = Instant::now();
            while burst.elapsed() < Duration::from_millis(10) {
                x = x.wrapping_add(std::hint::black_box(1));
            }
        }
        assert!(x > 0);
        assert!(rss_bytes(me) > 1024 * 1024, "rss {}", rss_bytes(me));
        assert!(
            cpu_time(me) > Duration::ZERO,
            "no CPU time counted after {:?}",
            t.elapsed()
        );
        assert_eq!(rss_bytes(u32::MAX), 0);
        // stdin, stdout and stderr at least; a file opened here is counted.
        let before = fd_count(me);
        let f = std::fs::File::open("/proc/self/status");
        assert!(f.is_ok());
        assert!(fd_count(me) > before, "{} <= {before}", fd_count(me));
        drop(f);
        assert_eq!(fd_count(u32::MAX), 0);
        assert!(nofile_soft(me).is_some_and(|n| n > 0));
        assert_eq!(nofile_soft(u32::MAX), None);
    }
}
