//! Bounded HTTP connections: the accept loop, a cap on concurrent connections, and the timeouts
//! that close a connection which does not finish its request head or sits idle between requests.
//!
//! Why not `axum::serve`: it keeps a connection that never completes its request head for ever
//! and accepts until the process runs out of file descriptors (then every accept fails, once a
//! second, and the service is off the air while a client holds its connections). Here:
//! - a connection that takes longer than the header-read timeout to deliver a request head (from
//!   accept, or from the first byte of a later request) is closed, however it trickles bytes;
//! - one idle between requests (or stalled while its response is written) longer than the
//!   keep-alive idle timeout is closed;
//! - at most `max_connections` are open at once: when all slots are taken the loop stops
//!   accepting, so further clients wait in the kernel's listen backlog instead of using
//!   descriptors, and get their turn as slots free;
//! - accept errors (EMFILE and the like) back off 100 ms and are logged at most once a second.
//!
//! hyper's own `header_read_timeout` is not used: it also runs while a keep-alive connection
//! waits for its next request, so the idle timeout could never be longer than it.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a connection may take and how many may be open.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub keep_alive_idle: Duration,
    /// The cap in force (the setting fitted into the open-files limit).
    pub max_connections: usize,
}

/// Pause after an accept error that is not about one connection (out of descriptors, memory).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts and serves connections until `stop` is cancelled, then stops accepting, lets each
/// connection finish its request in flight (idle ones close at once) and returns when all are
/// closed. The caller bounds that wait with its grace period.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    // A slot per connection; the semaphore's size is bounded by what `acquire_many` can take.
    let slots_total = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(slots_total as usize));
    let mut errors = AcceptErrors::default();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = stop.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                tokio::spawn(serve_connection(
                    stream,
                    router.clone(),
                    limits,
                    stop.clone(),
                    slot,
                ));
            }
            // The peer gave up while queued: nothing wrong with the listener.
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                errors.report(&error);
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    () = stop.cancelled() => break,
                }
            }
        }
    }
    // Stop accepting: new clients are refused by the kernel rather than queued.
    drop(listener);
    // Every connection holds a slot until it is closed.
    let _all_closed = slots.acquire_many(slots_total).await;
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

/// Logs accept errors at most once a second, with how many were not logged.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    fn report(&mut self, error: &io::Error) {
        let now = Instant::now();
        if self
            .last_logged
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        tracing::error!(
            %error,
            suppressed = self.suppressed,
            "accept error; retrying in 100 ms (suppressed: errors since the last line)"
        );
        self.last_logged = Some(now);
        self.suppressed = 0;
    }
}

/// Serves one connection until the client closes it, a timeout closes it, or shutdown ends it;
/// then gives its slot back.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service_activity = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let router = router.clone();
        let activity = service_activity.clone();
        // Called once the request head is complete.
        activity.set(Phase::Handling);
        async move {
            let response = router
                .oneshot(request.map(Body::new))
                .await
                .unwrap_or_else(|never| match never {});
            activity.set(Phase::Responding);
            Ok::<_, Infallible>(response.map(|body| TrackedBody { body, activity }))
        }
    });
    let mut builder = http1::Builder::new();
    // The head and idle timeouts are the watchdog's (see the module comment).
    builder.header_read_timeout(None);
    let mut connection = std::pin::pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            phase = activity.expired(&limits) => {
                // Dropping the connection closes the socket.
                tracing::debug!(?phase, "closing a connection that exceeded its timeout");
                break;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection is doing; each phase has its own deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
enum Phase {
    /// Waiting for (the rest of) a request head: the header-read timeout, from accept or from the
    /// first byte after an idle period; bytes trickling in do not extend it.
    Head = 0,
    /// The application has the request: no deadline here (the request timeout bounds it).
    Handling = 1,
    /// The response is being written: closed after the idle timeout without progress.
    Responding = 2,
    /// Between requests: the keep-alive idle timeout.
    Idle = 3,
}

impl Phase {
    fn from_bits(bits: u64) -> Phase {
        match bits & 3 {
            0 => Phase::Head,
            1 => Phase::Handling,
            2 => Phase::Responding,
            _ => Phase::Idle,
        }
    }
}

/// A connection's phase and when it began (milliseconds since accept), in one atomic so the
/// watchdog never reads a phase with another phase's start.
struct Activity {
    accepted: Instant,
    state: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            accepted: Instant::now(),
            state: AtomicU64::new(Phase::Head as u64),
        }
    }

    fn now_millis(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX >> 2)
    }

    fn load(&self) -> (Phase, Instant) {
        let state = self.state.load(Ordering::Acquire);
        (
            Phase::from_bits(state),
            self.accepted + Duration::from_millis(state >> 2),
        )
    }

    fn set(&self, phase: Phase) {
        self.state
            .store((self.now_millis() << 2) | phase as u64, Ordering::Release);
    }

    fn phase(&self) -> Phase {
        Phase::from_bits(self.state.load(Ordering::Acquire))
    }

    fn on_read(&self) {
        match self.phase() {
            // The first byte of the next request starts the header-read timeout.
            Phase::Idle => self.set(Phase::Head),
            // A client reading its response slowly is making progress.
            Phase::Responding => self.set(Phase::Responding),
            Phase::Head | Phase::Handling => {}
        }
    }

    fn on_write(&self) {
        if self.phase() == Phase::Responding {
            self.set(Phase::Responding);
        }
    }

    /// Resolves when the current phase has lasted longer than its limit.
    async fn expired(&self, limits: &ConnectionLimits) -> Phase {
        loop {
            let (phase, since) = self.load();
            let limit = match phase {
                Phase::Head => limits.header_read_timeout,
                Phase::Responding | Phase::Idle => limits.keep_alive_idle,
                // Look again later: the phase changes without waking this future.
                Phase::Handling => {
                    tokio::time::sleep(limits.header_read_timeout.min(limits.keep_alive_idle))
                        .await;
                    continue;
                }
            };
            let deadline = since + limit;
            if Instant::now() >= deadline {
                return phase;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// The connection's socket, reporting reads and writes to its [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that marks the connection idle when hyper is done with it (dropped after its
/// last frame is written, or with the connection).
struct TrackedBody {
    body: Body,
    activity: Arc<Activity>,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.activity.set(Phase::Idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short real durations: tokio's paused clock needs a feature the build does not enable.
    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(200),
            keep_alive_idle: Duration::from_millis(600),
            max_connections: 1,
        }
    }

    fn between(elapsed: Duration, low_ms: u64, high_ms: u64) -> bool {
        elapsed >= Duration::from_millis(low_ms) && elapsed < Duration::from_millis(high_ms)
    }

    #[tokio::test]
    async fn a_head_that_trickles_in_still_expires_at_the_header_timeout() {
        let started = Instant::now();
        let activity = Arc::new(Activity::new());
        let trickle = tokio::spawn({
            let activity = activity.clone();
            async move {
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    activity.on_read();
                }
            }
        });

        assert_eq!(activity.expired(&limits()).await, Phase::Head);
        assert!(
            between(started.elapsed(), 200, 400),
            "{:?}",
            started.elapsed()
        );
        trickle.abort();
    }

    #[tokio::test]
    async fn an_idle_connection_gets_the_idle_timeout_then_a_new_head_the_header_timeout() {
        let activity = Activity::new();
        activity.set(Phase::Idle);
        let idle = Instant::now();
        assert_eq!(activity.expired(&limits()).await, Phase::Idle);
        assert!(between(idle.elapsed(), 600, 800), "{:?}", idle.elapsed());

        activity.set(Phase::Idle);
        tokio::time::sleep(Duration::from_millis(400)).await;
        activity.on_read();
        let head = Instant::now();
        assert_eq!(activity.expired(&limits()).await, Phase::Head);
        assert!(between(head.elapsed(), 200, 400), "{:?}", head.elapsed());
    }

    #[tokio::test]
    async fn a_request_being_handled_has_no_deadline_of_its_own() {
        let activity = Arc::new(Activity::new());
        activity.set(Phase::Handling);
        let watch = tokio::spawn({
            let activity = activity.clone();
            async move { activity.expired(&limits()).await }
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !watch.is_finished(),
            "a handled request outlives both timeouts"
        );

        activity.set(Phase::Idle);
        assert_eq!(watch.await.expect("the watchdog"), Phase::Idle);
    }

    #[test]
    fn accept_errors_are_logged_at_most_once_a_second() {
        let mut errors = AcceptErrors::default();
        let error = io::Error::from_raw_os_error(24);
        errors.report(&error);
        errors.report(&error);
        errors.report(&error);
        assert_eq!(errors.suppressed, 2);
    }
}
