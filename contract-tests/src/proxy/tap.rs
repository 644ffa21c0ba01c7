//! A body passed through chunk by chunk (never buffered whole) while a
//! bounded copy, its size and SHA-256 are taken on the side, for the
//! checks, the fake beside and the cassette.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest as _, Sha256};

/// What was seen of a body.
#[derive(Debug, Clone)]
pub struct Capture {
    keep: usize,
    /// The first `keep` bytes.
    pub bytes: Vec<u8>,
    /// How many bytes passed.
    pub size: u64,
    sha: Sha256,
    /// Whether the body ended normally (not cut by a disconnect or error).
    pub complete: bool,
}

impl Capture {
    /// A capture keeping at most `keep` bytes.
    pub fn new(keep: usize) -> Self {
        Self {
            keep,
            bytes: Vec::new(),
            size: 0,
            sha: Sha256::new(),
            complete: false,
        }
    }

    /// Takes a chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        self.sha.update(chunk);
        let room = self.keep.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&chunk[..room.min(chunk.len())]);
    }

    /// Whether the whole body was kept (it ended, and fit).
    pub fn whole(&self) -> bool {
        self.complete && self.bytes.len() as u64 == self.size
    }

    /// The hex SHA-256 of every byte that passed.
    pub fn sha256(&self) -> String {
        hex::encode(self.sha.clone().finalize())
    }
}

/// Hears a tapped body.
pub trait Sink: Send {
    /// A chunk passed.
    fn chunk(&mut self, chunk: &Bytes);
    /// The body ended (`complete`), or was dropped or failed before.
    fn end(self: Box<Self>, complete: bool);
}

/// A stream of body chunks passed through unchanged to its reader, each
/// shown to a [`Sink`] first.
pub struct Tap<E> {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, E>> + Send>>,
    sink: Option<Box<dyn Sink>>,
}

impl<E> std::fmt::Debug for Tap<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap").finish_non_exhaustive()
    }
}

impl<E> Tap<E> {
    /// Taps `inner` for `sink`.
    pub fn new(inner: impl Stream<Item = Result<Bytes, E>> + Send + 'static, sink: Box<dyn Sink>) -> Self {
        Self {
            inner: Box::pin(inner),
            sink: Some(sink),
        }
    }
}

impl<E> Stream for Tap<E> {
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(s) = self.sink.as_mut() {
                    s.chunk(chunk);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(s) = self.sink.take() {
                    s.end(false);
                }
            }
            Poll::Ready(None) => {
                if let Some(s) = self.sink.take() {
                    s.end(true);
                }
            }
            Poll::Pending => {}
        }
        next
    }
}

impl<E> Drop for Tap<E> {
    /// A reader that stops early (a client leaving an SSE stream) still
    /// ends the sink.
    fn drop(&mut self) {
        if let Some(s) = self.sink.take() {
            s.end(false);
        }
    }
}

/// A [`Sink`] that only fills a shared [`Capture`] (a request body, read
/// after the upstream answers).
#[derive(Debug)]
pub struct Shared(pub std::sync::Arc<std::sync::Mutex<Capture>>);

impl Sink for Shared {
    fn chunk(&mut self, chunk: &Bytes) {
        if let Ok(mut c) = self.0.lock() {
            c.push(chunk);
        }
    }

    fn end(self: Box<Self>, complete: bool) {
        if let Ok(mut c) = self.0.lock() {
            c.complete = complete;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn chunks_pass_unchanged_and_a_bounded_copy_is_kept() {
        let cap = Arc::new(Mutex::new(Capture::new(4)));
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            vec![Ok(Bytes::from_static(b"abc")), Ok(Bytes::from_static(b"def"))];
        let tap = Tap::new(futures_util::stream::iter(chunks), Box::new(Shared(cap.clone())));
        let out: Vec<Bytes> = tap.map(|c| c.expect("chunk")).collect().await;
        assert_eq!(out, [Bytes::from_static(b"abc"), Bytes::from_static(b"def")]);
        let c = cap.lock().expect("lock");
        assert_eq!(
            (c.bytes.as_slice(), c.size, c.complete, c.whole()),
            (&b"abcd"[..], 6, true, false)
        );
        assert_eq!(c.sha256(), hex::encode(Sha256::digest(b"abcdef")));
    }

    #[tokio::test]
    async fn a_reader_leaving_early_ends_the_sink_incomplete() {
        let cap = Arc::new(Mutex::new(Capture::new(10)));
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            vec![Ok(Bytes::from_static(b"a")), Ok(Bytes::from_static(b"b"))];
        let mut tap = Tap::new(futures_util::stream::iter(chunks), Box::new(Shared(cap.clone())));
        let _ = tap.next().await;
        drop(tap);
        let c = cap.lock().expect("lock");
        assert_eq!((c.size, c.complete), (1, false));
    }
}
