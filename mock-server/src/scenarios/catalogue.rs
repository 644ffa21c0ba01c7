//! The loaded scenarios and which one is active for whom.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dashmap::DashMap;
use parking_lot::RwLock;

use crate::domain::secret::SecretDigest;
use crate::scenarios::Scenario;
use crate::storage::fixtures::FixtureSource;

/// The scenario catalogue of the fixtures: every embedded
/// `scenarios/NAME.json`, with the `--fixtures` folder's `scenarios/*.json`
/// added (a new name) or replacing the embedded one (the same name); sorted
/// by name. Read once at start: a reset restores this list.
pub fn load(src: &FixtureSource) -> Result<Vec<Scenario>, String> {
    let mut out = Vec::new();
    for name in src.json_names("scenarios")? {
        let rel = format!("scenarios/{name}.json");
        let Some((bytes, from)) = src.read(&rel)? else {
            continue;
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| format!("{from}: {e}"))?;
        let s = Scenario::parse(text).map_err(|e| format!("{from}: {e}"))?;
        if s.name != name {
            return Err(format!("{from}: name {:?} must equal the file name", s.name));
        }
        out.push(s);
    }
    Ok(out)
}

/// Every loaded scenario, the global choice and the per-token choices.
#[derive(Debug, Default)]
pub struct Catalogue {
    scenarios: RwLock<BTreeMap<String, Arc<Scenario>>>,
    global: RwLock<Option<String>>,
    /// By the token's digest (looked up in constant time): the scenario's
    /// name. The token itself is never kept: the control API lists callers
    /// by [`SecretDigest::caller_id`].
    by_token: DashMap<SecretDigest, String>,
    /// Whether a scenario is chosen globally or for any token: while not,
    /// a request without the header skips every lookup (no shared lock on
    /// the request path).
    chosen: AtomicBool,
}

impl Catalogue {
    /// Adds or replaces a scenario.
    pub fn insert(&self, s: Scenario) {
        self.scenarios.write().insert(s.name.clone(), Arc::new(s));
    }

    /// Removes a scenario (and every choice of it); `false` if unknown.
    pub fn remove(&self, name: &str) -> bool {
        let removed = self.scenarios.write().remove(name).is_some();
        if removed {
            self.by_token.retain(|_, v| v != name);
            let mut g = self.global.write();
            if g.as_deref() == Some(name) {
                *g = None;
            }
            drop(g);
            self.note_choices();
        }
        removed
    }

    /// Whether a scenario is chosen globally or for any token.
    pub fn any_chosen(&self) -> bool {
        self.chosen.load(Ordering::SeqCst)
    }

    /// Refreshes `chosen` after a choice changed.
    fn note_choices(&self) {
        let any = self.global.read().is_some() || !self.by_token.is_empty();
        self.chosen.store(any, Ordering::SeqCst);
    }

    /// Forgets every scenario and choice.
    pub fn clear(&self) {
        self.scenarios.write().clear();
        self.by_token.clear();
        *self.global.write() = None;
        self.note_choices();
    }

    /// A scenario by name.
    pub fn get(&self, name: &str) -> Option<Arc<Scenario>> {
        self.scenarios.read().get(name).cloned()
    }

    /// All scenarios, by name.
    pub fn all(&self) -> Vec<Arc<Scenario>> {
        self.scenarios.read().values().cloned().collect()
    }

    /// Sets (or with `None` clears) the global scenario.
    pub fn set_global(&self, name: Option<String>) {
        *self.global.write() = name;
        self.note_choices();
    }

    /// The global scenario's name.
    pub fn global(&self) -> Option<String> {
        self.global.read().clone()
    }

    /// Sets (or clears) the scenario of a token.
    pub fn set_for_token(&self, token: &str, name: Option<String>) {
        self.set_for_digest(SecretDigest::of(token), name);
    }

    /// Sets (or clears) the scenario of the token with digest `digest`: a
    /// tenant's choice, made for each of its tokens.
    pub fn set_for_digest(&self, digest: SecretDigest, name: Option<String>) {
        match name {
            Some(n) => {
                self.by_token.insert(digest, n);
            }
            None => {
                self.by_token.remove(&digest);
            }
        }
        self.note_choices();
    }

    /// The scenario chosen for the token with digest `digest`, if any.
    pub fn for_digest(&self, digest: &SecretDigest) -> Option<String> {
        self.by_token.get(digest).map(|e| e.value().clone())
    }

    /// The per-token choices: each token's digest and its scenario's name,
    /// ordered by [`SecretDigest::caller_id`].
    pub fn token_choices(&self) -> Vec<(SecretDigest, String)> {
        let mut v: Vec<_> = self.by_token.iter().map(|e| (*e.key(), e.value().clone())).collect();
        v.sort_by_cached_key(|(d, _)| d.caller_id());
        v
    }

    /// The scenario for a request: the header's, else the token's, else the
    /// global one. An unknown name in the header is an error.
    pub fn resolve(&self, header: Option<&str>, token: Option<&str>) -> Result<Option<Arc<Scenario>>, String> {
        if header.is_none() && !self.any_chosen() {
            return Ok(None);
        }
        if let Some(name) = header {
            return self
                .get(name)
                .map(Some)
                .ok_or_else(|| format!("unknown scenario {name:?}"));
        }
        let name = token
            .and_then(|t| self.by_token.get(&SecretDigest::of(t)).map(|e| e.value().clone()))
            .or_else(|| self.global());
        Ok(name.and_then(|n| self.get(&n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folders_scenarios_add_to_and_replace_the_embedded_catalogue_by_name() {
        let embedded = load(&FixtureSource::embedded()).expect("the shipped catalogue");
        assert!(embedded.len() >= 15, "{}", embedded.len());
        let dir = std::env::temp_dir().join(format!("f2m-catalogue-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("scenarios")).expect("dir");
        std::fs::write(dir.join("scenarios/mine.json"), r#"{"name":"mine"}"#).expect("write");
        std::fs::write(
            dir.join("scenarios/rate-limited.json"),
            r#"{"name":"rate-limited","description":"my own"}"#,
        )
        .expect("write");
        let src = FixtureSource::with_dir(&dir).expect("a folder");
        let loaded = load(&src).expect("loads");
        assert_eq!(loaded.len(), embedded.len() + 1);
        let mine = |n: &str| loaded.iter().find(|s| s.name == n).cloned();
        assert!(mine("mine").is_some());
        assert_eq!(mine("rate-limited").map(|s| s.description).as_deref(), Some("my own"));
        std::fs::write(dir.join("scenarios/misnamed.json"), r#"{"name":"other"}"#).expect("write");
        let err = load(&src).expect_err("a name unlike its file's");
        assert!(err.contains("misnamed.json"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_token_choice_keeps_no_token() {
        let c = Catalogue::default();
        c.insert(Scenario::parse(r#"{"name": "slow"}"#).expect("a scenario"));
        c.set_for_token("f2m_secret_token", Some("slow".into()));
        let shown = format!("{c:?}");
        assert!(!shown.contains("f2m_secret_token"), "{shown}");
        let choices = c.token_choices();
        assert_eq!(choices.len(), 1);
        assert!(choices[0].0.matches("f2m_secret_token"));
        assert_eq!(choices[0].1, "slow");
        let resolved = c.resolve(None, Some("f2m_secret_token")).expect("resolves");
        assert_eq!(resolved.map(|s| s.name.clone()).as_deref(), Some("slow"));
    }
}
