//! flat2model-mock: an offline, faithful fake of the PiktID v2 "flat lay on
//! model" API. [`app`] builds the router that `main` serves and tests call.
//!
//! # Layout
//!
//! Top to bottom; a module imports only its own layer and those below it,
//! which `tests/api/layers.rs` checks file by file against the same table.
//! A request flows down: [`http`] extracts it, [`api`] or [`admin`] parses
//! it into [`domain`] types, the services act, and [`views`] shape the
//! answer.
//!
//! - **Serving**: [`app`] builds the router (merging [`api`] and [`admin`],
//!   applying every layer in order) and serves it.
//! - **Handlers**: [`api`] (the vendor's endpoints, one file per resource)
//!   and [`admin`] (the control API under `/__admin`), siblings.
//! - **HTTP plumbing**: [`http`]: the route table, the extractors that own
//!   their rejections, CORS, the control API's guard, and every middleware
//!   (`http::middleware`: the journal, scenarios, durability).
//! - **Services**, which take the whole state: [`jobs`] (submitting,
//!   letting go of and catching jobs up to now: the one door to the
//!   engine), [`publish`] (notifications to the logs and the webhook book),
//!   [`deliver`] (sending webhooks), [`eviction`] (what outlived its TTL),
//!   [`drain`] (running the clock until nothing is pending), [`any_token`]
//!   (the tenants `--any-token` makes: kept, taken back, evicted),
//!   [`tenancy`] (one tenant's creation, settings and reset, for a shared
//!   fake), [`identities`] (an identity upload: made, kept unless a
//!   duplicate, announced), [`persist`] (the `--data-dir` store, behind [`durable`]'s
//!   adapter), [`wire`] (a new job held until its 202 is on the wire),
//!   [`admission`] (the connections it takes, near the open-file limit),
//!   and `shutdown::drain`.
//! - **State**: [`state`]: the settings (what the core reads of the flags,
//!   taken once from [`Config`]) and the collaborators, nothing more;
//!   the crate's own, except what `state::inspect` names for tests.
//! - **What the state holds**: [`config`], [`views`] (typed bodies: status,
//!   results, notifications), [`links`] (every link handed out, signed, and
//!   the path templates their routes serve), [`durable`] (the persistence
//!   adapter), [`journal`] (the request ring), [`shutdown`] (its flag and
//!   the webhook attempts on the wire), `deliver::client`,
//!   `eviction::timer`.
//! - **The model**: [`engine`] (the job state machine and its schedule),
//!   [`events`] (the notification log, the publisher, SSE, webhook signing
//!   and the delivery book), [`scenarios`] (scenario files, the catalogue,
//!   the call counters), [`storage`] (tenants and the maps that hold the
//!   domain's entities, uploaded files, tokens, fixtures, the URL signer). These four may name one another.
//! - **Errors**: [`error`], the API's error envelope.
//! - **The domain**: [`domain`] (parsed request types, IDs and rules,
//!   the account, project and identity entities, returning domain errors;
//!   no I/O, no HTTP).
//! - **The foundation**: [`clock`], [`redact`] (what of a request the log
//!   and the journal may show), [`remove_where`] (entries out of a shared
//!   map, keeping their keys), [`blob_bytes`] (uploaded bytes, in memory
//!   or read from the `--data-dir` store when asked for), [`public_base`] (the base of the URLs a
//!   request is handed, when they follow its `Host`), the [`render`] and
//!   [`contract`] crates.

pub mod admin;
pub mod admission;
pub mod any_token;
pub mod api;
pub mod app;
pub mod blob_bytes;
pub mod clock;
pub mod config;
pub mod deliver;
/// The contract crate, re-exported: `schemas/` compiled in, and its validators.
pub use contract;
pub mod domain;
pub mod drain;
pub mod durable;
pub mod engine;
pub mod error;
pub mod events;
pub mod eviction;
pub mod http;
pub mod identities;
pub mod jobs;
pub mod journal;
pub mod links;
pub mod persist;
pub mod public_base;
pub mod publish;
pub mod redact;
pub mod remove_where;
pub use ::render;
pub mod scenarios;
pub mod shutdown;
pub mod state;
pub mod storage;
pub mod tenancy;
pub mod views;
pub mod wire;

pub use app::{app, run, serve_on, serve_until};
pub use config::Config;
pub use state::AppState;
