//! flat2model-mock: an offline, faithful fake of the PiktID v2 "flat lay on
//! model" API. [`app`] builds the router that `main` serves and tests call.

pub mod admin;
pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod deliver;
/// The contract crate, re-exported: `schemas/` compiled in, and its validators.
pub use contract;
pub mod domain;
pub mod durable;
pub mod engine;
pub mod error;
pub mod events;
pub mod eviction;
pub mod http;
pub mod jobs;
pub mod journal;
pub mod persist;
pub mod publish;
pub mod redact;
pub mod render;
pub mod scenarios;
pub mod shutdown;
pub mod state;
pub mod storage;
pub mod views;
pub mod wire;

pub use app::{app, run, serve_on, serve_until};
pub use config::Config;
pub use state::AppState;
