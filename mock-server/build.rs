//! Embeds every file of `fixtures/` (accounts, gallery and its portraits,
//! sample images, the scenario catalogue) into the binary, so a copied or
//! installed `mock-server` starts anywhere with the same fixtures as the
//! repository (`--fixtures DIR` lays a folder over them).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("../fixtures");
    // A folder: cargo rebuilds when any file under it changes.
    println!("cargo::rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let mut out = String::from(
        "/// Every file of `fixtures/`: (path relative to it with `/`, contents).\n\
         pub static FIXTURE_FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in files {
        writeln!(out, "    ({rel:?}, include_bytes!({abs:?})),").expect("write to String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("fixtures.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// Collects the files under `dir` (hidden ones left out: editor swap files).
fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (mock-server embeds the repository's fixtures/: build it from a checkout)",
            dir.display()
        )
    });
    for entry in entries {
        let path = entry.expect("a readable folder entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files);
        } else {
            let rel = path.strip_prefix(root).expect("under the root");
            let rel: Vec<_> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let abs = path.canonicalize().expect("listed file exists");
            files.push((rel.join("/"), abs.display().to_string()));
        }
    }
}
