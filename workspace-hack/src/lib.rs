//! No code: this crate exists for its `Cargo.toml`, the features the
//! workspace's build switches on, so that `cargo rustc -p mock-server` (the
//! container's static link) reuses the dependencies `make test` built. Its
//! reason and its check: `Cargo.toml` and `tests/features.rs`.
