//! Parsed request types, IDs and the rules they obey. No I/O: everything
//! here is a pure function of its inputs, so it is tested without a server.

pub mod auth;
pub mod ids;
pub mod image_probe;
pub mod job_request;
pub mod names;
pub mod pagination;
pub mod rule;
pub mod secret;
pub mod text;
pub mod upload;
