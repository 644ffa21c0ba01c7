//! The one source of time. Every expiry (tokens, pre-signed URLs, jobs,
//! webhook retries) reads the injected [`Clock`], so tests and QA move time
//! instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 9999-12-31T23:59:59Z: the last time RFC 3339 can write (times are
/// clamped to 1970 … 9999 when written).
pub const MAX_RFC3339_SECS: i64 = 253_402_300_799;

/// Milliseconds since the Unix epoch, as read from a [`Clock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(i64);

impl Instant {
    /// The instant `ms` milliseconds after the Unix epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Seconds since the Unix epoch, with the milliseconds as a fraction.
    pub fn seconds_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant moved forward by `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// RFC 3339 in UTC with whole seconds, the form the vendor uses
    /// (`2024-12-17T10:00:00Z`).
    pub fn rfc3339(self) -> String {
        let secs = self.0.div_euclid(1000).clamp(0, MAX_RFC3339_SECS) as u64;
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    }

    /// RFC 3339 with milliseconds, for the control API.
    pub fn rfc3339_millis(self) -> String {
        let ms = self.0.clamp(0, MAX_RFC3339_SECS * 1000) as u64;
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
    }

    /// Parses an RFC 3339 timestamp (`2026-01-01T00:00:00Z`).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t = humantime::parse_rfc3339_weak(s).ok()?;
        let ms = t.duration_since(UNIX_EPOCH).ok()?.as_millis();
        Some(Self(i64::try_from(ms).ok()?))
    }
}

impl serde::Serialize for Instant {
    /// As RFC 3339 with milliseconds (the control API's internal views).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339_millis())
    }
}

/// A source of the current time that tests and the control API can move.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Instant;
    /// Jumps to `t` (later reads continue from there).
    fn set(&self, t: Instant);
    /// Moves time forward by `d`.
    fn advance(&self, d: Duration);
    /// Whether time stands still between calls (`manual`) or runs (`system`).
    fn is_frozen(&self) -> bool;
}

/// Wall-clock time plus an offset that the control API can change, so QA can
/// jump a running fake forward (for example past an upload URL's expiry).
#[derive(Debug, Default)]
pub struct SystemClock {
    offset_ms: AtomicI64,
}

impl SystemClock {
    fn wall() -> i64 {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        i64::try_from(ms).unwrap_or(i64::MAX)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant(Self::wall().saturating_add(self.offset_ms.load(Ordering::Relaxed)))
    }
    fn set(&self, t: Instant) {
        self.offset_ms
            .store(t.0.saturating_sub(Self::wall()), Ordering::Relaxed);
    }
    fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
    fn is_frozen(&self) -> bool {
        false
    }
}

/// Time that moves only when told to: tests and deterministic runs.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A frozen clock reading `start`.
    pub fn new(start: Instant) -> Self {
        Self {
            now_ms: AtomicI64::new(start.0),
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant(self.now_ms.load(Ordering::Relaxed))
    }
    fn set(&self, t: Instant) {
        self.now_ms.store(t.0, Ordering::Relaxed);
    }
    fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.fetch_add(ms, Ordering::Relaxed);
    }
    fn is_frozen(&self) -> bool {
        true
    }
}

/// Parses a human duration for the control API and flags: `90s`, `15m`,
/// `1h 30m`, `2days`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Instant::from_millis(1_000));
        assert_eq!(c.now().millis(), 1_000);
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now().millis(), 91_000);
        c.set(Instant::from_millis(5));
        assert_eq!(c.now().millis(), 5);
    }

    #[test]
    fn rfc3339_round_trips_whole_seconds() {
        let t = Instant::parse_rfc3339("2024-12-17T10:00:00Z").expect("valid");
        assert_eq!(t.rfc3339(), "2024-12-17T10:00:00Z");
        assert_eq!(t.unix_seconds(), 1_734_429_600);
    }

    #[test]
    fn system_clock_offset_moves_forward() {
        let c = SystemClock::default();
        let before = c.now();
        c.advance(Duration::from_secs(3600));
        assert!(c.now().millis() - before.millis() >= 3_600_000);
    }

    #[test]
    fn durations_parse_in_human_and_second_forms() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h 30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("soon"), None);
    }
}
