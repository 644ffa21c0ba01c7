//! A request body that stalls is cut: once `--body-timeout` passes without
//! a byte of it arriving, reading it fails, the request is answered (408 in
//! the API's envelope, by the journal, which reads every body first, the
//! pre-signed PUT's too) and the connection is closed with it. Otherwise a client that sends headers and
//! then holds back its body would hold a connection, a descriptor and what
//! it sent so far for ever (the header-read timeout stops at the headers).
//! Real time, not the injected clock: it bounds sockets, not simulated work.

use std::error::Error;
use std::time::Duration;

use axum::http::StatusCode;
use tower_http::timeout::{TimeoutBody, TimeoutError};

use crate::error::{ApiError, FieldError, Position};

/// `body`, failing once `timeout` passes between two of its frames. No
/// allocation: the router boxes the body once either way.
pub fn wrap<B>(timeout: Duration, body: B) -> TimeoutBody<B> {
    TimeoutBody::new(timeout, body)
}

/// Whether `err`, or anything it was caused by, is a stalled body.
pub fn stalled(err: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if e.is::<TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// 408 in the envelope: the body stalled for `timeout`.
pub fn timed_out(timeout: Duration) -> ApiError {
    ApiError::new(StatusCode::REQUEST_TIMEOUT).with_detail(FieldError {
        field: None,
        message: format!(
            "no byte of the body arrived for {} (--body-timeout): the request is cut",
            humantime::format_duration(timeout)
        ),
        position: Position::Body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use futures_util::StreamExt as _;

    #[tokio::test]
    async fn a_body_that_stalls_fails_as_stalled_and_other_errors_do_not() {
        let first = futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"abc")) });
        let stalls = Body::from_stream(first.chain(futures_util::stream::pending()));
        let err = axum::body::to_bytes(Body::new(wrap(Duration::from_millis(20), stalls)), usize::MAX)
            .await
            .expect_err("stalled");
        assert!(stalled(&err));
        let reset = Body::from_stream(futures_util::stream::once(async {
            Err::<bytes::Bytes, _>(std::io::Error::other("reset"))
        }));
        let err = axum::body::to_bytes(Body::new(wrap(Duration::from_millis(20), reset)), usize::MAX)
            .await
            .expect_err("reset");
        assert!(!stalled(&err));
    }
}
