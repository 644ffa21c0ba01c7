//! The workspace-hack's feature list matches the workspace's build: every
//! crate in mock-server's own build (what the container's static link
//! compiles, `cargo rustc -p mock-server --bin mock-server`) has exactly the
//! features it has in `cargo build --workspace --all-targets` (what
//! `make test` built), so the link compiles mock-server and nothing else.
//!
//! Both sides come from `cargo tree`, which resolves features as a build of
//! the same packages would: `--workspace` with dev-dependencies (the tests'
//! build), `-p mock-server` without them (a binary's build). It reads only
//! Cargo.toml and Cargo.lock (about a second), compiles nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `cargo tree ARGS`, as "name vX.Y.Z" → its features ("a,b,c"). A package
/// that appears twice with different features (a build dependency and a
/// normal one) keeps every set, joined by " / ".
fn features(args: &[&str]) -> BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(cargo)
        .current_dir(&root)
        .args(["tree", "--locked", "--prefix", "none", "--format", "{p}|{f}"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).expect("utf-8").lines() {
        let line = line.trim_end_matches(" (*)");
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        // Path crates carry their folder: keep "name vX.Y.Z".
        let package = package.split(" (").next().unwrap_or(package).to_owned();
        let sets = map.entry(package).or_default();
        if !sets.iter().any(|s| s == features) {
            sets.push(features.to_owned());
        }
    }
    map.into_iter()
        .map(|(p, mut sets)| {
            sets.sort();
            (p, sets.join(" / "))
        })
        .collect()
}

#[test]
fn mock_server_alone_has_the_workspace_builds_features() {
    let workspace = features(&["--workspace", "--edges", "normal,build,dev"]);
    let alone = features(&["--package", "mock-server", "--edges", "normal,build"]);
    assert!(
        alone.len() > 100 && alone.keys().any(|p| p.starts_with("mock-server v")),
        "cargo tree listed too little for mock-server: {alone:?}"
    );
    let drift: Vec<String> = alone
        .iter()
        .filter(|(package, features)| workspace.get(*package) != Some(*features))
        .map(|(package, features)| {
            format!(
                "{package}: mock-server alone [{features}], the workspace [{}]",
                workspace.get(package).map_or("absent", String::as_str)
            )
        })
        .collect();
    assert!(
        drift.is_empty(),
        "building mock-server alone would compile these crates with other features than \
         the workspace's build (and so every crate above them once more); give each the \
         workspace's features in workspace-hack/Cargo.toml:\n{}",
        drift.join("\n")
    );
}
