//! cargo-fuzz entry point of `fuzz_targets::scenario` (fuzz-targets/src/scenario.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::scenario::run(data));
