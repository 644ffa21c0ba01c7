//! What a request's scenario needs at its endpoints: the scenario a
//! handler runs under, and the call counters of endpoint faults (429/5xx on
//! the Nth call or with a seeded probability). Call numbers are counted per
//! caller (bearer token), scenario and fault, so concurrent clients each see
//! exactly their plan. The middleware that applies them is
//! [`crate::http::middleware::scenarios`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use sha2::{Digest, Sha256};

use crate::domain::secret::SecretDigest;
use crate::scenarios::{EndpointFault, Scenario};

/// The scenario a request runs under, for handlers to read; also on its
/// response, for the request's log line ([`crate::http::middleware::journal`]).
#[derive(Debug, Clone, Default)]
pub struct ActiveScenario(pub Option<Arc<Scenario>>);

/// Most (caller, scenario, fault) counters kept.
pub const MAX_COUNTERS: usize = 100_000;

/// Call counters: (caller, scenario, fault index) → calls so far. The
/// caller is a token: kept as its digest, compared in constant time.
#[derive(Debug, Default)]
pub struct CallCounters(DashMap<(SecretDigest, String, usize), AtomicU64>);

impl CallCounters {
    /// Counts a call; returns its number (from 1).
    pub(crate) fn next(&self, caller: &str, scenario: &str, fault: usize) -> u64 {
        // Callers are counted before authentication, so made-up tokens could
        // grow the map without end: past the cap, counting starts over.
        if self.0.len() >= MAX_COUNTERS {
            self.0.clear();
        }
        let key = (SecretDigest::of(caller), scenario.to_owned(), fault);
        self.0.entry(key).or_default().fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Forgets the counts of the callers `digests` (a reset of their tenants).
    pub fn forget(&self, digests: &std::collections::HashSet<SecretDigest>) {
        self.0.retain(|(d, _, _), _| !digests.contains(d));
    }

    /// Forgets every count.
    pub fn clear(&self) {
        self.0.clear();
    }
}

/// Whether call `n` of `caller` is hit by fault `idx`: in `calls` (or every
/// call), and below the seeded probability. A pure function of its inputs.
pub fn is_hit(f: &EndpointFault, seed: u64, caller: &str, scenario: &str, idx: usize, n: u64) -> bool {
    if !f.calls.is_empty() && !f.calls.contains(&n) {
        return false;
    }
    let Some(p) = f.probability else { return true };
    let d = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(caller.as_bytes())
        .chain_update(scenario.as_bytes())
        .chain_update((idx as u64).to_le_bytes())
        .chain_update(n.to_le_bytes())
        .finalize();
    let x = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    (x as f64 / u64::MAX as f64) < p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(calls: Vec<u64>, probability: Option<f64>) -> EndpointFault {
        EndpointFault {
            method: "GET".into(),
            path: "/x".into(),
            calls,
            probability,
            status: Some(503),
            retry_after: None,
            delay_ms: None,
        }
    }

    #[test]
    fn nth_calls_and_seeded_probability_are_pure() {
        let f = fault(vec![2, 3], None);
        let hits: Vec<bool> = (1..=4).map(|n| is_hit(&f, 0, "t", "s", 0, n)).collect();
        assert_eq!(hits, [false, true, true, false]);
        let f = fault(vec![], Some(0.3));
        let a: Vec<bool> = (1..=1000).map(|n| is_hit(&f, 7, "t", "s", 0, n)).collect();
        let b: Vec<bool> = (1..=1000).map(|n| is_hit(&f, 7, "t", "s", 0, n)).collect();
        assert_eq!(a, b, "the same seed and calls give the same hits");
        let share = a.iter().filter(|h| **h).count();
        assert!((200..400).contains(&share), "about 30 %: {share}");
        let other: Vec<bool> = (1..=1000).map(|n| is_hit(&f, 8, "t", "s", 0, n)).collect();
        assert_ne!(a, other);
    }
}
