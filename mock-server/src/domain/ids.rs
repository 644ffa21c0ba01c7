//! Typed, prefixed IDs from one place. Values come from a keyed hash of the
//! `--seed` and a counter, so the same seed and the same requests give the
//! same IDs, tokens and URLs.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Generates the fake's IDs and secrets.
#[derive(Debug)]
pub struct IdGen {
    seed: u64,
    counter: AtomicU64,
    /// Bumped by every reset and mixed into secrets only: IDs repeat after a
    /// reset (a seeded run is repeatable), tokens and secrets never do.
    epoch: AtomicU64,
}

impl IdGen {
    /// A generator for `seed`, starting at its first value.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        }
    }

    /// Starts over, as after `POST /__admin/reset`.
    pub fn reset(&self) {
        self.counter.store(0, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// How many resets happened.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// How many values were handed out since the last reset, and the reset
    /// count: what `--data-dir` keeps so no ID is handed out twice.
    pub fn counters(&self) -> (u64, u64) {
        (self.counter.load(Ordering::SeqCst), self.epoch.load(Ordering::SeqCst))
    }

    /// Continues from kept [`IdGen::counters`] (a restart on `--data-dir`).
    pub fn restore(&self, counter: u64, epoch: u64) {
        self.counter.store(counter, Ordering::SeqCst);
        self.epoch.store(epoch, Ordering::SeqCst);
    }

    /// The next `len` hex characters (at most 64) for an ID of `kind`.
    pub fn next_hex(&self, kind: &str, len: usize) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(kind.as_bytes());
        h.update(n.to_le_bytes());
        let mut s = hex::encode(h.finalize());
        s.truncate(len.min(64));
        s
    }

    /// A fresh ID of type `T`.
    pub fn next<T: PrefixedId>(&self) -> T {
        T::from_raw(format!("{}{}", T::PREFIX, self.next_hex(T::PREFIX, T::HEX_LEN)))
    }

    /// A secret value (token, webhook secret) with `prefix`: 40 hex digits.
    pub fn secret(&self, prefix: &str) -> String {
        let kind = format!("{prefix}#{}", self.epoch());
        format!("{prefix}{}", self.next_hex(&kind, 40))
    }
}

/// An ID type with a fixed prefix.
pub trait PrefixedId: Sized {
    /// The prefix every value starts with (`job_`).
    const PREFIX: &'static str;
    /// How many hex digits follow the prefix.
    const HEX_LEN: usize;
    /// Wraps a generated value.
    fn from_raw(s: String) -> Self;
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $len:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The ID as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// Wraps a value a client sent, for lookups; an unknown value
            /// simply finds nothing.
            pub fn from_client(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl PrefixedId for $name {
            const PREFIX: &'static str = $prefix;
            const HEX_LEN: usize = $len;
            fn from_raw(s: String) -> Self {
                Self(s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An identity (the model): `id_…`.
    IdentityCode, "id_", 24
);
id_type!(
    /// A project: 24 hex digits, like the vendor's examples (`abc123…`).
    ProjectId, "", 24
);
id_type!(
    /// An uploaded file: `sku_…`.
    FileId, "sku_", 24
);
id_type!(
    /// A job: `job_…`.
    JobId, "job_", 24
);
id_type!(
    /// A tenant (one account): `acct_…`.
    TenantId, "acct_", 16
);
id_type!(
    /// A long-lived API token's listing id: `tok_…`.
    TokenId, "tok_", 16
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids_and_reset_starts_over() {
        let a = IdGen::new(7);
        let b = IdGen::new(7);
        let ids_a: Vec<JobId> = (0..3).map(|_| a.next()).collect();
        let ids_b: Vec<JobId> = (0..3).map(|_| b.next()).collect();
        assert_eq!(ids_a, ids_b);
        assert!(ids_a[0].as_str().starts_with("job_"));
        assert_eq!(ids_a[0].as_str().len(), 4 + 24);
        assert_ne!(ids_a[0], ids_a[1]);
        let secret = a.secret("at_");
        a.reset();
        assert_eq!(a.next::<JobId>(), ids_a[0]);
        a.reset();
        a.next::<JobId>();
        assert_ne!(a.secret("at_"), secret, "secrets never repeat across resets");
    }

    #[test]
    fn other_seed_other_ids() {
        assert_ne!(IdGen::new(1).next::<FileId>(), IdGen::new(2).next::<FileId>());
    }
}
