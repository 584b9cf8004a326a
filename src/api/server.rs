//! Building and running the HTTP server: middleware, the listener, and graceful shutdown.
//! `Application::build` binds first and exposes the port, so tests can use port 0; the
//! connections themselves (cap, timeouts, accept loop) are `connections`'.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

use super::connections::{self, ConnectionLimits};
use super::error::{ApiError, problem_for_bare_errors};
use super::open_files;
use super::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application with its middleware.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The application with `extra` routes beside the API's (the console), sharing its port and
/// its outer middleware (timeouts, tracing, request ids) but not its request budgets.
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    let (api, doc) = super::routes();
    let settings = state.settings.clone();
    crate::metrics::install();
    // Request budgets on the API's own routes only (not the docs, metrics or fallbacks), after
    // routing so that minting can spend from a budget of its own.
    let api = api.route_layer(from_fn_with_state(
        state.clone(),
        super::rate_limit::enforce,
    ));
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .merge(extra)
        // Prometheus text; unauthenticated like /healthz (no secrets, and scrapers send no key).
        .route("/metrics", axum::routing::get(super::metrics::render))
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(from_fn(super::metrics::track_http))
        .with_state(state)
        .layer(from_fn(run_to_completion))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        // Outside the timeout and panic layers, so their bare responses become problems too.
        .layer(map_response(problem_for_bare_errors))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                let request_id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("http", method = %request.method(), route, request_id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
}

/// Runs each request on a task of its own, so it finishes even when the client disconnects or
/// the timeout answers first. A handler dropped in the middle of `pool.begin()` would return its
/// connection to the pool inside an open transaction (sqlx 0.8's `begin` is not cancel-safe on
/// Postgres), where later statements, the reconciler's too, would run and hold their locks.
/// A panic in the task becomes a 500 problem, as the panic layer would make it.
async fn run_to_completion(request: Request, next: Next) -> Response {
    use tracing::Instrument;
    // In the request's span, so the task's log lines keep the request id.
    match tokio::spawn(next.run(request).in_current_span()).await {
        Ok(response) => response,
        Err(error) => {
            ApiError::Internal(anyhow::anyhow!("request task failed: {error}")).into_response()
        }
    }
}

/// A bound, not yet running, server.
pub struct Application {
    listener: TcpListener,
    router: Router,
    shutdown_grace: Duration,
    limits: ConnectionLimits,
}

impl Application {
    /// Binds, and raises the open-files soft limit to the hard limit (logged), so the connection
    /// cap can be fitted into what the process may open.
    pub async fn build(bind: SocketAddr, state: AppState) -> anyhow::Result<Self> {
        Self::build_with(bind, state, Router::new()).await
    }

    /// [`Application::build`] with `extra` routes beside the API's (see [`app_with`]).
    pub async fn build_with(
        bind: SocketAddr,
        state: AppState,
        extra: Router<AppState>,
    ) -> anyhow::Result<Self> {
        let listener = listen(bind).with_context(|| format!("cannot listen on {bind}"))?;
        let settings = &state.settings;
        let open_files = open_files::raise_to_hard_limit();
        let max_connections = open_files::fit_connection_cap(settings.max_connections, open_files);
        if max_connections < settings.max_connections {
            tracing::warn!(
                max_connections,
                setting = settings.max_connections,
                reserved = open_files::RESERVED_FILES,
                "HTTP connection cap lowered to fit the open-files limit"
            );
        } else {
            tracing::info!(max_connections, "HTTP connection cap");
        }
        let limits = ConnectionLimits {
            header_read_timeout: settings.header_read_timeout,
            keep_alive_idle: settings.keep_alive_idle,
            max_connections,
        };
        let shutdown_grace = settings.shutdown_grace;
        Ok(Application {
            listener,
            router: app_with(state, extra),
            shutdown_grace,
            limits,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish
    /// for the grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let server = connections::serve(self.listener, self.router, self.limits, stop.clone());
        let grace = self.shutdown_grace;
        tokio::select! {
            () = server => Ok(()),
            () = async move {
                shutdown.await;
                stop.cancel();
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("in-flight requests did not finish within the shutdown grace period");
                Ok(())
            }
        }
    }
}

/// Connections waiting to be accepted. At the connection cap the service stops accepting and
/// clients queue here, holding no descriptor of this process; `TcpListener::bind` would give 128,
/// beyond which the kernel drops new clients' SYNs and they reconnect only after TCP's
/// retransmission delays (1, 3, 7 s...). The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds like `TcpListener::bind` (with `SO_REUSEADDR`, so a restart can rebind at once), with a
/// deeper backlog.
fn listen(bind: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if bind.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(bind)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
