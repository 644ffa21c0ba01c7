//! The bytes of request bodies in flight share one budget,
//! `--max-body-bytes-in-flight`: every body is read whole before its route
//! runs (the journal keeps what it needs of it), so without a cap 40
//! maximum-size uploads at once, or 20 that hold back their last byte,
//! hold a gigabyte. A request reserves its declared `Content-Length` (a
//! chunked one, the most a body may be) before a byte of it is read, and
//! gives it back once answered; one that does not fit is answered **503**
//! with `Retry-After` at once, its body unread. Requests without a body
//! (every `GET`) pass without touching the budget.
//!
//! The bodies are counted too, against `--max-bodies-in-flight` (by default
//! three quarters of the connection cap): small bodies that stall fit the
//! byte budget by the thousand, and each holds a connection until
//! `--body-timeout`, so without a count they could take every connection
//! `--max-connections` allows and leave none for a client's new ones. The
//! one past the count is answered the same 503. Each kind of refusal is
//! logged once per burst (a warning, then an info line when served again).
//! Either 503 closes its connection (`Connection: close`): the body left
//! unread could not be told from a next request, and the descriptor is
//! freed for other clients at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::admission::{Admission, Admitted, Burst, Notice};
use crate::error::{ApiError, FieldError, Position};

/// What is logged when bodies past the count are refused, and after.
const BODIES: Notice = Notice {
    shedding: "at the cap of request bodies in flight (--max-bodies-in-flight): \
               requests that send a body are answered 503 until some end",
    served: "requests that send a body are served again",
};

/// What is logged when bodies are refused for their bytes, and after.
const BYTES: Notice = Notice {
    shedding: "the request bodies in flight hold --max-body-bytes-in-flight: \
               requests whose body does not fit are answered 503 until some end",
    served: "request bodies fit in --max-body-bytes-in-flight again",
};

/// The shared budget (see the module doc).
#[derive(Debug)]
pub struct BodyBudget {
    cap: usize,
    /// The most one body may be: what a chunked body reserves.
    largest: usize,
    used: AtomicUsize,
    /// Refusals for want of bytes, logged once a burst.
    short: Burst,
    /// Bodies being read, against `--max-bodies-in-flight`.
    bodies: Admission,
}

/// A reservation, given back when dropped.
#[derive(Debug)]
pub struct Reserved<'a> {
    budget: &'a BodyBudget,
    bytes: usize,
    _body: Admitted,
}

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// As many bodies as `--max-bodies-in-flight` are being read.
    Bodies,
    /// Its bytes do not fit beside those reserved.
    Bytes,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl BodyBudget {
    /// A budget of `cap` bytes, for bodies of at most `largest` bytes, and
    /// at most `bodies` of them at once.
    pub fn new(cap: usize, largest: usize, bodies: usize) -> Self {
        Self {
            cap,
            largest,
            used: AtomicUsize::new(0),
            short: Burst::new(BYTES),
            bodies: Admission::new(bodies, BODIES),
        }
    }

    /// Reserves one body of `bytes`, if one more body is allowed and its
    /// bytes fit beside what is reserved.
    pub fn reserve(&self, bytes: usize) -> Result<Reserved<'_>, Refused> {
        let body = self.bodies.admit().ok_or(Refused::Bodies)?;
        let bytes = bytes.min(self.largest);
        let fits = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(bytes).filter(|&total| total <= self.cap)
        });
        if fits.is_err() {
            self.short.refused(self.cap);
            return Err(Refused::Bytes);
        }
        self.short.admitted(self.cap);
        Ok(Reserved {
            budget: self,
            bytes,
            _body: body,
        })
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
    let _reserved = match budget.reserve(bytes) {
        Ok(reserved) => reserved,
        Err(Refused::Bodies) => {
            return overloaded(format!(
                "{} request bodies are in flight (--max-bodies-in-flight): try again shortly",
                budget.bodies.cap()
            ));
        }
        Err(Refused::Bytes) => {
            return overloaded(format!(
                "request bodies in flight hold {} of {} bytes (--max-body-bytes-in-flight): try again shortly",
                budget.used(),
                budget.cap
            ));
        }
    };
    next.run(req).await
}

/// 503 in the envelope (`message` says which bound), to retry in a second,
/// closing the connection (see the module doc). Deliberate: the burst it
/// belongs to is logged once, not each answer as an error.
fn overloaded(message: String) -> Response {
    let mut res = ApiError::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_detail(FieldError {
            field: None,
            message,
            position: Position::Body,
        })
        .with_retry_after(1)
        .deliberate()
        .into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_under_the_cap_and_are_given_back() {
        let b = BodyBudget::new(100, 60, 10);
        let one = b.reserve(50).expect("fits");
        assert_eq!(b.reserve(51).err(), Some(Refused::Bytes), "50 + 51 > 100");
        assert!(b.short.refusing(), "a burst of refusals began");
        let two = b.reserve(50).expect("50 + 50 fits exactly");
        assert!(!b.short.refusing(), "and ended");
        assert_eq!(b.used(), 100);
        drop((one, two));
        assert_eq!(b.used(), 0);
        let big = b.reserve(usize::MAX).expect("a body counts at most `largest`");
        assert_eq!(b.used(), 60);
        drop(big);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn at_most_the_cap_of_bodies_at_once_each_counted_until_dropped() {
        let b = BodyBudget::new(1_000, 1_000, 2);
        let one = b.reserve(1).expect("first");
        let two = b.reserve(1).expect("second");
        assert_eq!(b.reserve(1).err(), Some(Refused::Bodies), "a third body, however small");
        assert_eq!(b.bodies.open(), 2);
        drop(one);
        assert_eq!(b.bodies.open(), 1);
        let three = b.reserve(1).expect("one ended: room for another");
        // A body refused for its bytes does not stay counted.
        drop(two);
        assert_eq!(b.reserve(2_000).err(), Some(Refused::Bytes));
        assert_eq!(b.bodies.open(), 1);
        drop(three);
        assert_eq!((b.bodies.open(), b.used()), (0, 0));
    }
}
