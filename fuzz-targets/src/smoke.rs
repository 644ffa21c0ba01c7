//! The smoke's inputs: a target's committed seeds (`fuzz/seeds/TARGET/`),
//! then mutations of them made the way libFuzzer makes its own (bytes
//! flipped, erased, inserted or copied; numbers changed; two inputs spliced;
//! words of the target's dictionary, `fuzz/dict/TARGET.dict`, inserted),
//! from a fixed random seed, so that a failing input is the same on every
//! run. Coverage-guided search stays with `make fuzz`; this keeps every
//! target and property running on each `make test`.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A mutant is never longer than this, nor than twice the longest seed.
const MAX_LEN: usize = 1 << 16;
/// At most this many mutations are stacked on one input.
const MAX_STACK: usize = 4;
/// Mutants kept to be mutated again, so that some go deeper than one step.
const POOL: usize = 64;

/// `fuzz/` of this checkout.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The committed seeds of `target`, in name order.
pub fn seeds(target: &str) -> std::io::Result<Vec<Vec<u8>>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fuzz_dir().join("seeds").join(target))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    paths.iter().map(std::fs::read).collect()
}

/// The words of a libFuzzer dictionary: one `"word"` (optionally `name="word"`)
/// per line, `#` comments, with `\\`, `\"` and `\xNN` escapes.
pub fn parse_dict(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut words = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let quoted = line
            .find('"')
            .map(|i| &line[i..])
            .filter(|q| q.len() >= 2 && q.ends_with('"'))
            .ok_or_else(|| format!("line {}: not a quoted word", n + 1))?;
        words.push(unescape(&quoted[1..quoted.len() - 1]).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    Ok(words)
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'x') => {
                let hex = [bytes.next(), bytes.next()];
                let [Some(h), Some(l)] = hex else {
                    return Err("a short \\x escape".into());
                };
                let digits = std::str::from_utf8(&[h, l]).map_err(|e| e.to_string())?.to_owned();
                out.push(u8::from_str_radix(&digits, 16).map_err(|_| format!("\\x{digits}"))?);
            }
            Some(c @ (b'\\' | b'"')) => out.push(c),
            other => return Err(format!("an unknown escape {other:?}")),
        }
    }
    Ok(out)
}

/// The dictionary of `target`, or no words when it has none.
pub fn dict(target: &str) -> Result<Vec<Vec<u8>>, String> {
    match std::fs::read_to_string(fuzz_dir().join("dict").join(format!("{target}.dict"))) {
        Ok(text) => parse_dict(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// Makes mutants of a set of seeds.
#[derive(Debug)]
pub struct Mutator {
    rng: ChaCha8Rng,
    seeds: Vec<Vec<u8>>,
    words: Vec<Vec<u8>>,
    pool: Vec<Vec<u8>>,
    max_len: usize,
}

impl Mutator {
    /// `seeds` must not be empty.
    pub fn new(seeds: Vec<Vec<u8>>, words: Vec<Vec<u8>>, seed: u64) -> Self {
        assert!(!seeds.is_empty(), "no seeds to mutate");
        let longest = seeds.iter().map(Vec::len).max().unwrap_or(0);
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            seeds,
            words,
            pool: Vec::new(),
            max_len: (2 * longest).clamp(64, MAX_LEN),
        }
    }

    /// The next mutant: one to `MAX_STACK` mutations of a seed or of an
    /// earlier mutant.
    pub fn next_input(&mut self) -> Vec<u8> {
        let mut data = if !self.pool.is_empty() && self.rng.random_bool(0.3) {
            self.pool[self.rng.random_range(0..self.pool.len())].clone()
        } else {
            self.seeds[self.rng.random_range(0..self.seeds.len())].clone()
        };
        for _ in 0..self.rng.random_range(1..=MAX_STACK) {
            self.mutate(&mut data);
        }
        data.truncate(self.max_len);
        if self.pool.len() < POOL {
            self.pool.push(data.clone());
        } else {
            let i = self.rng.random_range(0..POOL);
            self.pool[i].clone_from(&data);
        }
        data
    }

    fn pos(&mut self, data: &[u8]) -> usize {
        self.rng.random_range(0..=data.len())
    }

    fn mutate(&mut self, data: &mut Vec<u8>) {
        match self.rng.random_range(0..9) {
            // Flip one bit.
            0 if !data.is_empty() => {
                let i = self.rng.random_range(0..data.len());
                data[i] ^= 1 << self.rng.random_range(0..8);
            }
            // Replace a byte, often by one that is special to parsers.
            1 if !data.is_empty() => {
                let i = self.rng.random_range(0..data.len());
                const SPECIAL: &[u8] = b"\0\"\\{}[],:%&=?\r\n\xff\x7f-0";
                data[i] = if self.rng.random_bool(0.5) {
                    SPECIAL[self.rng.random_range(0..SPECIAL.len())]
                } else {
                    self.rng.random()
                };
            }
            // Erase a range.
            2 if !data.is_empty() => {
                let at = self.rng.random_range(0..data.len());
                let len = self.rng.random_range(1..=(data.len() - at).min(64));
                data.drain(at..at + len);
            }
            // Insert random bytes.
            3 => {
                let at = self.pos(data);
                let n = self.rng.random_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
                data.splice(at..at, bytes);
            }
            // Copy a range of the input elsewhere in it.
            4 if !data.is_empty() => {
                let from = self.rng.random_range(0..data.len());
                let len = self.rng.random_range(1..=(data.len() - from).min(128));
                let part = data[from..from + len].to_vec();
                let at = self.pos(data);
                data.splice(at..at, part);
            }
            // Change a number written in ASCII (any of them).
            5 => {
                let starts: Vec<usize> = (0..data.len())
                    .filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit()))
                    .collect();
                if !starts.is_empty() {
                    let start = starts[self.rng.random_range(0..starts.len())];
                    let end = data[start..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(data.len(), |n| start + n);
                    // Limits sit at small numbers (1–10 images, 1–4
                    // variations) and at the ends of the integer types.
                    let n: i64 = match self.rng.random_range(0..5) {
                        0 => 0,
                        1 => -1,
                        2 => i64::MAX,
                        3 => self.rng.random_range(0..16),
                        _ => self.rng.random_range(0..100_000),
                    };
                    data.splice(start..end, n.to_string().into_bytes());
                }
            }
            // Splice: this input's head, another seed's tail.
            6 => {
                let other = self.seeds[self.rng.random_range(0..self.seeds.len())].clone();
                let head = self.pos(data);
                let tail = self.rng.random_range(0..=other.len());
                data.truncate(head);
                data.extend_from_slice(&other[tail..]);
            }
            // Insert or overwrite with a word of the dictionary.
            7 | 8 if !self.words.is_empty() => {
                let word = self.words[self.rng.random_range(0..self.words.len())].clone();
                let at = self.pos(data);
                if self.rng.random_bool(0.5) {
                    data.splice(at..at, word);
                } else {
                    let end = (at + word.len()).min(data.len());
                    data.splice(at..end, word);
                }
            }
            // A guard failed (empty input or no words): truncate instead.
            _ => {
                let at = self.pos(data);
                data.truncate(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_format_is_read_with_its_escapes() {
        let words = parse_dict("# a comment\n\"a\\\"b\"\nkw=\"\\x00\\\\z\"\n\n").expect("parses");
        assert_eq!(words, vec![b"a\"b".to_vec(), b"\0\\z".to_vec()]);
        assert!(parse_dict("unquoted\n").is_err());
        assert!(parse_dict("\"\\q\"\n").is_err());
        assert!(parse_dict("\"\\x4\"\n").is_err());
    }

    #[test]
    fn mutants_repeat_for_a_seed_differ_from_the_seeds_and_stay_bounded() {
        let seeds = vec![b"{\"a\":[1,2,3]}".to_vec(), b"hello=1&x=2".to_vec()];
        let words = vec![b"\"images\"".to_vec()];
        let make = |seed| {
            let mut m = Mutator::new(seeds.clone(), words.clone(), seed);
            (0..200).map(|_| m.next_input()).collect::<Vec<_>>()
        };
        let a = make(1);
        assert_eq!(a, make(1), "the same seed makes the same inputs");
        assert_ne!(a, make(2));
        let fresh = a.iter().filter(|m| !seeds.contains(m)).count();
        assert!(fresh > 150, "only {fresh} of 200 mutants are new");
        assert!(a.iter().all(|m| m.len() <= 64));
        assert!(a.iter().any(|m| m.windows(8).any(|w| w == b"\"images\"")));
    }

    #[test]
    fn every_target_has_seeds_and_a_readable_dictionary() {
        for (name, _) in crate::TARGETS {
            assert!(!seeds(name).expect(name).is_empty(), "{name} has no seeds");
            dict(name).unwrap_or_else(|e| panic!("{name}.dict: {e}"));
        }
    }
}
