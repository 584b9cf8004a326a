//! Live phases for open pages: one `LISTEN console_channels` per process feeds a broadcast
//! channel, and every open page's event stream (`GET /console/events`) takes from it what its
//! session may see. No page costs a database connection; a page's stream starts with the
//! current phase of the channels it shows, so a change between render and subscribe is not lost.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::broadcast;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use super::ConsoleState;
use super::session::Session;
use super::view::{ConsoleError, ConsoleResult};
use crate::db;
use crate::domain::Phase;

/// Changes buffered per page; a page further behind skips ahead (its next reload is exact).
const BUFFER: usize = 1024;
/// A stream ends after this long and the browser reconnects, so a signed-out session or a
/// revoked key stops hearing within it.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);
/// At most this many channels' current phases start a stream.
const MAX_SNAPSHOT: usize = 100;

/// A channel's phase changed (or it was created).
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct PhaseChange {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub phase: Phase,
}

pub struct Hub {
    sender: broadcast::Sender<PhaseChange>,
    /// Stops the listener when the console's state goes.
    _stop: DropGuard,
}

impl Hub {
    /// Starts the process's listener; it reconnects every second while the session is lost.
    pub fn start(pool: PgPool) -> Hub {
        let (sender, _) = broadcast::channel(BUFFER);
        let stop = CancellationToken::new();
        let listener = forward(pool, sender.clone());
        let stopped = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = listener => {}
                () = stopped.cancelled() => {}
            }
        });
        Hub {
            sender,
            _stop: stop.drop_guard(),
        }
    }
}

async fn forward(pool: PgPool, sender: broadcast::Sender<PhaseChange>) {
    loop {
        match db::listen(&pool, db::console::CHANNELS_CHANNEL).await {
            Ok(mut listener) => loop {
                match listener.recv().await {
                    Ok(notification) => {
                        if let Ok(change) = serde_json::from_str(notification.payload()) {
                            // No page listening is not an error.
                            let _ = sender.send(change);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "console LISTEN connection lost; reconnecting");
                        break;
                    }
                }
            },
            Err(error) => tracing::warn!(%error, "console LISTEN failed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// The ids of the channels the page shows, comma-separated: their current phases come first.
    channels: Option<String>,
}

/// `GET /console/events`: the session's phase changes as Server-Sent Events (`event: channel`).
/// A signed-out page gets 401 (an event stream cannot follow a redirect to the sign-in page).
pub async fn events(
    State(state): State<ConsoleState>,
    session: Result<Session, ConsoleError>,
    Query(query): Query<EventsQuery>,
) -> Response {
    match session {
        Ok(session) => match stream(&state, session, query).await {
            Ok(sse) => sse.into_response(),
            Err(error) => error.into_response(),
        },
        Err(ConsoleError::SignedOut) => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><title>Sign in again</title><p>Sign in again.</p>",
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

async fn stream(
    state: &ConsoleState,
    session: Session,
    query: EventsQuery,
) -> ConsoleResult<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>> {
    // Subscribe before reading the snapshot, so no change falls between the two.
    let receiver = state.hub.sender.subscribe();
    let ids: Vec<Uuid> = query
        .channels
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.trim().parse().ok())
        .take(MAX_SNAPSHOT)
        .collect();
    let snapshot = match ids.is_empty() {
        true => Vec::new(),
        false => db::console::phases_of(&state.pool, &ids).await?,
    };
    let caller = session.caller;
    let visible = move |change: &PhaseChange| caller.can_see(&change.tenant);
    let first: Vec<PhaseChange> = snapshot
        .into_iter()
        .map(|(id, tenant, name, phase)| PhaseChange {
            id,
            tenant,
            name,
            phase,
        })
        .filter(&visible)
        .collect();
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let stream = futures_util::stream::unfold(
        (first.into_iter(), receiver),
        move |(mut first, mut receiver)| {
            let visible = visible.clone();
            async move {
                if let Some(change) = first.next() {
                    return Some((event(&change), (first, receiver)));
                }
                loop {
                    let next = tokio::time::timeout_at(deadline, receiver.recv()).await;
                    match next {
                        Ok(Ok(change)) if visible(&change) => {
                            return Some((event(&change), (first, receiver)));
                        }
                        Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                        Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return None,
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn event(change: &PhaseChange) -> Result<Event, Infallible> {
    let data = serde_json::to_string(change).unwrap_or_default();
    Ok(Event::default().event("channel").data(data))
}
