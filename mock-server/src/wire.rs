//! Ordering on the wire: a job's events wait until the 202 that names it
//! has been written to its connection.
//!
//! A client that opens the SSE stream first and then creates a job filters
//! the stream by the `job_id` of the 202 (the vendor's documented loop). It
//! cannot filter by an id it has not read, so an event of the job that goes
//! out before the 202 is lost to it; at `--time-scale 0` the whole job would
//! be. So a new job is held ([`crate::engine::Engine::submit`]): none of its
//! events applies, and so nothing of it is published, until its [`JobHold`]
//! is dropped. The 202's body carries the hold ([`held_body`]) and lets go
//! of it once its last frame has been taken:
//!
//! - served by [`crate::app::serve_until`], after the connection has
//!   written and flushed what it had buffered by then, the 202 included (the
//!   connection's task runs in [`scope`] over a [`Flushed`] stream): the 202
//!   is in the socket before the job's first notification is made;
//! - elsewhere (the router called in-process), at once;
//! - a body dropped unsent (the client hung up) lets go when dropped.
//!
//! A released job catches up at once: every event due by then applies, in
//! order, with its timestamp on the injected clock as scheduled.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::engine::job::Job;
use crate::state::AppState;

/// Keeps a job's events waiting while it lives (see the module doc).
#[derive(Debug)]
pub struct JobHold {
    state: AppState,
    job: Arc<Job>,
}

impl JobHold {
    /// Holds `job` (which the engine created held) until dropped.
    pub fn new(state: AppState, job: Arc<Job>) -> Self {
        Self { state, job }
    }
}

impl Drop for JobHold {
    fn drop(&mut self) {
        crate::jobs::release_held(&self.state, &self.job);
    }
}

tokio::task_local! {
    /// The holds of the current connection whose bodies were taken, waiting
    /// for the connection to write them out.
    static UNFLUSHED: RefCell<Vec<JobHold>>;
}

/// Runs `connection` (one connection's whole life) so that the holds of the
/// answers it sends are let go once written ([`Flushed`]); those left when it
/// ends go with it.
pub async fn scope<F: Future>(connection: F) -> F::Output {
    UNFLUSHED.scope(RefCell::new(Vec::new()), connection).await
}

/// A body that holds a job until its last frame is taken (see the module doc).
#[derive(Debug)]
struct HeldBody {
    inner: Body,
    hold: Option<JobHold>,
}

/// `body`, holding `hold` until it has been sent.
pub fn held_body(body: Body, hold: JobHold) -> Body {
    Body::new(HeldBody {
        inner: body,
        hold: Some(hold),
    })
}

impl HeldBody {
    /// The last frame was taken: on a served connection the hold waits for
    /// the next flush, else it goes now.
    fn taken(&mut self) {
        let Some(hold) = self.hold.take() else { return };
        let _ = UNFLUSHED.try_with(move |pending| pending.borrow_mut().push(hold));
        // Outside a connection's scope the closure (and the hold) was dropped.
    }
}

impl HttpBody for HeldBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        // hyper takes no further frame once the body says it has ended.
        let last = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if last {
            this.taken();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's stream that lets go of the holds waiting in its [`scope`]
/// each time a flush completes: hyper flushes the stream only after it has
/// written everything it buffered, so their answers are in the socket.
#[derive(Debug)]
pub struct Flushed<T>(pub T);

impl<T> Flushed<T> {
    fn let_go() {
        let written = UNFLUSHED
            .try_with(|pending| {
                let mut pending = pending.borrow_mut();
                // Most flushes have nothing waiting: no allocation, no lock.
                (!pending.is_empty()).then(|| std::mem::take(&mut *pending))
            })
            .ok()
            .flatten();
        // Dropped outside the borrow: letting go applies the jobs' events.
        drop(written);
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for Flushed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for Flushed<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.get_mut().0).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            Self::let_go();
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
}
