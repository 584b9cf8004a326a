//! Broadcast facts on the console's pages: a channel's stream sessions and its recordings with
//! their S3 locations, and the overview's recent recordings (the key's tenant, or all).

use uuid::Uuid;

use super::ConsoleState;
use super::view::{Time, time};
use crate::db;
use crate::db::broadcasts::{FactFilter, RecordingRow, SessionRow};

/// Sessions and recordings shown on a channel page, and on the overview.
const SHOWN: i64 = 10;

pub struct SessionLine {
    pub stream_id: String,
    pub started: Option<Time>,
    pub ended: Option<Time>,
    pub live: bool,
    /// The latest health change, e.g. `starving`.
    pub health: Option<String>,
    pub errors: Vec<String>,
    pub viewer_peak: Option<i64>,
}

impl From<SessionRow> for SessionLine {
    fn from(s: SessionRow) -> Self {
        SessionLine {
            live: s.started_at.is_some() && s.ended_at.is_none(),
            stream_id: s.stream_id,
            started: time(s.started_at),
            ended: time(s.ended_at),
            health: s
                .health_changes
                .0
                .last()
                .map(|h| format!("{:?}", h.state).to_lowercase()),
            errors: s
                .error_events
                .0
                .iter()
                .map(|e| {
                    let code = e.code.as_deref().unwrap_or_default();
                    format!(
                        "{} {code} {}",
                        e.event,
                        e.message.as_deref().unwrap_or_default()
                    )
                    .trim()
                    .to_owned()
                })
                .collect(),
            viewer_peak: s.viewer_peak,
        }
    }
}

pub struct RecordingLine {
    pub channel_id: Uuid,
    pub recording_id: String,
    pub status: &'static str,
    pub reason: Option<String>,
    pub started: Option<Time>,
    pub duration: Option<String>,
    /// `s3://bucket/prefix/`.
    pub location: Option<String>,
    /// `s3://bucket/<master playlist key>`.
    pub playlist: Option<String>,
}

impl From<RecordingRow> for RecordingLine {
    fn from(r: RecordingRow) -> Self {
        let bucket = r.bucket.clone();
        let object = |key: Option<&str>| Some(format!("s3://{}/{}", bucket.as_deref()?, key?));
        RecordingLine {
            channel_id: r.channel_id,
            location: object(r.prefix.as_deref()),
            playlist: object(r.master_playlist_key.as_deref()),
            recording_id: r.recording_id,
            status: r.status.as_str(),
            reason: r.reason,
            started: time(r.started_at),
            duration: r.duration_ms.map(|ms| {
                let secs = ms / 1000;
                format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
            }),
        }
    }
}

/// The channel's newest sessions and recordings (the caller may see the channel).
pub async fn of_channel(
    state: &ConsoleState,
    id: Uuid,
) -> sqlx::Result<(Vec<SessionLine>, Vec<RecordingLine>)> {
    let filter = FactFilter {
        channel_id: Some(id),
        limit: SHOWN,
        ..Default::default()
    };
    let sessions = db::broadcasts::sessions(&state.pool, &filter).await?;
    let recordings = db::broadcasts::recordings(&state.pool, &filter).await?;
    Ok((
        sessions.into_iter().map(SessionLine::from).collect(),
        recordings.into_iter().map(RecordingLine::from).collect(),
    ))
}

/// The newest recordings of the tenant (or every tenant).
pub async fn recent(
    state: &ConsoleState,
    tenant: Option<&str>,
) -> sqlx::Result<Vec<RecordingLine>> {
    let filter = FactFilter {
        tenant,
        limit: SHOWN,
        ..Default::default()
    };
    let rows = db::broadcasts::recordings(&state.pool, &filter).await?;
    Ok(rows.into_iter().map(RecordingLine::from).collect())
}
