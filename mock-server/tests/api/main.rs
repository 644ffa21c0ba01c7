//! Integration tests: real sockets on 127.0.0.1 port 0, a manual clock, and
//! every response checked against `schemas/` by the helpers.

mod aborted;
mod admin;
mod any_token;
mod auth;
mod binary;
mod bounds;
mod cli;
mod contract;
mod docs;
mod errors;
mod events;
mod eviction;
mod helpers;
mod hostile;
mod identity;
mod jobs;
mod journal;
mod layers;
mod load;
mod logs;
mod ordering;
mod outputs;
mod peers;
mod persistence;
mod project;
mod properties;
mod public_url;
mod scenarios;
mod security;
mod shutdown;
mod tenants;
mod text_rules;
mod tls;
mod upload;
