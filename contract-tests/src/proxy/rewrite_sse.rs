//! `--rewrite-urls` on an SSE stream: the links inside notifications (an
//! `image_result`'s `output.full_size`, …) made to point at the proxy like
//! a JSON answer's ([`super::rewrite`]), as the stream passes.
//!
//! Line by line, never the whole stream: each complete line goes out as
//! soon as its end arrives; a `data:` line whose value is JSON with links
//! goes out rewritten, every other line (event names, IDs, comments, a
//! `data:` line that is not JSON) byte for byte. Only the unfinished last
//! line of a chunk waits, up to [`MAX_LINE`] bytes; a longer one passes
//! unchanged.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde_json::Value;

/// The longest line held back to be rewritten; a longer one passes
/// unchanged (a notification is a few hundred bytes).
const MAX_LINE: usize = 1 << 20;

/// A line of an SSE stream with its links rewritten, if it is a `data:`
/// line holding JSON with links; `None` to pass it unchanged. `line` has
/// its line end.
fn line(line: &[u8], upstream: &str, public: &str) -> Option<Bytes> {
    let text = std::str::from_utf8(line).ok()?;
    let body = text.trim_end_matches(['\r', '\n']);
    let end = &text[body.len()..];
    let value = body.strip_prefix("data:")?;
    // The field's one optional space after the colon is not part of it.
    let value = value.strip_prefix(' ').unwrap_or(value);
    let mut v: Value = serde_json::from_str(value).ok()?;
    if !super::rewrite::links(&mut v, upstream, public) {
        return None;
    }
    Some(Bytes::from(format!("data: {v}{end}")))
}

/// An SSE body passed through with the links of its notifications pointing
/// at the proxy.
pub struct Rewrite<S> {
    inner: S,
    upstream: String,
    public: String,
    /// The unfinished last line.
    pending: BytesMut,
}

impl<S> std::fmt::Debug for Rewrite<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewrite")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<S> Rewrite<S> {
    /// Rewrites the stream `inner` of the upstream at `upstream` for the
    /// proxy at `public`.
    pub fn new(inner: S, upstream: &str, public: &str) -> Self {
        Self {
            inner,
            upstream: upstream.to_owned(),
            public: public.to_owned(),
            pending: BytesMut::new(),
        }
    }

    /// The complete lines of `pending` plus `chunk`, rewritten; the
    /// unfinished rest stays pending.
    fn take(&mut self, chunk: &[u8]) -> Bytes {
        self.pending.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        // A line ends at LF, CRLF or a lone CR (a CR at the very end waits
        // for the next chunk, which may bring its LF).
        while let Some(i) = self.pending.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let end = match self.pending[i] {
                b'\r' if i + 1 == self.pending.len() => break,
                b'\r' if self.pending.get(i + 1) == Some(&b'\n') => i + 2,
                _ => i + 1,
            };
            let l = self.pending.split_to(end);
            match line(&l, &self.upstream, &self.public) {
                Some(new) => out.extend_from_slice(&new),
                None => out.extend_from_slice(&l),
            }
        }
        if self.pending.len() > MAX_LINE {
            out.extend_from_slice(&self.pending.split());
        }
        out.freeze()
    }
}

impl<S, E> Stream for Rewrite<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let out = self.take(&chunk);
                    // A chunk of an unfinished line gives nothing yet.
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(out)));
                    }
                }
                Poll::Ready(None) if !self.pending.is_empty() => {
                    // The last line, without its end (or with a lone CR).
                    let rest = self.pending.split();
                    let out = line(&rest, &self.upstream, &self.public).unwrap_or_else(|| rest.freeze());
                    return Poll::Ready(Some(Ok(out)));
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    const UP: &str = "http://127.0.0.1:9000";
    const ME: &str = "http://127.0.0.1:7000";

    async fn through(chunks: &[&[u8]]) -> (Vec<Bytes>, String) {
        let items: Vec<Result<Bytes, std::io::Error>> = chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let out: Vec<Bytes> = Rewrite::new(futures_util::stream::iter(items), UP, ME)
            .map(|c| c.expect("chunk"))
            .collect()
            .await;
        let text = out.iter().map(|b| String::from_utf8_lossy(b)).collect();
        (out, text)
    }

    #[tokio::test]
    async fn links_in_data_lines_point_at_the_proxy_and_the_rest_passes_unchanged() {
        let event = b"id: 4\nevent: \r\ndata: {\"name\":\"image_result\",\"data\":{\"output\":{\"full_size\":\"http://127.0.0.1:9000/blobs/r/0/full.jpg?sig=1\"}}}\r\n\r\n: keep-alive \xc3\xa9\rdata: not json http://127.0.0.1:9000/x\n\n";
        // Cut everywhere, even inside a CRLF and a UTF-8 sequence.
        let (_, whole) = through(&[event]).await;
        for cut in 1..event.len() {
            let (_, text) = through(&[&event[..cut], &event[cut..]]).await;
            assert_eq!(text, whole, "cut at {cut}");
        }
        assert_eq!(
            whole,
            "id: 4\nevent: \r\ndata: {\"data\":{\"output\":{\"full_size\":\"http://127.0.0.1:7000/blobs/r/0/full.jpg?sig=1\"}},\"name\":\"image_result\"}\r\n\r\n: keep-alive é\rdata: not json http://127.0.0.1:9000/x\n\n"
        );
        // Without links, the bytes are the upstream's.
        let plain = b"event: backfill\ndata: {\"id\": 1,  \"name\": \"batch_edit\"}\n\n";
        assert_eq!(through(&[plain]).await.1.as_bytes(), plain);
    }

    #[tokio::test]
    async fn each_complete_line_goes_out_without_waiting_for_the_stream() {
        let (out, _) = through(&[b"event: backfill\nda", b"ta: {}\n", b"\n"]).await;
        assert_eq!(out, [&b"event: backfill\n"[..], b"data: {}\n", b"\n"]);
        // The unfinished last line still comes out at the end.
        let (_, text) = through(&[b"data: {\"u\":\"http://127.0.0.1:9000/a\"}"]).await;
        assert_eq!(text, "data: {\"u\":\"http://127.0.0.1:7000/a\"}");
    }
}
