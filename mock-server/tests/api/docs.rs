//! The documentation checked against what it describes: the flags page
//! against `--help`, and every link of the README and `docs/` against the
//! files and headings it points at.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The long flags and environment variables `--help` shows.
fn help_flags() -> (BTreeSet<String>, BTreeSet<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    let mut flags = BTreeSet::new();
    let mut envs = BTreeSet::new();
    for line in help.lines() {
        let t = line.trim_start();
        // Option lines start with the flag: `-p, --port <PORT>` or `--seed <SEED>`.
        if let Some(flag) = t
            .split_whitespace()
            .map(|w| w.trim_end_matches(','))
            .find(|w| w.starts_with("--"))
            .filter(|_| t.starts_with('-'))
            && flag != "--help"
            && flag != "--version"
        {
            flags.insert(flag.to_owned());
        }
        if let Some(rest) = line.split("[env: ").nth(1) {
            let var: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            envs.insert(var);
        }
    }
    (flags, envs)
}

#[test]
fn the_flags_page_lists_every_flag_of_help_and_no_other() {
    let (flags, envs) = help_flags();
    assert!(flags.len() > 20, "read {} flags from --help", flags.len());
    let page = read(&repo().join("docs/flags.md"));
    let mut listed = BTreeSet::new();
    let mut listed_envs = BTreeSet::new();
    for row in page.lines().filter(|l| l.starts_with("| `--")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        listed.insert(cells[1].trim_matches('`').to_owned());
        listed_envs.insert(cells[2].trim_matches('`').to_owned());
    }
    assert_eq!(listed, flags, "docs/flags.md and --help disagree on the flags");
    assert_eq!(listed_envs, envs, "docs/flags.md and --help disagree on the variables");
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// `](target)` links of a Markdown text, outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        for part in line.split("](").skip(1) {
            if let Some(end) = part.find(')') {
                out.push(part[..end].to_owned());
            }
        }
    }
    out
}

#[test]
fn every_link_of_the_readme_and_docs_resolves() {
    let root = repo();
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 5, "docs/ has {} pages", docs.len());
    pages.extend(docs);
    let mut checked = 0;
    for page in &pages {
        let text = read(page);
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("a folder").join(file)
            };
            assert!(target.exists(), "{}: link {link} points at nothing", page.display());
            if !anchor.is_empty() {
                let headings = anchors(&read(&target));
                assert!(
                    headings.contains(anchor),
                    "{}: link {link}: no heading #{anchor} in {}",
                    page.display(),
                    target.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} links checked");
}

#[test]
fn the_readme_is_a_front_page() {
    let lines = read(&repo().join("README.md")).lines().count();
    assert!(lines <= 250, "README.md has {lines} lines: move subjects to docs/");
}
