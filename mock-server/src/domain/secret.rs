//! Secrets held as digests. A map keyed by the raw token compares the
//! caller's guess with stored tokens byte by byte and stops at the first
//! difference, so response times leak how much of a guess was right. Keyed
//! by the token's SHA-256 instead, the map compares digests, and those in
//! constant time: a guess's timing says nothing about any stored token.

use std::hash::{Hash, Hasher};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 of a secret (a bearer, refresh, download or admin token).
/// Equality is constant-time; `Debug` never shows it.
#[derive(Clone, Copy)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// The digest of `secret`.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// The digest as hex: how `--data-dir` stores a ZIP link, which keeps
    /// only the digest of its token, like memory does.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// How the control API names a caller without its token: the first 12
    /// hex digits of the token's SHA-256, as the request journal's `caller`
    /// and the scenario listing show it. Too short and too one-way to
    /// stand in for the token, enough to tell callers apart.
    pub fn caller_id(&self) -> String {
        hex::encode(&self.0[..6])
    }

    /// A digest from [`Self::to_hex`]'s text.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// Whether `candidate` is the secret this is the digest of, in time
    /// that depends on neither value.
    pub fn matches(&self, candidate: &str) -> bool {
        *self == Self::of(candidate)
    }
}

impl PartialEq for SecretDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretDigest {}

impl Hash for SecretDigest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly distributed: the map's hasher needs no more.
        self.0.hash(state);
    }
}

impl std::fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_secret_matches_and_any_other_does_not() {
        let d = SecretDigest::of("f2m_demo_token");
        assert!(d.matches("f2m_demo_token"));
        for wrong in ["f2m_demo_tokeN", "f2m_demo_toke", "f2m_demo_token ", "", "x"] {
            assert!(!d.matches(wrong), "{wrong:?}");
        }
        assert_eq!(d, SecretDigest::of("f2m_demo_token"));
        assert_ne!(d, SecretDigest::of("f2m_other_token"));
    }

    #[test]
    fn a_map_keyed_by_digests_finds_the_secret() {
        let map: std::collections::HashMap<SecretDigest, u8> =
            [(SecretDigest::of("a"), 1), (SecretDigest::of("b"), 2)].into();
        assert_eq!(map.get(&SecretDigest::of("b")), Some(&2));
        assert_eq!(map.get(&SecretDigest::of("c")), None);
    }

    #[test]
    fn hex_round_trips() {
        let d = SecretDigest::of("dl_x");
        assert_eq!(SecretDigest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(SecretDigest::from_hex("zz"), None);
    }

    #[test]
    fn a_caller_id_is_the_first_12_hex_digits_of_the_digest() {
        let d = SecretDigest::of("f2m_demo_token");
        assert_eq!(d.caller_id(), hex::encode(Sha256::digest(b"f2m_demo_token"))[..12]);
    }

    #[test]
    fn debug_never_shows_the_digest() {
        let d = SecretDigest::of("f2m_demo_token");
        let hex = hex::encode(Sha256::digest(b"f2m_demo_token"));
        let shown = format!("{d:?}");
        assert!(!shown.contains(&hex[..8]) && !shown.contains("f2m"), "{shown}");
    }
}
