//! Embeds every file of `schemas/` into the binary, so the contract the fake
//! serves and the one its tests check are the committed files, byte for byte.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("../schemas");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("schemas/ exists beside contract/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") || n.ends_with(".yaml"))
        .collect();
    names.sort();
    let mut out = String::from(
        "/// Every file of `schemas/`: (file name, contents).\npub static SCHEMA_FILES: &[(&str, &str)] = &[\n",
    );
    for name in names {
        let path = dir.join(&name).canonicalize().expect("listed file exists");
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display().to_string()).expect("write to String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("schemas.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
