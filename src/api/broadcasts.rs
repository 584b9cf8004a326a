//! Broadcasts and recordings, as facts from IVS's events and the gap-filling sweep: a channel's
//! stream sessions and recordings, and the operator-wide list of recordings. Newest first,
//! cursor-paginated. History outlives the channel: a deleted channel's lists stay readable here,
//! and `GET /v1/recordings?channel_id=` answers even when the channel's row is gone.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::auth::{Caller, Scope};
use super::channels::visible_channel;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiQuery, ChannelId};
use super::live::{StreamState, StreamStatus};
use super::pagination::{self, PageQuery, TimePosition, page_limit};
use crate::db::{self, broadcasts::FactFilter};
use crate::domain::broadcast::{
    HealthChange, RecordingStatus, Rendition, StreamError, StreamHealth,
};
use crate::domain::rules;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(list_channel_recordings))
        .routes(routes!(list_recordings))
}

/// One broadcast: an IVS stream session of the channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamSession {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub tenant: String,
    /// IVS's id of the session (`st-…`).
    pub stream_id: String,
    /// Null when only its end (or an error) is known so far.
    pub started_at: Option<DateTime<Utc>>,
    /// Null while live.
    pub ended_at: Option<DateTime<Utc>>,
    /// Starvation starts and ends (IVS Stream Health Change), oldest first.
    pub health_changes: Vec<HealthChange>,
    /// Failures, takeover failures, sessions cut for a reason and limit breaches, with IVS's
    /// codes, oldest first.
    pub error_events: Vec<StreamError>,
    /// The most viewers at once, where known.
    pub viewer_peak: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    pub items: Vec<StreamSession>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One recording: what IVS wrote to S3 for one session (reconnects within the window merged).
#[derive(Debug, Serialize, ToSchema)]
pub struct Recording {
    pub id: Uuid,
    /// IVS's recording id: the last element of `prefix`.
    pub recording_id: String,
    pub channel_id: Uuid,
    pub tenant: String,
    pub channel_arn: String,
    pub status: RecordingStatus,
    /// IVS's reason, when `failed`.
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub bucket: Option<String>,
    /// `ivs/v1/<account>/<channel id>/<y>/<m>/<d>/<h>/<min>/<recording id>`.
    pub prefix: Option<String>,
    /// The key of `media/hls/master.m3u8` under the prefix.
    pub master_playlist_key: Option<String>,
    /// The byte-range multivariant playlist's key, where IVS wrote one (from the recording's
    /// metadata, which the sweep reads).
    pub byte_range_playlist_key: Option<String>,
    /// The renditions with their playlist keys (from the recording's metadata).
    pub renditions: Option<Vec<Rendition>>,
    /// Where the thumbnails are (from the recording's metadata).
    pub thumbnails_prefix: Option<String>,
    /// The stream sessions recorded into it.
    pub stream_ids: Vec<String>,
    pub recording_session_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingPage {
    pub items: Vec<Recording>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<db::broadcasts::SessionRow> for StreamSession {
    fn from(r: db::broadcasts::SessionRow) -> Self {
        StreamSession {
            id: r.id,
            channel_id: r.channel_id,
            tenant: r.tenant,
            stream_id: r.stream_id,
            started_at: r.started_at,
            ended_at: r.ended_at,
            health_changes: r.health_changes.0,
            error_events: r.error_events.0,
            viewer_peak: r.viewer_peak,
        }
    }
}

impl From<db::broadcasts::RecordingRow> for Recording {
    fn from(r: db::broadcasts::RecordingRow) -> Self {
        Recording {
            id: r.id,
            recording_id: r.recording_id,
            channel_id: r.channel_id,
            tenant: r.tenant,
            channel_arn: r.channel_arn,
            status: r.status,
            reason: r.reason,
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_ms: r.duration_ms,
            bucket: r.bucket,
            prefix: r.prefix,
            master_playlist_key: r.master_playlist_key,
            byte_range_playlist_key: r.byte_range_playlist_key,
            renditions: r.renditions.map(|j| j.0),
            thumbnails_prefix: r.thumbnails_prefix,
            stream_ids: r.stream_ids,
            recording_session_id: r.recording_session_id,
        }
    }
}

/// The filter of a page of one channel's facts and its size, once the caller may read the
/// channel (404 for another tenant's).
async fn channel_page(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    q: &PageQuery,
) -> ApiResult<(FactFilter<'static>, i64)> {
    caller.require(Scope::ChannelsRead)?;
    let limit = page_limit(q.limit)?;
    let before = pagination::decode::<TimePosition>(q.cursor.as_deref())?;
    visible_channel(state, caller, id).await?;
    let filter = FactFilter {
        channel_id: Some(id),
        before: before.map(|p| (p.0, p.1)),
        limit: limit + 1,
        ..Default::default()
    };
    Ok((filter, limit))
}

/// A channel's broadcasts, newest first.
///
/// From IVS's events (`IVS_EVENTS_QUEUE_URL`) and the sweep that fills what they miss. A
/// deleted channel's sessions stay listed.
#[utoipa::path(
    get, path = "/v1/channels/{id}/sessions", tag = "broadcasts",
    params(("id" = Uuid, Path, description = "Channel id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of sessions", body = SessionPage))
)]
async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<SessionPage>> {
    let (filter, limit) = channel_page(&state, &caller, id, &q).await?;
    let rows = db::broadcasts::sessions(&state.pool, &filter).await?;
    let (rows, next_cursor) = pagination::cut(rows, limit, |r| TimePosition(r.listed_at, r.id));
    Ok(Json(SessionPage {
        items: rows.into_iter().map(StreamSession::from).collect(),
        next_cursor,
    }))
}

/// A channel's recordings, newest first.
///
/// A deleted channel's recordings stay listed.
#[utoipa::path(
    get, path = "/v1/channels/{id}/recordings", tag = "broadcasts",
    params(("id" = Uuid, Path, description = "Channel id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of recordings", body = RecordingPage))
)]
async fn list_channel_recordings(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<RecordingPage>> {
    let (filter, limit) = channel_page(&state, &caller, id, &q).await?;
    recording_page(&state, &filter, limit).await.map(Json)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListRecordingsQuery {
    /// Only this tenant's recordings (a tenant-bound key sees only its own anyway).
    #[param(max_length = 64, pattern = "^[a-zA-Z0-9_-]{1,64}$")]
    tenant: Option<String>,
    /// Only this channel's, also after its row is gone.
    channel_id: Option<Uuid>,
    /// Only recordings in this status.
    status: Option<RecordingStatus>,
    /// Only recordings that started (or, start unknown, ended) at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Page size, 1-100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
}

/// Recordings across channels, newest first (operators, booking systems).
///
/// A tenant-bound key sees only its tenant's. Filters: `tenant`, `channel_id` (answers for a
/// deleted channel too), `status`, `since`.
#[utoipa::path(
    get, path = "/v1/recordings", tag = "broadcasts",
    params(ListRecordingsQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of recordings", body = RecordingPage))
)]
async fn list_recordings(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListRecordingsQuery>,
) -> ApiResult<Json<RecordingPage>> {
    caller.require(Scope::ChannelsRead)?;
    let limit = page_limit(q.limit)?;
    let before = pagination::decode::<TimePosition>(q.cursor.as_deref())?;
    if let Some(Err(message)) = q
        .tenant
        .as_deref()
        .map(|t| rules::no_control_characters(t, "tenant"))
    {
        return Err(ApiError::Validation(vec![FieldError::new(
            "tenant", message,
        )]));
    }
    let asked = q.tenant.as_deref();
    if let (Some(own), Some(asked)) = (caller.tenant.as_deref(), asked)
        && own != asked
    {
        return Ok(Json(RecordingPage {
            items: vec![],
            next_cursor: None,
        }));
    }
    let filter = FactFilter {
        channel_id: q.channel_id,
        tenant: caller.tenant.as_deref().or(asked),
        status: q.status,
        since: q.since,
        before: before.map(|p| (p.0, p.1)),
        limit: limit + 1,
    };
    recording_page(&state, &filter, limit).await.map(Json)
}

async fn recording_page(
    state: &AppState,
    filter: &FactFilter<'_>,
    limit: i64,
) -> ApiResult<RecordingPage> {
    let rows = db::broadcasts::recordings(&state.pool, filter).await?;
    let (rows, next_cursor) = pagination::cut(rows, limit, |r| TimePosition(r.listed_at, r.id));
    Ok(RecordingPage {
        items: rows.into_iter().map(Recording::from).collect(),
        next_cursor,
    })
}

/// The channel's live status from its open session, when IVS's events (or the sweep) say it is
/// live: no AWS call. `None` when no session is open; the caller then asks IVS.
pub(crate) async fn live_from_session(
    state: &AppState,
    channel_id: Uuid,
) -> ApiResult<Option<StreamStatus>> {
    let Some(session) = db::broadcasts::open_session(&state.pool, channel_id).await? else {
        return Ok(None);
    };
    let health = match session.health_changes.0.last().map(|h| h.state) {
        Some(StreamHealth::Starving) => "STARVING",
        Some(StreamHealth::Healthy) | None => "HEALTHY",
    };
    Ok(Some(StreamStatus {
        state: StreamState::Live,
        health: Some(health.to_owned()),
        viewer_count: None,
        start_time: session.started_at,
        stream_id: Some(session.stream_id),
        checked_at: Utc::now(),
        error: None,
    }))
}
