//! Watches an HTTP/1.1 byte stream on its way to hyper, so that what hyper would refuse with
//! a bare status line (a head too large, a malformed request line or header, a head that
//! never finishes) is answered with a problem document instead, and so that the idle clock
//! knows when a request head has begun.
//!
//! The watcher follows the messages' framing the way hyper does (`httparse` for heads,
//! `Content-Length` or chunked bodies): it parses each head as it arrives and skips each
//! body. Whatever it does not follow (an upgrade, an unusual transfer coding) it hands over
//! to hyper untouched for the rest of the connection. A refusal is written straight to the
//! socket before hyper sees the offending bytes; hyper then reads an error and closes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::refusal;
use super::registry::ConnState;

/// Most header fields in one head (hyper's own limit).
const MAX_HEADERS: usize = 100;
/// Longest chunk-size line followed (with extensions); longer hands the stream to hyper.
const MAX_CHUNK_LINE: usize = 1024;

#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    pub max_bytes: usize,
    /// From a head's first byte to its end.
    pub timeout: Duration,
    pub tls: bool,
}

#[derive(Debug)]
enum Framing {
    /// Reading a request head (`buf` holds what has arrived of it).
    Head,
    /// Skipping this many body bytes.
    Body(u64),
    /// A chunked body: the chunk-size line (in `buf`).
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data (how many bytes of it are left).
    ChunkEnd(u8),
    /// Trailer lines after the last chunk, up to the empty line (in `buf`).
    Trailers,
    /// Not followed any further: hyper has the stream to itself.
    Passthrough,
}

/// What the bytes seen so far call for.
enum Verdict {
    Continue,
    Refuse(crate::error::ApiError),
}

/// An HTTP/1.1 connection's I/O, with bytes read before it was built replayed first.
pub struct HeadGuard<I> {
    inner: I,
    prefix: Vec<u8>,
    prefix_at: usize,
    framing: Framing,
    buf: Vec<u8>,
    limits: HeadLimits,
    conn: Arc<ConnState>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// A refusal under way: written, then the stream's write side shut, then what the client
    /// still sends read and dropped for a moment before the socket closes (closing it with
    /// unread bytes would reset it, and the client could lose the answer).
    refusing: Option<Refusing>,
    refused: bool,
}

#[derive(Debug)]
enum Refusing {
    Writing(Vec<u8>, usize),
    ShuttingDown,
    Draining(Pin<Box<Sleep>>, usize),
}

/// How long, and how many bytes, a refused client's leftovers are read before closing.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 256 * 1024;

impl<I> HeadGuard<I> {
    pub fn new(inner: I, prefix: Vec<u8>, limits: HeadLimits, conn: Arc<ConnState>) -> Self {
        Self {
            inner,
            prefix,
            prefix_at: 0,
            framing: Framing::Head,
            buf: Vec::new(),
            limits,
            conn,
            deadline: None,
            refusing: None,
            refused: false,
        }
    }

    /// Follows `bytes`, the next ones of the stream.
    fn feed(&mut self, mut bytes: &[u8]) -> Verdict {
        while !bytes.is_empty() {
            match self.framing {
                Framing::Passthrough => return Verdict::Continue,
                Framing::Head => {
                    if self.buf.is_empty() {
                        // Blank lines before a request are allowed (and skipped by hyper).
                        let skip = bytes.iter().take_while(|b| **b == b'\r' || **b == b'\n');
                        let n = skip.count();
                        bytes = &bytes[n..];
                        if bytes.is_empty() {
                            return Verdict::Continue;
                        }
                        self.conn.set_head_started(true);
                        self.deadline = Some(Box::pin(tokio::time::sleep(self.limits.timeout)));
                    }
                    let before = self.buf.len();
                    self.buf.extend_from_slice(bytes);
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut req = httparse::Request::new(&mut headers);
                    match req.parse(&self.buf) {
                        Ok(httparse::Status::Complete(n)) => {
                            if n > self.limits.max_bytes {
                                return Verdict::Refuse(refusal::header_too_large(
                                    self.limits.max_bytes,
                                ));
                            }
                            let next = body_framing(&req);
                            let used = n - before;
                            bytes = &bytes[used..];
                            self.buf.clear();
                            self.deadline = None;
                            self.conn.set_head_started(false);
                            self.framing = next;
                        }
                        Ok(httparse::Status::Partial) => {
                            if self.buf.len() > self.limits.max_bytes {
                                return Verdict::Refuse(refusal::header_too_large(
                                    self.limits.max_bytes,
                                ));
                            }
                            return Verdict::Continue;
                        }
                        Err(httparse::Error::TooManyHeaders) => {
                            return Verdict::Refuse(refusal::header_too_large(
                                self.limits.max_bytes,
                            ));
                        }
                        Err(e) => return Verdict::Refuse(refusal::malformed(&e.to_string())),
                    }
                }
                Framing::Body(left) => {
                    let n = left.min(bytes.len() as u64);
                    bytes = &bytes[usize::try_from(n).unwrap_or(bytes.len())..];
                    self.framing = if left == n {
                        Framing::Head
                    } else {
                        Framing::Body(left - n)
                    };
                }
                Framing::ChunkSize => {
                    let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
                        self.buf.extend_from_slice(bytes);
                        if self.buf.len() > MAX_CHUNK_LINE {
                            self.framing = Framing::Passthrough;
                        }
                        return Verdict::Continue;
                    };
                    self.buf.extend_from_slice(&bytes[..=end]);
                    bytes = &bytes[end + 1..];
                    self.framing = match httparse::parse_chunk_size(&self.buf) {
                        Ok(httparse::Status::Complete((_, 0))) => Framing::Trailers,
                        Ok(httparse::Status::Complete((_, size))) => Framing::ChunkData(size),
                        _ => Framing::Passthrough,
                    };
                    self.buf.clear();
                }
                Framing::ChunkData(left) => {
                    let n = left.min(bytes.len() as u64);
                    bytes = &bytes[usize::try_from(n).unwrap_or(bytes.len())..];
                    self.framing = if left == n {
                        Framing::ChunkEnd(2)
                    } else {
                        Framing::ChunkData(left - n)
                    };
                }
                Framing::ChunkEnd(left) => {
                    let n = usize::from(left).min(bytes.len());
                    bytes = &bytes[n..];
                    let left = left - u8::try_from(n).unwrap_or(left);
                    self.framing = if left == 0 {
                        Framing::ChunkSize
                    } else {
                        Framing::ChunkEnd(left)
                    };
                }
                Framing::Trailers => {
                    let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
                        self.buf.extend_from_slice(bytes);
                        if self.buf.len() > self.limits.max_bytes {
                            self.framing = Framing::Passthrough;
                        }
                        return Verdict::Continue;
                    };
                    self.buf.extend_from_slice(&bytes[..=end]);
                    bytes = &bytes[end + 1..];
                    if self.buf == b"\r\n" || self.buf == b"\n" {
                        self.framing = Framing::Head;
                    }
                    self.buf.clear();
                }
            }
        }
        Verdict::Continue
    }
}

/// How the body after a complete request head is framed (RFC 9112 section 6).
fn body_framing(req: &httparse::Request<'_, '_>) -> Framing {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut other = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let Some(n) = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            else {
                return Framing::Passthrough;
            };
            if length.is_some_and(|l| l != n) {
                return Framing::Passthrough;
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.trim() == "chunked" && !chunked {
                chunked = true;
            } else {
                other = true;
            }
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            other = true;
        }
    }
    if other || req.method == Some("CONNECT") || (chunked && length.is_some()) {
        return Framing::Passthrough;
    }
    match (chunked, length) {
        (true, _) => Framing::ChunkSize,
        (false, Some(0) | None) => Framing::Head,
        (false, Some(n)) => Framing::Body(n),
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> HeadGuard<I> {
    /// Carries the refusal out; then every read fails, and hyper closes the connection.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(step) = self.refusing.as_mut() {
            let inner = Pin::new(&mut self.inner);
            let next = match step {
                Refusing::Writing(bytes, written) if *written < bytes.len() => {
                    match ready!(inner.poll_write(cx, &bytes[*written..])) {
                        Ok(n) if n > 0 => {
                            *written += n;
                            continue;
                        }
                        _ => None,
                    }
                }
                Refusing::Writing(..) => Some(Refusing::ShuttingDown),
                Refusing::ShuttingDown => match ready!(inner.poll_shutdown(cx)) {
                    Ok(()) => Some(Refusing::Draining(
                        Box::pin(tokio::time::sleep(DRAIN_TIME)),
                        0,
                    )),
                    Err(_) => None,
                },
                Refusing::Draining(deadline, drained) => {
                    if deadline.as_mut().poll(cx).is_ready() || *drained > DRAIN_BYTES {
                        None
                    } else {
                        let mut scratch = [0u8; 4096];
                        let mut sink = ReadBuf::new(&mut scratch);
                        match ready!(inner.poll_read(cx, &mut sink)) {
                            Ok(()) if !sink.filled().is_empty() => {
                                *drained += sink.filled().len();
                                continue;
                            }
                            _ => None,
                        }
                    }
                }
            };
            match next {
                Some(n) => self.refusing = Some(n),
                None => {
                    self.refusing = None;
                    self.refused = true;
                }
            }
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the request was refused",
        )))
    }

    fn refuse(&mut self, error: crate::error::ApiError) {
        let (bytes, _) = refusal::http1(error, self.limits.tls);
        self.refusing = Some(Refusing::Writing(bytes, 0));
        self.framing = Framing::Passthrough;
        self.deadline = None;
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadGuard<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refused || this.refusing.is_some() {
            return this.poll_refusal(cx);
        }
        let before = buf.filled().len();
        if this.prefix_at < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.prefix_at);
            buf.put_slice(&this.prefix[this.prefix_at..this.prefix_at + n]);
            this.prefix_at += n;
        } else {
            match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Ready(r) => r?,
                Poll::Pending => {
                    if let Some(deadline) = this.deadline.as_mut()
                        && deadline.as_mut().poll(cx).is_ready()
                    {
                        this.refuse(refusal::header_timeout());
                        return this.poll_refusal(cx);
                    }
                    return Poll::Pending;
                }
            }
        }
        if let Verdict::Refuse(error) = this.feed(&buf.filled()[before..]) {
            // hyper never sees the bytes it would have answered with a bare status line.
            buf.set_filled(before);
            this.refuse(error);
            return this.poll_refusal(cx);
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for HeadGuard<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Bytes read before the protocol was chosen, replayed ahead of the stream (HTTP/2).
pub struct Rewind<I> {
    inner: I,
    prefix: Vec<u8>,
    at: usize,
}

impl<I> Rewind<I> {
    pub fn new(inner: I, prefix: Vec<u8>) -> Self {
        Self {
            inner,
            prefix,
            at: 0,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.at);
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> HeadGuard<tokio::io::Empty> {
        HeadGuard::new(
            tokio::io::empty(),
            Vec::new(),
            HeadLimits {
                max_bytes: 200,
                timeout: Duration::from_secs(10),
                tls: false,
            },
            Arc::new(super::super::registry::ConnState::detached()),
        )
    }

    fn code(v: Verdict) -> Option<&'static str> {
        match v {
            Verdict::Continue => None,
            Verdict::Refuse(e) => Some(e.code),
        }
    }

    #[tokio::test]
    async fn heads_are_followed_across_bodies_chunks_and_pipelined_requests() {
        let mut g = guard();
        let stream = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                       POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                       3\r\nabc\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        // Byte by byte and all at once, the same verdict: every head is valid.
        for b in stream {
            assert_eq!(code(g.feed(&[*b])), None);
        }
        assert!(matches!(g.framing, Framing::Head));
        let mut g = guard();
        assert_eq!(code(g.feed(stream)), None);
        assert!(matches!(g.framing, Framing::Head));
        // A body that looks like a bad head is skipped, not judged.
        let mut g = guard();
        assert_eq!(
            code(g.feed(b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\n\x00\x01 \r\n\r\n")),
            None
        );
    }

    #[tokio::test]
    async fn bad_and_oversized_heads_are_refused() {
        assert_eq!(
            code(guard().feed(b"GET /a b c\r\n\r\n")),
            Some("malformed_request")
        );
        assert_eq!(
            code(guard().feed(b"G\x01T / HTTP/1.1\r\n\r\n")),
            Some("malformed_request")
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(300));
        assert_eq!(
            code(guard().feed(big.as_bytes())),
            Some("request_header_too_large")
        );
        let partial = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(300));
        assert_eq!(
            code(guard().feed(partial.as_bytes())),
            Some("request_header_too_large")
        );
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..101 {
            many.push_str(&format!("h{i}:1\r\n"));
        }
        many.push_str("\r\n");
        let mut g = guard();
        g.limits.max_bytes = 10_000;
        assert_eq!(
            code(g.feed(many.as_bytes())),
            Some("request_header_too_large")
        );
    }
}
