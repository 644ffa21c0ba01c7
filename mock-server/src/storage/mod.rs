//! Tenants and what they own, tokens, blobs and pre-signed URL signing.
//! Everything is held in memory in sharded maps, so a read on the hot path
//! takes no global lock; with `--data-dir` every change is also kept in an
//! embedded database ([`crate::persist`], above the state it reads).

pub mod activity;
pub mod fixtures;
pub mod presign;
pub mod records;
pub mod store;
pub mod tokens;
