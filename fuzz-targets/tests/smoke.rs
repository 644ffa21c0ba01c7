//! The fuzz smoke of `make test`: every target on its committed seeds and
//! `FUZZ_SMOKE_RUNS` (5,000) mutations of them from a fixed seed. A finding
//! names the input and writes it to `target/fuzz-smoke/TARGET-N`, ready to
//! replay with `cargo fuzz run -s none TARGET FILE` and to become a seed.

use std::panic::{AssertUnwindSafe, catch_unwind};

use fuzz_targets::smoke::{Mutator, dict, seeds};

fn runs() -> usize {
    std::env::var("FUZZ_SMOKE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

fn smoke(name: &str) {
    let run = fuzz_targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, run)| *run)
        .expect("a target");
    let seeds = seeds(name).expect("seeds");
    let mut mutator = Mutator::new(seeds.clone(), dict(name).expect("dictionary"), 1);
    let inputs = seeds.into_iter().chain((0..runs()).map(|_| mutator.next_input()));
    for (n, input) in inputs.enumerate() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(&input))) {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-smoke");
            let file = dir.join(format!("{name}-{n}"));
            let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, &input));
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!(
                "{name}, input {n} ({saved:?} to {}): {what}\n{}",
                file.display(),
                String::from_utf8_lossy(&input).escape_debug()
            );
        }
    }
}

#[test]
fn job_request() {
    smoke("job_request");
}

#[test]
fn identity_upload() {
    smoke("identity_upload");
}

#[test]
fn image_probe() {
    smoke("image_probe");
}

#[test]
fn presigned_query() {
    smoke("presigned_query");
}

#[test]
fn scenario() {
    smoke("scenario");
}
