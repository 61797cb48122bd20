//! The accept loop. `axum::serve` offers no header timeout, no idle timeout
//! and no connection cap, so connections are served with hyper-util's builder
//! directly: hyper's `header_read_timeout` cuts off a client that stalls its
//! headers, a per-connection watchdog closes idle connections, a socket
//! wrapper cuts off a client that stops reading its answer, and a semaphore
//! caps the connections served at once (the rest wait in the listen backlog).
//! The request itself (body, execution) is time-boxed by the edge's
//! deadline (`edge.rs`).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::{Service, ServiceExt};

/// What the accept loop serves: the gateway's edge, or the metrics router.
pub(crate) trait Serves:
    Service<http::Request<Body>, Response = Response, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<S> Serves for S where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// The connection limits (from `[server]`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnLimits {
    /// time to send a request's headers (HTTP/1.1)
    pub(crate) header_timeout: Duration,
    /// a connection with no request in flight closes after this long
    pub(crate) idle_timeout: Duration,
    /// a client that reads none of its answer for this long is dropped
    pub(crate) write_timeout: Duration,
    /// connections served at once
    pub(crate) max_connections: usize,
}

impl ConnLimits {
    pub(crate) fn from_settings(s: &super::ServerSettings) -> Self {
        Self {
            header_timeout: s.header_timeout,
            idle_timeout: s.idle_timeout,
            write_timeout: s.request_timeout,
            max_connections: s.max_connections.max(1),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets every connection finish its request in flight, and
/// returns once all have closed (the caller bounds that wait).
pub(crate) async fn serve(
    listener: TcpListener,
    router: impl Serves,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    // far above any sane connection count; keeps `acquire_many` exact
    let max = limits
        .max_connections
        .min(Semaphore::MAX_PERMITS)
        .min(u32::MAX as usize);
    let permits = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // out of file descriptors and the like: back off, keep serving
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let router = router.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            serve_connection(builder, stream, peer, router, limits, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // every connection holds a permit until it closes
    let _ = permits
        .acquire_many(u32::try_from(max).unwrap_or(u32::MAX))
        .await;
}

async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    stream: TcpStream,
    peer: SocketAddr,
    router: impl Serves,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
    let tracked = activity.clone();
    let service =
        hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let busy = tracked.begin();
            let router = router.clone();
            async move {
                let resp: Result<_, Infallible> = router.oneshot(req.map(Body::new)).await;
                drop(busy);
                resp
            }
        });
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = activity.idle(limits), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// Requests in flight on one connection, and when the last one ended.
struct Activity {
    started: Instant,
    /// requests begun so far
    begun: AtomicU64,
    in_flight: AtomicUsize,
    /// milliseconds since `started` of the last request start or end
    last: AtomicU64,
}

/// Held while a request is served.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            begun: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Release);
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.begun.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Busy(self.clone())
    }

    /// Resolves once no request has been in flight for `idle_timeout`, or
    /// when none has begun within `header_timeout` of the connection opening
    /// (a client that connects and sends nothing, or too little for hyper to
    /// tell HTTP/1.1 from HTTP/2, is not yet under hyper's header timer).
    async fn idle(&self, limits: ConnLimits) {
        loop {
            if self.in_flight.load(Ordering::Acquire) > 0 {
                // busy: the end of the request re-arms the deadline
                tokio::time::sleep(limits.idle_timeout).await;
                continue;
            }
            let last = self.last.load(Ordering::Acquire);
            let timeout = if self.begun.load(Ordering::Acquire) == 0 {
                limits.header_timeout.min(limits.idle_timeout)
            } else {
                limits.idle_timeout
            };
            tokio::time::sleep_until(self.started + Duration::from_millis(last) + timeout).await;
            if self.in_flight.load(Ordering::Acquire) == 0
                && self.last.load(Ordering::Acquire) == last
            {
                return;
            }
        }
    }
}

/// A socket whose writes fail once the peer has accepted no byte for
/// `limit`: a client that stops reading cannot hold its connection.
struct WriteDeadline<T> {
    inner: T,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteDeadline<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

    /// The write is pending: has it been pending for too long?
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ));
        }
        Ok(())
    }

    fn progress<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match r {
            Poll::Pending => match self.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progress(cx, r)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_peer_that_stops_reading_fails_the_write_after_the_limit() {
        let (near, _far) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(near, Duration::from_millis(200));
        let started = Instant::now();
        let err = w.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn a_slow_but_steady_reader_is_never_cut_off() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(near, Duration::from_millis(500));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = [0u8; 16];
            // 16 bytes every 20 ms: every stall is far below the limit
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match far.read(&mut buf).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n,
                }
            }
        });
        w.write_all(&[1u8; 512]).await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), 512);
    }

    #[tokio::test]
    async fn idle_waits_for_requests_in_flight() {
        let limits = ConnLimits {
            header_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            write_timeout: Duration::from_secs(30),
            max_connections: 1,
        };
        let a = Arc::new(Activity::new());
        // nothing ever sent: the (shorter) header timeout applies
        let t = Instant::now();
        a.idle(limits).await;
        assert!(t.elapsed() < Duration::from_secs(2));
        // a request in flight far longer than the idle timeout holds it open
        let busy = a.begin();
        let watch = {
            let a = a.clone();
            tokio::spawn(async move { a.idle(limits).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!watch.is_finished());
        drop(busy);
        tokio::time::timeout(Duration::from_secs(3), watch)
            .await
            .expect("idle once the request ended")
            .unwrap();
    }
}
