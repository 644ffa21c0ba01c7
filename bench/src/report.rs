//! The Markdown report: the machine, the targets with their verdicts, then
//! every figure of the run, then the hand-written profiling notes.

use std::fmt::Write as _;

use crate::fanout::Fanout;
use crate::footprint::Footprint;
use crate::jobs::JobRun;
use crate::machine::Machine;
use crate::process::mb;
use crate::render::RenderRun;
use crate::throughput::Series;

/// Where the soak's figures are (`make soak`, issue 20).
const SOAK_LINK: &str = "The soak of issue 20 (`make soak`: 100,000 `--any-token` tokens evicted, a webhook \
     receiver that never answers under 20,000 jobs, 1,000 stalled uploads under an open-file limit of \
     1,024) writes its figures beside this report: [Soak (issue 20)](soak.md).";

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Results {
    /// Full run or smoke.
    pub smoke: bool,
    /// The machine.
    pub machine: Machine,
    /// Seconds measured per load run, and the connection counts.
    pub load: (f64, Vec<usize>),
    /// The fake's status GET.
    pub status: Option<Series>,
    /// The fake's job creation.
    pub create: Option<Series>,
    /// The same status GET elsewhere: bare hyper, Prism, WireMock.
    pub peers: Vec<Series>,
    /// Peers that could not run, and why.
    pub peer_errors: Vec<String>,
    /// Prism and WireMock left out on purpose (`--skip-peers`).
    pub peers_skipped: bool,
    /// SSE fan-outs.
    pub fanouts: Vec<Fanout>,
    /// Job throughput.
    pub jobs: Option<JobRun>,
    /// Render.
    pub render: Option<RenderRun>,
    /// Start-up and memory.
    pub footprint: Option<Footprint>,
    /// Sections that failed, and why.
    pub failures: Vec<String>,
}

/// One target's line.
struct Verdict {
    target: String,
    measured: String,
    met: Option<bool>,
}

impl Results {
    fn peer(&self, name: &str) -> Option<&Series> {
        self.peers.iter().find(|s| s.server == name)
    }

    fn most_conns(&self) -> usize {
        self.load.1.iter().copied().max().unwrap_or(1)
    }

    /// The fake's status throughput over `peer`'s, at the most connections.
    pub fn ratio(&self, peer: &str) -> Option<f64> {
        let c = self.most_conns();
        let ours = self.status.as_ref()?.at(c)?.rps();
        let theirs = self.peer(peer)?.at(c)?.rps();
        (theirs > 0.0).then(|| ours / theirs)
    }

    fn verdicts(&self) -> Vec<Verdict> {
        let c = self.most_conns();
        let mut v = Vec::new();
        let ratio = |name: &str, goal: f64, label: &str| {
            let r = self.ratio(name);
            Verdict {
                target: format!("status throughput ≥ {label} {name} ({c} connections)"),
                measured: r.map_or("not measured".into(), |r| format!("{r:.2}×")),
                met: r.map(|r| r >= goal),
            }
        };
        v.push(ratio("Prism", 20.0, "20×"));
        v.push(ratio("WireMock", 3.0, "3×"));
        v.push(ratio("bare hyper", 0.7, "0.7×"));
        for (name, s) in [("status GET", &self.status), ("job creation", &self.create)] {
            let p99 = s.as_ref().and_then(|s| s.at(100)).map(|s| s.quantile_ms(0.99));
            v.push(Verdict {
                target: format!("{name} p99 < 2 ms at 100 connections"),
                measured: p99.map_or("not measured".into(), |p| format!("{p:.2} ms")),
                met: p99.map(|p| p < 2.0),
            });
        }
        let big = self.fanouts.iter().max_by_key(|f| f.subscribers);
        v.push(Verdict {
            target: "10,000 SSE subscribers: terminal event p99 < 100 ms".into(),
            measured: big.map_or("not measured".into(), |f| {
                format!("{:.1} ms with {} subscribers", f.p99_ms, f.subscribers)
            }),
            met: big
                .filter(|f| f.subscribers >= 10_000)
                .map(|f| f.p99_ms < 100.0 && f.delivered == f.subscribers),
        });
        v.push(Verdict {
            target: "10,000 SSE subscribers: RSS < 250 MB".into(),
            measured: big.map_or("not measured".into(), |f| {
                format!("{:.1} MB", mb(f.rss_connected.max(f.rss_after)))
            }),
            met: big
                .filter(|f| f.subscribers >= 10_000)
                .map(|f| mb(f.rss_connected.max(f.rss_after)) < 250.0),
        });
        v.push(Verdict {
            target: "4K JPEG render ≤ 1.5× the bare encode".into(),
            measured: self
                .render
                .as_ref()
                .map_or("not measured".into(), |r| format!("{:.2}× at {}²", r.ratio(), r.side)),
            met: self
                .render
                .as_ref()
                .filter(|r| r.side >= 4096)
                .map(|r| r.ratio() <= 1.5),
        });
        let fp = self.footprint.as_ref();
        v.push(Verdict {
            target: "start-up to the first 200 < 50 ms".into(),
            measured: fp.map_or("not measured".into(), |f| {
                format!("{:.1} ms (median)", f.startup_median().as_secs_f64() * 1000.0)
            }),
            met: fp.map(|f| f.startup_median().as_millis() < 50),
        });
        v.push(Verdict {
            target: "idle RSS < 20 MB".into(),
            measured: fp.map_or("not measured".into(), |f| format!("{:.1} MB", mb(f.idle_rss))),
            met: fp.map(|f| mb(f.idle_rss) < 20.0),
        });
        v.push(Verdict {
            target: "memory bounded by TTL eviction".into(),
            measured: fp.map_or("not measured".into(), |f| {
                format!(
                    "{:.1} MB with {n} jobs → {:.1} MB after eviction (held {}) → {:.1} MB with {n} new jobs",
                    mb(f.rss_full),
                    mb(f.rss_evicted),
                    f.held_evicted,
                    mb(f.rss_refilled),
                    n = f.jobs,
                )
            }),
            // Bounded: everything expired is gone, and a second round of
            // jobs fits in the memory the first one left (within 10 %).
            met: fp.map(|f| {
                f.held_evicted.as_object().is_some_and(|h| h.values().all(|v| v == 0))
                    && f.rss_refilled as f64 <= f.rss_full as f64 * 1.1
            }),
        });
        v
    }

    /// The report.
    pub fn markdown(&self, notes: &str) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(o, "# flat2model-mock benchmark\n");
        let _ = writeln!(
            o,
            "{}\n",
            if self.smoke {
                "Written by the smoke run in `make test`, with tiny sizes: it shows the bench works, not how fast the fake is."
            } else {
                "Written by `make bench` (`bench/`); every figure below is from this one run."
            }
        );
        if !self.smoke {
            // make soak writes its own file, which this run leaves alone.
            let _ = writeln!(o, "{SOAK_LINK}\n");
        }
        let _ = writeln!(o, "## Machine\n");
        let _ = writeln!(o, "| | |\n| --- | --- |");
        for (k, v) in [
            ("date", m.date.clone()),
            ("commit", m.commit.clone()),
            ("CPU", m.cpu.clone()),
            ("cores", m.cores.to_string()),
            ("memory", format!("{:.1} GiB", m.memory_gib)),
            ("kernel", m.kernel.clone()),
            ("rustc", m.rustc.clone()),
            ("node", m.node.clone()),
            ("java", m.java.clone()),
        ] {
            let _ = writeln!(o, "| {k} | {v} |");
        }
        let _ = writeln!(
            o,
            "\nThe load generator (`bench/src/load.rs`, hyper, closed loop, keep-alive) runs on the \
             same machine as the server under test, with 2 threads: both share the cores, as with `wrk -t2`. \
             Each load run is {:.0} s after a warm-up.\n",
            self.load.0
        );
        let _ = writeln!(o, "## Targets\n\n| target | measured | met |\n| --- | --- | --- |");
        for v in self.verdicts() {
            let met = match v.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            };
            let _ = writeln!(o, "| {} | {} | {met} |", v.target, v.measured);
        }
        for f in self.failures.iter().chain(&self.peer_errors) {
            let _ = writeln!(o, "\n- not measured: {f}");
        }
        if self.peers_skipped {
            let _ = writeln!(
                o,
                "\n- not run: Prism and WireMock (`--skip-peers`; `make bench` runs them)"
            );
        }
        self.throughput_tables(&mut o);
        self.other_tables(&mut o);
        let _ = writeln!(o, "\n{}", notes.trim());
        o
    }

    fn throughput_tables(&self, o: &mut String) {
        let _ = writeln!(o, "\n## `GET /jobs/{{id}}/status`, side by side\n");
        let _ = writeln!(
            o,
            "| server | connections | req/s | p50 ms | p99 ms | errors | the fake ÷ this |\n| --- | --- | --- | --- | --- | --- | --- |"
        );
        let all: Vec<&Series> = self.status.iter().chain(self.peers.iter()).collect();
        for s in &all {
            for r in &s.runs {
                let ours = self.status.as_ref().and_then(|st| st.at(r.conns)).map(|x| x.rps());
                let ratio = ours
                    .filter(|_| r.rps() > 0.0)
                    .map_or("–".into(), |x| format!("{:.2}×", x / r.rps()));
                let _ = writeln!(
                    o,
                    "| {} | {} | {:.0} | {:.3} | {:.3} | {} | {ratio} |",
                    s.server,
                    r.conns,
                    r.rps(),
                    r.quantile_ms(0.5),
                    r.quantile_ms(0.99),
                    r.errors
                );
            }
        }
        if let Some(c) = &self.create {
            let _ = writeln!(
                o,
                "\n## `POST /flat-2-model` (job creation)\n\n{}\n\n| connections | jobs/s | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- |",
                c.request
            );
            for r in &c.runs {
                let _ = writeln!(
                    o,
                    "| {} | {:.0} | {:.3} | {:.3} | {} |",
                    r.conns,
                    r.rps(),
                    r.quantile_ms(0.5),
                    r.quantile_ms(0.99),
                    r.errors
                );
            }
        }
    }

    fn other_tables(&self, o: &mut String) {
        if !self.fanouts.is_empty() {
            let _ = writeln!(
                o,
                "\n## SSE fan-out\n\nN subscribers follow one job's `batch_edit` events on `GET /notifications/events`; \
                 after every one has its backfill, the job is completed with `POST /__admin/jobs/{{id}}/complete`. \
                 Latency runs from that call to each subscriber's terminal event. A fresh server per row. \
                 The CPU columns are user + system time (from `/proc`) spent in that same span by the fake and by the \
                 bench's subscribers: the two share the machine's cores.\n\n\
                 | subscribers | got it | connect + backfill s | p50 ms | p99 ms | max ms | fake CPU ms | subscribers' CPU ms | RSS connected MB | RSS after MB |\n\
                 | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
            );
            for f in &self.fanouts {
                let _ = writeln!(
                    o,
                    "| {} | {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {:.1} | {:.1} |",
                    f.subscribers,
                    f.delivered,
                    f.connect.as_secs_f64(),
                    f.p50_ms,
                    f.p99_ms,
                    f.max_ms,
                    f.server_cpu.as_secs_f64() * 1000.0,
                    f.client_cpu.as_secs_f64() * 1000.0,
                    mb(f.rss_connected),
                    mb(f.rss_after)
                );
            }
        }
        if let Some(j) = &self.jobs {
            let _ = writeln!(
                o,
                "\n## Job throughput\n\n{} jobs of {} outputs at 1K (1024×1024 JPEG), `--time-scale 0`, 8 clients. \
                 Server CPU is user + system time from `/proc`.\n\n| phase | wall s | server CPU s | per job |\n| --- | --- | --- | --- |",
                j.jobs, j.outputs
            );
            for (name, (wall, cpu)) in [
                ("create, then poll until completed", j.lifecycle),
                ("fetch every output (renders it)", j.render),
            ] {
                let _ = writeln!(
                    o,
                    "| {name} | {:.2} | {:.2} | {:.2} ms wall |",
                    wall.as_secs_f64(),
                    cpu.as_secs_f64(),
                    wall.as_secs_f64() * 1000.0 / j.jobs as f64
                );
            }
            let _ = writeln!(o, "\n{:.1} MB of images fetched.", mb(j.bytes as u64));
        }
        if let Some(r) = &self.render {
            let _ = writeln!(
                o,
                "\n## Render\n\nOne {s}×{s} JPEG output (composition, 256 px thumbnail, both encoded), against the image crate's \
                 bare JPEG encode of the same pixels at the same quality; best of {n}, in one process.\n\n\
                 | | ms |\n| --- | --- |\n| render | {:.1} |\n| bare encode | {:.1} |\n| ratio | {:.2}× |\n| output size | {:.2} MB |",
                r.render.as_secs_f64() * 1000.0,
                r.bare.as_secs_f64() * 1000.0,
                r.ratio(),
                mb(r.bytes as u64),
                s = r.side,
                n = r.runs
            );
        }
        if let Some(f) = &self.footprint {
            let startups: Vec<String> = f
                .startups
                .iter()
                .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
                .collect();
            let _ = writeln!(
                o,
                "\n## Start-up and memory\n\n| | |\n| --- | --- |\n\
                 | start-up to the first 200 (spawn → `GET /__admin/health`) | {} ms (runs: {}) |\n\
                 | idle RSS | {:.1} MB |\n| RSS with {} jobs of 4 outputs held (not rendered) | {:.1} MB |\n\
                 | held then | `{}` |\n| RSS after the clock passes `--job-ttl` and they are evicted | {:.1} MB |\n| held then | `{}` |\n\
                 | RSS with {} new jobs held after that | {:.1} MB |",
                startups.get(startups.len() / 2).cloned().unwrap_or_default(),
                startups.join(", "),
                mb(f.idle_rss),
                f.jobs,
                mb(f.rss_full),
                f.held_full,
                mb(f.rss_evicted),
                f.held_evicted,
                f.jobs,
                mb(f.rss_refilled)
            );
        }
    }
}
