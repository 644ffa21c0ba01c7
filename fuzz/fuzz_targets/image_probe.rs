//! cargo-fuzz entry point of `fuzz_targets::image_probe` (fuzz-targets/src/image_probe.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::image_probe::run(data));
