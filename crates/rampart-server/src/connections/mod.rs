//! The accept loop of a listener: connection caps, the optional TLS handshake, HTTP/1.1 and
//! HTTP/2 with deadlines on everything a client may hold without sending, and a graceful
//! drain on shutdown. Every listener (public, internal, redirect) goes through it.
//!
//! Deadlines, and what each stops:
//! - the TLS handshake within `handshake_timeout`;
//! - a connection's first byte within `header_read_timeout` of its start (or of the
//!   handshake's end), and between requests at most `idle_timeout` without one (both
//!   protocols: an HTTP/2 connection without open streams is idle);
//! - each HTTP/1.1 request head within `header_read_timeout` of its first byte, and no larger
//!   than `max_header_bytes` (`head`; answered 408 / 431 / 400 with a problem document);
//! - request bodies with no byte for `body_idle_timeout` (answered 408 by the extractor);
//! - whole requests by the router's time-out.
//!
//! The protocol is chosen before any parsing: from ALPN under TLS, from the HTTP/2 preface
//! on plain connections. Caps per address, per address range and in all are kept by the
//! `registry`, which closes the longest-idle connection to make room (see there).

mod body;
mod head;
mod refusal;
mod registry;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

pub use body::is_body_timeout;
use registry::{Admission, Caps, ConnState, Registry};

use crate::tls::Tls;

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_connections_per_range: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Counts a listener's live connection tasks, for the drain.
struct Live(watch::Sender<usize>);

impl Live {
    fn enter(tx: &watch::Sender<usize>) -> Self {
        tx.send_modify(|n| *n += 1);
        Self(tx.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Serves `app` on `listener` until `stop` turns true, then waits (up to the drain time-out)
/// for open connections to finish their in-flight requests.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let registry = Registry::new(Caps {
        total: limits.max_connections.max(1),
        per_ip: limits.max_connections_per_ip.max(1),
        per_range: limits.max_connections_per_range.max(1),
    });
    let (live_tx, live_rx) = watch::channel(0usize);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let slot = match registry.admit(peer.ip()) {
            Admission::Admitted { slot, displaced } => {
                if let Some(cap) = displaced {
                    tracing::debug!(peer = %peer, cap = cap.as_str(), "an idle connection made room");
                }
                slot
            }
            Admission::Refused(cap) => {
                tracing::debug!(peer = %peer, cap = cap.as_str(), "connection refused");
                if tls.is_none() {
                    tokio::spawn(refuse_plain(stream));
                }
                continue;
            }
        };
        let live = Live::enter(&live_tx);
        let (app, tls, stop) = (app.clone(), tls.clone(), stop.clone());
        tokio::spawn(async move {
            let _live = live;
            let state = Arc::clone(&slot.state);
            tokio::select! {
                () = state.evicted.notified() => {}
                () = connection(stream, peer, tls, app, limits, Arc::clone(&state), stop) => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    let mut live_rx = live_rx;
    if tokio::time::timeout(limits.drain_timeout, live_rx.wait_for(|n| *n == 0))
        .await
        .is_err()
    {
        tracing::warn!("shutdown: connections still open after the drain time-out");
    }
    Ok(())
}

/// No room for a plain connection: say so in HTTP/1.1 (before reading the request, which
/// HTTP allows for a final answer), then close. A TLS connection is just closed.
async fn refuse_plain(mut stream: TcpStream) {
    let (bytes, _) = refusal::http1(refusal::no_room(), false);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(&bytes).await;
        let _ = stream.shutdown().await;
        // Read what the client sent before closing: closing with unread bytes resets the
        // connection, and the client may lose the answer.
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Reads the first bytes of a plain connection, enough to tell the HTTP/2 preface from an
/// HTTP/1 request line.
async fn sniff(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; H2_PREFACE.len()];
    let mut got = 0;
    loop {
        let n = stream.read(&mut buf[got..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
        if got == buf.len() || buf[..got] != H2_PREFACE[..got] {
            buf.truncate(got);
            return Ok(buf);
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<Tls>>,
    app: Router,
    limits: ConnectionLimits,
    state: Arc<ConnState>,
    stop: watch::Receiver<bool>,
) {
    let served = Served {
        app,
        peer,
        limits,
        state,
        stop,
    };
    match tls {
        None => {
            let Ok(Ok(prefix)) =
                tokio::time::timeout(limits.header_read_timeout, sniff(&mut stream)).await
            else {
                return;
            };
            if prefix == H2_PREFACE {
                served.h2(head::Rewind::new(stream, prefix)).await;
            } else {
                served.h1(stream, prefix, false).await;
            }
        }
        Some(tls) => {
            match tokio::time::timeout(limits.handshake_timeout, tls.acceptor().accept(stream))
                .await
            {
                Ok(Ok(stream)) => {
                    served.state.touch();
                    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                        served.h2(stream).await;
                    } else {
                        served.h1(stream, Vec::new(), true).await;
                    }
                }
                Ok(Err(e)) => tracing::debug!(error = %e, peer = %peer, "TLS handshake failed"),
                Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out"),
            }
        }
    }
}

/// One connection being served.
struct Served {
    app: Router,
    peer: SocketAddr,
    limits: ConnectionLimits,
    state: Arc<ConnState>,
    stop: watch::Receiver<bool>,
}

/// A hyper connection of either protocol, told to finish gracefully.
trait Graceful: Future<Output = Result<(), hyper::Error>> {
    fn graceful(self: Pin<&mut Self>);
}

impl<I, S> Graceful for http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::ResBody: http_body::Body + 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, E> Graceful for http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming>,
    S::ResBody: http_body::Body + 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// The router as hyper calls it for one connection: each request is marked in flight until
/// its answer has been sent, its body is timed, and it learns the peer's address.
#[derive(Clone)]
struct ConnService {
    app: Router,
    peer: SocketAddr,
    state: Arc<ConnState>,
    body_idle: Duration,
}

type Answer = http::Response<body::MarkedBody>;

impl hyper::service::Service<http::Request<Incoming>> for ConnService {
    type Response = Answer;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        let in_flight = self.state.begin();
        let mut req = req.map(|b| {
            // A request without a body (most of them) needs no timer.
            if http_body::Body::is_end_stream(&b) {
                Body::new(b)
            } else {
                Body::new(body::TimedBody::new(b, self.body_idle))
            }
        });
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let app = self.app.clone();
        Box::pin(async move {
            let response = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok(response.map(|b| body::MarkedBody::new(b, in_flight)))
        })
    }
}

impl Served {
    fn service(&self) -> ConnService {
        ConnService {
            app: self.app.clone(),
            peer: self.peer,
            state: Arc::clone(&self.state),
            body_idle: self.limits.body_idle_timeout,
        }
    }

    async fn h1<I>(self, io: I, prefix: Vec<u8>, tls: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = self.limits;
        let guarded = head::HeadGuard::new(
            io,
            prefix,
            head::HeadLimits {
                max_bytes: limits.max_header_bytes,
                timeout: limits.header_read_timeout,
                tls,
            },
            Arc::clone(&self.state),
        );
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // The guard answers a slow head with a problem document first; hyper's own
            // time-out is the backstop.
            .header_read_timeout(limits.header_read_timeout + Duration::from_secs(5))
            .max_buf_size(limits.max_header_bytes.max(8192) + 16 * 1024);
        let service = self.service();
        let conn = builder.serve_connection(TokioIo::new(guarded), service);
        self.drive(conn, false).await;
    }

    async fn h2<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = self.limits;
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(128)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(10));
        let service = self.service();
        let conn = builder.serve_connection(TokioIo::new(io), service);
        self.drive(conn, true).await;
    }

    /// When the connection must have shown life again: its first byte (before any request
    /// was answered), or its next request.
    fn idle_deadline(&self) -> tokio::time::Instant {
        let wait = if self.state.served() {
            self.limits.idle_timeout
        } else {
            self.limits.header_read_timeout
        };
        if self.state.busy() || self.state.head_started() {
            // Not idle: look again later (a head has its own deadline, a request the
            // router's).
            return tokio::time::Instant::now() + wait;
        }
        tokio::time::Instant::from_std(self.state.last_activity() + wait)
    }

    async fn drive<C: Graceful>(mut self, conn: C, http2: bool) {
        let mut conn = std::pin::pin!(conn);
        let mut closing = false;
        loop {
            let deadline = self.idle_deadline();
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, peer = %self.peer, "connection ended with an error");
                    }
                    return;
                }
                () = tokio::time::sleep_until(deadline) => {
                    if self.state.busy() || self.state.head_started()
                        || tokio::time::Instant::now() < self.idle_deadline()
                    {
                        continue;
                    }
                    // Idle too long. HTTP/2 is told to go away first; HTTP/1.1 has nothing
                    // in flight to lose.
                    if http2 && !closing {
                        conn.as_mut().graceful();
                        closing = true;
                        self.state.touch();
                        continue;
                    }
                    return;
                }
                () = stopped(&mut self.stop), if !closing => {
                    conn.as_mut().graceful();
                    closing = true;
                }
            }
        }
    }
}
