//! Events: the per-account notification log, the numbering of
//! notifications ([`publisher`]), the SSE stream and the webhook delivery
//! book (what job events say is [`crate::views::notifications`]). Sending webhooks is [`crate::deliver`]'s.

pub mod log;
pub mod publisher;
pub mod sse;
pub mod webhook;
