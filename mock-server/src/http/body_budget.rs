//! The bytes of request bodies in flight share one budget,
//! `--max-body-bytes-in-flight`: every body is read whole before its route
//! runs (the journal keeps what it needs of it), so without a cap 40
//! maximum-size uploads at once, or 20 that hold back their last byte,
//! hold a gigabyte. A request reserves its declared `Content-Length` (a
//! chunked one, the most a body may be) before a byte of it is read, and
//! gives it back once answered; one that does not fit is answered **503**
//! with `Retry-After` at once, its body unread. Requests without a body
//! (every `GET`) pass without touching the budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, FieldError, Position};

/// The shared budget (see the module doc).
#[derive(Debug)]
pub struct BodyBudget {
    cap: usize,
    /// The most one body may be: what a chunked body reserves.
    largest: usize,
    used: AtomicUsize,
}

/// A reservation, given back when dropped.
#[derive(Debug)]
pub struct Reserved<'a> {
    budget: &'a BodyBudget,
    bytes: usize,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl BodyBudget {
    /// A budget of `cap` bytes, for bodies of at most `largest` bytes.
    pub fn new(cap: usize, largest: usize) -> Self {
        Self {
            cap,
            largest,
            used: AtomicUsize::new(0),
        }
    }

    /// Reserves `bytes`, if they fit beside what is reserved.
    pub fn reserve(&self, bytes: usize) -> Option<Reserved<'_>> {
        let bytes = bytes.min(self.largest);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.cap)
            })
            .ok()
            .map(|_| Reserved { budget: self, bytes })
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// What a request's body will take: its `Content-Length`, the most a body
/// may be when it is chunked (or its length unreadable), nothing without one.
fn declared(req: &Request, largest: usize) -> usize {
    let headers = req.headers();
    match headers.get(header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok().and_then(|s| s.parse::<usize>().ok()).unwrap_or(largest),
        None if headers.contains_key(header::TRANSFER_ENCODING) => largest,
        None => 0,
    }
}

/// Middleware, outside the journal (which reads bodies): admits a request
/// whose body fits in the budget, else 503 with `Retry-After: 1`.
pub async fn admit(State(budget): State<Arc<BodyBudget>>, req: Request, next: Next) -> Response {
    let bytes = declared(&req, budget.largest);
    if bytes == 0 {
        return next.run(req).await;
    }
    let Some(_reserved) = budget.reserve(bytes) else {
        let mut res = ApiError::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(FieldError {
                field: None,
                message: format!(
                    "request bodies in flight hold {} of {} bytes (--max-body-bytes-in-flight): try again shortly",
                    budget.used(),
                    budget.cap
                ),
                position: Position::Body,
            })
            .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    };
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_under_the_cap_and_are_given_back() {
        let b = BodyBudget::new(100, 60);
        let one = b.reserve(50).expect("fits");
        assert!(b.reserve(51).is_none(), "50 + 51 > 100");
        let two = b.reserve(50).expect("50 + 50 fits exactly");
        assert_eq!(b.used(), 100);
        drop((one, two));
        assert_eq!(b.used(), 0);
        let big = b.reserve(usize::MAX).expect("a body counts at most `largest`");
        assert_eq!(b.used(), 60);
        drop(big);
        assert_eq!(b.used(), 0);
    }
}
