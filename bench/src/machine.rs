//! The machine a run happened on, for the report's header.

use std::process::Command;

/// What the report says about the machine and the tools.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// CPUs this process may use.
    pub cores: usize,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// `rustc -V`.
    pub rustc: String,
    /// `node -v`.
    pub node: String,
    /// `java -version`'s first line.
    pub java: String,
    /// The commit measured (`git describe`).
    pub commit: String,
    /// When (UTC, RFC 3339).
    pub date: String,
}

impl Machine {
    /// Reads it off this machine.
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kb = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        Self {
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
                .unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: kb / (1024.0 * 1024.0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            rustc: first_line("rustc", &["-V"]),
            node: first_line("node", &["-v"]),
            java: first_line("java", &["-version"]),
            commit: first_line("git", &["describe", "--always", "--dirty"]),
            date: first_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        }
    }
}

/// The first line a command printed (stdout, else stderr), or `not found`.
fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd).args(args).output().map_or_else(
        |_| "not found".to_owned(),
        |o| {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        },
    )
}
