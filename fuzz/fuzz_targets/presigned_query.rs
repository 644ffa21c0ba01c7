//! cargo-fuzz entry point of `fuzz_targets::presigned_query` (fuzz-targets/src/presigned_query.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::presigned_query::run(data));
