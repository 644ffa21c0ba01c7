//! The soak's Markdown report (`bench/soak.md`).

use std::fmt::Write as _;

use super::stalled::{Probe, Stalled};
use super::tokens::Wave;
use super::webhooks::DeadReceiver;
use crate::load::Stats;
use crate::machine::Machine;
use crate::process::mb;

/// Everything the soak measured.
#[derive(Debug, Clone)]
pub struct Soak {
    /// Where it ran.
    pub machine: Machine,
    /// `/proc/loadavg` before and after.
    pub load_before: String,
    /// After.
    pub load_after: String,
    /// The binary measured.
    pub server: String,
    /// Phase a: RSS, descriptors, status GET.
    pub baseline: Option<(u64, u64, Stats)>,
    /// Phase b.
    pub waves: Vec<Wave>,
    /// RSS, descriptors and status GET after both waves.
    pub after_waves: Option<(u64, u64, Stats)>,
    /// Phase c.
    pub dead: Option<DeadReceiver>,
    /// Phase d.
    pub stalled: Option<Stalled>,
}

fn lat(s: &Stats) -> String {
    format!(
        "{:.2} | {:.2} | {} ({} errors)",
        s.quantile_ms(0.5),
        s.quantile_ms(0.99),
        s.ok,
        s.errors
    )
}

fn probe(p: &Probe) -> String {
    if p.ok == 0 {
        return format!("0 of {} | – | –", p.sent);
    }
    format!("{} of {} | {:.2} | {:.2}", p.ok, p.sent, p.p50_ms, p.p99_ms)
}

/// A two-column table of `rows`.
fn table(o: &mut String, rows: &[(String, String)]) {
    let _ = writeln!(o, "| | |\n| --- | --- |");
    for (k, v) in rows {
        let _ = writeln!(o, "| {k} | {v} |");
    }
}

impl Soak {
    /// The report.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(o, "# Soak (issue 20)\n");
        let _ = writeln!(
            o,
            "Written by `make soak` (`f2m-bench soak`, `bench/src/soak/`). The fake is `{}`, the \
             quick profile (`cargo build --profile quick`: release without fat LTO), not the \
             release build of [the benchmark](report.md). Commit `{}`, {}, {} cores ({}), {:.1} GiB, \
             at {}. The machine is shared with other work: load average (1, 5, 15 min) `{}` \
             before the run and `{}` after it, so latencies are those of a busy machine.\n",
            self.server, m.commit, m.cpu, m.cores, m.kernel, m.memory_gib, m.date, self.load_before, self.load_after
        );
        let _ = writeln!(
            o,
            "The normal client is the fixture account's `GET /jobs/{{id}}/status` of a finished job: \
             4 keep-alive connections in a closed loop (the bench's generator), 0.5 s unmeasured, \
             then 3 s. Phases a–c run on one fake (`--clock manual --time-scale 0 --any-token \
             --any-token-idle-ttl 1h`), phase d on a second one.\n"
        );
        let _ = writeln!(o, "## a–b. Baseline and token waves\n");
        let _ = writeln!(o, "| when | RSS MB | descriptors | status p50 ms | p99 ms | answered |");
        let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- |");
        if let Some((rss, fds, s)) = &self.baseline {
            let _ = writeln!(
                o,
                "| a. baseline (one fixture job) | {:.1} | {fds} | {} |",
                mb(*rss),
                lat(s)
            );
        }
        if let Some((rss, fds, s)) = &self.after_waves {
            let _ = writeln!(o, "| after both waves evicted | {:.1} | {fds} | {} |", mb(*rss), lat(s));
        }
        let _ = writeln!(
            o,
            "\nEach wave: that many distinct tokens, `GET /identity` once each (32 in flight), then \
             `POST /__admin/clock {{\"advance\": \"61m\"}}` past `--any-token-idle-ttl` (1 h); RSS \
             after eviction is read after the allocator's purge delay (1.5 s, then 200 requests).\n"
        );
        let _ = writeln!(
            o,
            "| wave | tokens | answered 2xx | s | RSS peak MB | RSS after wave MB | tenants before eviction | tenants after | clock move (eviction) s | RSS after eviction MB | descriptors after |"
        );
        let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for (i, w) in self.waves.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} | {:.1} | {} |",
                i + 1,
                w.tokens,
                w.ok,
                w.secs,
                mb(w.rss_peak),
                mb(w.rss_after_wave),
                w.tenants_before,
                w.tenants_after,
                w.evict_secs,
                mb(w.rss_evicted),
                w.fds_evicted
            );
        }
        let _ = writeln!(
            o,
            "\nMeanwhile, the fixture account's status GET (4 keep-alive connections, from the \
             moment the clock moves, 0.5 s unmeasured then 3 s):\n\n\
             | wave | status GET during the eviction: p50 ms | p99 ms | answered |\n| --- | --- | --- | --- |"
        );
        for (i, w) in self.waves.iter().enumerate() {
            let _ = writeln!(o, "| {} | {} |", i + 1, lat(&w.during_eviction));
        }
        if let Some(d) = &self.dead {
            let _ = writeln!(o, "\n## c. A webhook receiver that never answers\n");
            let _ = writeln!(
                o,
                "A listener on 127.0.0.1 accepts every connection and reads, never answering; it is \
                 the webhook of a tenant made with `POST /__admin/tenants`, which then creates {} jobs \
                 (16 in flight), the clock moved 1 s after each 1,000 so they end and their \
                 notifications go out; then the clock moves 30 s a second for 15 s so attempts time \
                 out (`--webhook-timeout` 10 s) and are retried. Defaults: `--webhook-max-in-flight` \
                 64, `--webhook-max-pending` 10,000.\n",
                d.jobs
            );
            let _ = writeln!(o, "| | |\n| --- | --- |");
            let _ = writeln!(
                o,
                "| jobs created and run | {} in {:.1} s ({:.0}/s) |",
                d.jobs,
                d.create_secs,
                d.jobs as f64 / d.create_secs.max(1e-9)
            );
            let _ = writeln!(
                o,
                "| status GET while jobs were created: p50 / p99 ms / answered | {} |",
                lat(&d.during).replace(" | ", " / ")
            );
            let _ = writeln!(
                o,
                "| status GET with deliveries hanging: p50 / p99 ms / answered | {} |",
                lat(&d.after).replace(" | ", " / ")
            );
            let _ = writeln!(
                o,
                "| the fake's descriptors: most at once / at the end | {} / {} |",
                d.peaks.fds, d.fds_end
            );
            let _ = writeln!(
                o,
                "| connections the receiver held: most at once / accepted in all | {} / {} |",
                d.receiver_max, d.receiver_total
            );
            let _ = writeln!(o, "| the fake's RSS: highest | {:.1} MB |", mb(d.peaks.rss));
            let dl: Vec<String> = d.deliveries.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(o, "| the tenant's deliveries at the end | {} |", dl.join(", "));
            let _ = writeln!(o, "| `held` at the end | `{}` |", d.held);
        }
        if let Some(s) = &self.stalled {
            let _ = writeln!(o, "\n## d. Stalled uploads under a low open-file limit\n");
            let _ = writeln!(
                o,
                "The fake started under `prlimit --nofile=N:N` (soft limit seen in `/proc`: {}), so \
                 `--max-connections` is that less 256 and `--max-bodies-in-flight` three quarters of \
                 `--max-connections`; `--body-timeout 5s` (default 30 s). {} uploads \
                 (`POST /identity/upload`, multipart, `Content-Length` 100 KiB, 1 KiB sent, then \
                 nothing) are opened at once. The normal client has one keep-alive connection opened \
                 before them, and also tries new connections (each request given 1 s).\n",
                s.nofile.map_or("unknown".to_owned(), |n| n.to_string()),
                s.uploads
            );
            let ends: Vec<String> = s.ends.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            let answered = "answered / p50 / p99 ms";
            table(
                &mut o,
                &[
                    (
                        "the fake's descriptors / RSS with the uploads stalled".into(),
                        format!("{} / {:.1} MB", s.fds_stalled, mb(s.rss_stalled)),
                    ),
                    (
                        format!("status GET on the kept connection: {answered}"),
                        probe(&s.kept).replace(" | ", " / "),
                    ),
                    (
                        format!("status GET on new connections during the stall: {answered}"),
                        probe(&s.fresh).replace(" | ", " / "),
                    ),
                    ("how the uploads ended".into(), ends.join(", ")),
                    (
                        "from the stall to the last upload's end".into(),
                        format!("{:.1} s", s.cut_secs),
                    ),
                    (
                        "the fake's descriptors / RSS after".into(),
                        format!("{} / {:.1} MB", s.fds_after, mb(s.rss_after)),
                    ),
                    (
                        format!("status GET on new connections after: {answered}"),
                        probe(&s.fresh_after).replace(" | ", " / "),
                    ),
                ],
            );
        }
        o
    }
}
