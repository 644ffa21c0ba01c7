//! cargo-fuzz entry point of `fuzz_targets::job_request` (fuzz-targets/src/job_request.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::job_request::run(data));
