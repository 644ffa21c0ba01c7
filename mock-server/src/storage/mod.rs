//! Tenants and what they own, tokens, blobs, pre-signed URL signing, and
//! the sweep that evicts what outlived its time-to-live.
//! Everything is held in memory in sharded maps, so a read on the hot path
//! takes no global lock; with `--data-dir` every change is also kept in an
//! embedded database ([`persist`]).

pub mod eviction;
pub mod fixtures;
pub mod persist;
pub mod presign;
pub mod records;
pub mod store;
pub mod tokens;
