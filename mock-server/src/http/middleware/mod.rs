//! Every middleware of the server, one file each; `app.rs` layers them in
//! order. Each keeps its state in a collaborator of [`crate::state`] (the
//! journal, the scenarios' counters, the durable store) and holds only the
//! HTTP side here.

pub mod durable;
pub mod journal;
pub mod scenarios;
