//! Parsed request types, IDs, the entities an account owns (the account,
//! its projects and identities; storage only keeps the maps that hold
//! them) and the rules they obey. No I/O: everything here is a pure
//! function of its inputs, so it is tested without a server.

pub mod account;
pub mod auth;
pub mod identity;
pub mod ids;
pub mod image_probe;
pub mod job_request;
pub mod names;
pub mod pagination;
pub mod project;
pub mod rule;
pub mod secret;
pub mod text;
pub mod upload;
