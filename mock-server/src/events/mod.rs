//! Events: the per-account notification log, the notifications job events
//! cause, their numbering ([`publisher`]), the SSE stream and the webhook
//! delivery book. Sending webhooks is [`crate::deliver`]'s.

pub mod log;
pub mod notify;
pub mod publisher;
pub mod sse;
pub mod webhook;
