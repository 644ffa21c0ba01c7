//! A job's schedule as a picture: each event a dot on a time axis from the
//! job's creation to its last event (filled once applied), a dashed line at
//! the fake's now. The numbers only; `job.html` draws them as inline SVG.

use serde::Serialize;
use serde_json::Value;

use crate::clock::Instant;

/// The drawing's width and the axis' ends, in SVG units.
const WIDTH: f64 = 960.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 900.0;
/// Labels alternate over this many rows, so that close events stay legible.
const ROWS: usize = 3;

#[derive(Debug, Serialize)]
pub(super) struct Timeline {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    /// Where now falls, when it falls on the axis.
    now_x: Option<f64>,
    events: Vec<Dot>,
}

#[derive(Debug, Serialize)]
struct Dot {
    x: f64,
    row: usize,
    label: String,
    color: &'static str,
    applied: bool,
    at: String,
    /// Seconds after the job's creation, as `+1.5s`.
    offset: String,
}

/// What an event is called on the page: its name, the output it concerns,
/// how an output ended.
fn label(event: &Value) -> String {
    let name = event["event"].as_str().unwrap_or("event").replace('_', " ");
    // An outcome is `{"result": "completed" | "failed", …}`.
    let outcome = event["outcome"]["result"].as_str().map(|r| format!(" ({r})"));
    match event["output"].as_u64() {
        Some(k) => format!("{name} #{k}{}", outcome.unwrap_or_default()),
        None => name,
    }
}

/// `job` as `GET /__admin/jobs/{id}` answers it, drawn at `now`.
pub(super) fn draw(job: &Value, now: Instant) -> Timeline {
    let time = |v: &Value| v.as_str().and_then(Instant::parse_rfc3339);
    let events: Vec<&Value> = job["schedule"]["events"].as_array().into_iter().flatten().collect();
    let applied = job["state"]["applied"].as_u64().unwrap_or(0);
    let start = time(&job["created_at"]).unwrap_or(now);
    let end = events.iter().filter_map(|e| time(&e["at"])).max().unwrap_or(start);
    let span = (end.millis() - start.millis()).max(1) as f64;
    let x = |t: Instant| LEFT + (t.millis() - start.millis()) as f64 / span * (RIGHT - LEFT);
    let dots = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let at = time(&e["at"]).unwrap_or(start);
            let label = label(&e["event"]);
            let bad = label.contains("fail") || label.contains("abort");
            Dot {
                x: x(at).round(),
                row: i % ROWS,
                color: if bad { "#cf222e" } else { "#2da44e" },
                applied: (i as u64) < applied,
                at: at.rfc3339_millis(),
                offset: format!("+{:.1}s", (at.millis() - start.millis()) as f64 / 1000.0),
                label,
            }
        })
        .collect();
    let now_x = (now >= start && now <= end).then(|| x(now).round());
    Timeline {
        width: WIDTH,
        height: 60.0 + 14.0 * ROWS as f64,
        left: LEFT,
        right: RIGHT,
        now_x,
        events: dots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_fall_in_time_order_on_the_axis_and_the_applied_ones_are_marked() {
        let job = json!({
            "created_at": "2026-01-01T00:00:00.000Z",
            "state": { "applied": 1 },
            "schedule": { "events": [
                { "at": "2026-01-01T00:00:00.000Z", "event": { "event": "created" } },
                { "at": "2026-01-01T00:00:05.000Z", "event": { "event": "output_finished", "output": 0,
                    "outcome": { "result": "completed", "model": "seedream", "fell_back": true } } },
                { "at": "2026-01-01T00:00:10.000Z", "event": { "event": "job_failed", "message": "x" } },
            ]},
        });
        let now = Instant::parse_rfc3339("2026-01-01T00:00:05Z").expect("a time");
        let t = draw(&job, now);
        let xs: Vec<f64> = t.events.iter().map(|d| d.x).collect();
        assert_eq!(xs, [LEFT, (LEFT + RIGHT) / 2.0, RIGHT]);
        assert_eq!(t.now_x, Some((LEFT + RIGHT) / 2.0));
        assert_eq!(
            t.events.iter().map(|d| d.applied).collect::<Vec<_>>(),
            [true, false, false]
        );
        assert_eq!(t.events[1].label, "output finished #0 (completed)");
        assert_eq!(t.events[2].color, "#cf222e");
        assert_eq!(t.events[2].offset, "+10.0s");
    }
}
