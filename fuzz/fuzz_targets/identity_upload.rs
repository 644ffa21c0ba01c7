//! cargo-fuzz entry point of `fuzz_targets::identity_upload` (fuzz-targets/src/identity_upload.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::identity_upload::run(data));
