//! The layering of `mock-server/src`, checked: every file sits in a layer
//! (by the longest prefix of its module path in [`LAYERS`]), and may name
//! through `crate::…` only modules of its own layer or below. The table is
//! the one `lib.rs`'s `# Layout` map describes; a new module must be given
//! a place here before it can be used.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom to top. A module path (`deliver/client`) belongs to the layer of
/// its longest prefix listed here.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "clock",
            "redact",
            "remove_where",
            "public_base",
            "blob_bytes",
            "render",
            "contract",
        ],
    ),
    ("domain", &["domain"]),
    ("errors", &["error"]),
    ("model", &["engine", "events", "scenarios", "storage"]),
    (
        "what the state holds",
        &[
            "config",
            "links",
            "views",
            "durable",
            "journal",
            "deliver/client",
            "eviction/timer",
            "shutdown",
        ],
    ),
    ("state", &["state"]),
    (
        "services",
        &[
            "jobs",
            "publish",
            "deliver",
            "eviction",
            "tenancy",
            "identities",
            "any_token",
            "admission",
            "persist",
            "wire",
            "shutdown/drain",
            "drain",
        ],
    ),
    ("http", &["http"]),
    ("handlers", &["api", "admin"]),
    ("app", &["app"]),
];

/// The layer of module path `path` (segments joined by `/`), if any.
fn layer_of(path: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, prefixes))| prefixes.iter().map(move |p| (i, *p)))
        .filter(|(_, p)| path == *p || path.starts_with(&format!("{p}/")))
        .max_by_key(|(_, p)| p.len())
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = entry.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file (`deliver/client.rs` and `deliver/client/mod.rs`
/// are `deliver/client`).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).expect("under src").with_extension("");
    let rel = rel.to_string_lossy().replace('\\', "/");
    rel.strip_suffix("/mod").unwrap_or(&rel).to_owned()
}

/// The `crate::a::b::…` paths of `code` (comments left out), as `a/b/…`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at + "crate::".len()..];
            let path: String = tail
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(path.trim_end_matches(':').replace("::", "/"));
            rest = &tail[path.len()..];
        }
    }
    out
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut upward = BTreeSet::new();
    let mut unplaced = BTreeSet::new();
    for file in &all {
        let module = module_of(file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some((from, _)) = layer_of(&module) else {
            unplaced.insert(module);
            continue;
        };
        let code = std::fs::read_to_string(file).expect("read");
        for target in crate_paths(&code) {
            match layer_of(&target) {
                Some((to, prefix)) if to > from => {
                    upward.insert(format!("{module} ({}) -> {prefix} ({})", LAYERS[from].0, LAYERS[to].0));
                }
                Some(_) => {}
                None => {
                    unplaced.insert(target.split('/').next().unwrap_or("").to_owned());
                }
            }
        }
    }
    assert!(
        all.len() > 50,
        "found only {} files under {}",
        all.len(),
        src().display()
    );
    assert!(unplaced.is_empty(), "modules with no layer in LAYERS: {unplaced:?}");
    assert!(upward.is_empty(), "imports from a lower layer to a higher one:\n{}", {
        let v: Vec<_> = upward.into_iter().collect();
        v.join("\n")
    });
}

#[test]
fn the_layer_check_sees_an_upward_import() {
    let code = "use crate::state::AppState; // crate::app in a comment\nfn f() { crate::deliver::client::client(); }";
    assert_eq!(crate_paths(code), ["state/AppState", "deliver/client/client"]);
    let (state, _) = layer_of("state/AppState").expect("placed");
    let (client, prefix) = layer_of("deliver/client/client").expect("placed");
    assert_eq!(prefix, "deliver/client");
    assert!(client < state, "a collaborator type sits below the state");
    let (deliver, _) = layer_of("deliver").expect("placed");
    assert!(deliver > state, "the sender, which takes the state, above it");
    assert!(layer_of("domain/job_request").expect("placed").0 < layer_of("storage").expect("placed").0);
    // What tests may ask of the state is the state's own, not a service.
    assert_eq!(layer_of("state/inspect"), Some((state, "state")));
}

/// The engine and storage share a layer, so the check above lets one name
/// the other; the entities a job refers to (account, project, identity)
/// are the domain's, so the engine needs nothing of storage.
#[test]
fn the_engine_takes_its_entities_from_the_domain_not_from_storage() {
    let mut engine = Vec::new();
    files(&src().join("engine"), &mut engine);
    assert!(!engine.is_empty());
    let from_storage: Vec<String> = engine
        .iter()
        .flat_map(|f| {
            let code = std::fs::read_to_string(f).expect("read");
            crate_paths(&code)
                .into_iter()
                .filter(|p| p.starts_with("storage"))
                .map(|p| format!("{} -> {p}", module_of(f)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(from_storage.is_empty(), "{from_storage:?}");
    for entity in ["domain/account", "domain/project", "domain/identity"] {
        assert_eq!(layer_of(entity).map(|(_, p)| p), Some("domain"), "{entity}");
    }
}
