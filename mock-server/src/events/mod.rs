//! Events: the per-account notification log, the notifications job events
//! cause, the SSE stream and webhooks.

pub mod http;
pub mod log;
pub mod notify;
pub mod sse;
pub mod webhook;
