//! Broadcasts as facts: a stream session (one IVS `stream_id`: start, end, health changes,
//! errors, viewer peak) and a recording (one S3 prefix: status, times, duration, playlists,
//! renditions, thumbnails, stream ids), as IVS's events and the gap-filling sweep state them.
//! Facts merge whatever order they arrive in (the database applies the same rules); the audit
//! entries a fact earns carry a key that makes each of them happen once. Pure: no I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::EventKind;

/// Where a fact came from: an IVS event through the queue, or the sweep asking IVS and S3.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FactSource {
    Event,
    Sweep,
}

impl FactSource {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The actor of the audit entries this source writes.
    pub fn actor(self) -> &'static str {
        match self {
            FactSource::Event => super::event::actor::IVS_EVENTS,
            FactSource::Sweep => super::event::actor::BROADCAST_SWEEP,
        }
    }
}

/// A stream's health as its starvation events tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamHealth {
    /// Starvation Start: the encoder stopped sending data.
    Starving,
    /// Starvation End: data resumed.
    Healthy,
}

/// One health change of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthChange {
    pub at: DateTime<Utc>,
    pub state: StreamHealth,
}

/// One error IVS reported about a session: a stream failure, a takeover failure, a session cut
/// for a reason, a limit breach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamError {
    pub at: DateTime<Utc>,
    /// IVS's event name (`Stream Failure`, `Stream Takeover Failure`, `Session Ended`,
    /// `Limit Breach`).
    pub event: String,
    /// IVS's code (`StreamTakeoverInvalidPriority`, `MultitrackInputNotAllowed`, the limit's name).
    pub code: Option<String>,
    /// IVS's text, or the limit and by how much it was exceeded.
    pub message: Option<String>,
}

/// What one event or one sweep finding says about a stream session. Every field but the
/// stream id is optional: a fact states only what its source knew.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionFact {
    pub stream_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub health: Vec<HealthChange>,
    pub errors: Vec<StreamError>,
    /// The most viewers seen at once, where known (merged as the maximum).
    pub viewer_peak: Option<i64>,
}

impl SessionFact {
    /// A fact about `stream_id` that states nothing yet.
    pub fn new(stream_id: &str) -> Self {
        SessionFact {
            stream_id: stream_id.to_owned(),
            started_at: None,
            ended_at: None,
            health: vec![],
            errors: vec![],
            viewer_peak: None,
        }
    }
}

/// A recording's status. The order is the order facts converge to: a terminal status (`ready`
/// or `failed`) is never replaced by `recording`, whatever order the events arrive in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RecordingStatus {
    /// Recording Start: IVS is writing it.
    Recording,
    /// Recording End: complete, playable from its master playlist.
    Ready,
    /// Recording Start Failure or Recording End Failure: `reason` holds IVS's.
    Failed,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// How far along a status is; facts keep the highest (the database's merge uses it too).
    pub fn rank(self) -> i16 {
        match self {
            RecordingStatus::Recording => 0,
            RecordingStatus::Ready => 1,
            RecordingStatus::Failed => 2,
        }
    }
}

/// One rendition of a recording, with its object keys (from `recording-ended.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rendition {
    /// IVS's name for it, e.g. `720p60`.
    pub path: String,
    pub playlist_key: String,
    pub byte_range_playlist_key: Option<String>,
    pub resolution_width: Option<i64>,
    pub resolution_height: Option<i64>,
}

/// What one event or one sweep finding says about a recording (one S3 prefix).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingFact {
    /// The last element of the S3 prefix (IVS's recording id); for a start failure, which has
    /// no prefix, the recording session id or else the stream id.
    pub recording_id: String,
    pub status: RecordingStatus,
    /// IVS's reason, with `failed`.
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub master_playlist_key: Option<String>,
    pub byte_range_playlist_key: Option<String>,
    pub renditions: Option<Vec<Rendition>>,
    pub thumbnails_prefix: Option<String>,
    pub stream_ids: Vec<String>,
    pub recording_session_id: Option<String>,
}

/// The recording id of an S3 prefix: its last element.
pub fn recording_id_of_prefix(prefix: &str) -> Option<String> {
    prefix
        .trim_matches('/')
        .rsplit('/')
        .next()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// The master playlist's key under a recording prefix. IVS always writes it at `media/hls/
/// master.m3u8` (the metadata's `media.hls.path` and `.playlist`, docs/aws-facts.md §14), so an
/// event, which carries only the prefix, can name it.
pub fn master_playlist_key(prefix: &str) -> String {
    format!("{}/media/hls/master.m3u8", prefix.trim_matches('/'))
}

/// A recording's `events/recording-ended.json` (or `recording-failed.json`) under `prefix` in
/// `bucket`, as a fact: status, times, the reliable duration, the playlists, renditions and
/// thumbnails (docs/aws-facts.md §14). `None` when the document is not IVS's metadata.
pub fn recording_fact_from_metadata(
    bucket: &str,
    prefix: &str,
    metadata: &Value,
) -> Option<RecordingFact> {
    let prefix = prefix.trim_matches('/');
    let recording_id = recording_id_of_prefix(prefix)?;
    let time = |field: &str| {
        metadata[field]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let status = match metadata["recording_status"].as_str()? {
        "RECORDING_STARTED" => RecordingStatus::Recording,
        "RECORDING_ENDED" => RecordingStatus::Ready,
        "RECORDING_ENDED_WITH_FAILURE" => RecordingStatus::Failed,
        _ => return None,
    };
    let hls = &metadata["media"]["hls"];
    let hls_path = hls["path"].as_str().unwrap_or("media/hls");
    let key = |relative: &str| format!("{prefix}/{hls_path}/{relative}");
    let renditions = hls["renditions"].as_array().map(|all| {
        all.iter()
            .filter_map(|r| {
                let path = r["path"].as_str()?;
                Some(Rendition {
                    path: path.to_owned(),
                    playlist_key: key(&format!(
                        "{path}/{}",
                        r["playlist"].as_str().unwrap_or("playlist.m3u8")
                    )),
                    byte_range_playlist_key: r["byte_range_playlist"]
                        .as_str()
                        .map(|p| key(&format!("{path}/{p}"))),
                    resolution_width: r["resolution_width"].as_i64(),
                    resolution_height: r["resolution_height"].as_i64(),
                })
            })
            .collect()
    });
    Some(RecordingFact {
        recording_id,
        status,
        reason: metadata["recording_status_message"]
            .as_str()
            .filter(|m| !m.is_empty() && status == RecordingStatus::Failed)
            .map(str::to_owned),
        started_at: time("recording_started_at"),
        ended_at: time("recording_ended_at"),
        duration_ms: hls["duration_ms"].as_i64(),
        bucket: Some(bucket.to_owned()),
        master_playlist_key: Some(key(hls["playlist"].as_str().unwrap_or("master.m3u8"))),
        byte_range_playlist_key: hls["byte_range_playlist"].as_str().map(key),
        renditions,
        thumbnails_prefix: metadata["media"]["thumbnails"]["path"]
            .as_str()
            .map(|p| format!("{prefix}/{}", p.trim_matches('/'))),
        prefix: Some(prefix.to_owned()),
        stream_ids: vec![],
        recording_session_id: None,
    })
}

/// An audit entry a fact earns: its kind, the key that makes it happen once per channel, and
/// its details (never a secret: ids, times, S3 locations).
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    pub kind: EventKind,
    pub once_key: String,
    pub details: Value,
}

/// A session as stored after a fact was merged into it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    pub stream_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl SessionState {
    /// `stream_started` once the start is known, `stream_ended` once the end is.
    pub fn audits(&self, source: FactSource) -> Vec<Audit> {
        let details = |at: DateTime<Utc>| {
            json!({
                "stream_id": self.stream_id,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
                "at": at,
                "source": source,
            })
        };
        let entry = |kind: EventKind, at: Option<DateTime<Utc>>| {
            at.map(|at| Audit {
                kind,
                once_key: format!("{}:{}", kind.as_str(), self.stream_id),
                details: details(at),
            })
        };
        [
            entry(EventKind::StreamStarted, self.started_at),
            entry(EventKind::StreamEnded, self.ended_at),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A recording as stored after a fact was merged into it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingState {
    pub recording_id: String,
    pub status: RecordingStatus,
    pub reason: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub master_playlist_key: Option<String>,
    pub duration_ms: Option<i64>,
}

impl RecordingState {
    /// `recording_ready` or `recording_failed` once the recording is terminal.
    pub fn audits(&self, source: FactSource) -> Vec<Audit> {
        let kind = match self.status {
            RecordingStatus::Recording => return vec![],
            RecordingStatus::Ready => EventKind::RecordingReady,
            RecordingStatus::Failed => EventKind::RecordingFailed,
        };
        vec![Audit {
            kind,
            once_key: format!("{}:{}", kind.as_str(), self.recording_id),
            details: json!({
                "recording_id": self.recording_id,
                "status": self.status,
                "reason": self.reason,
                "bucket": self.bucket,
                "prefix": self.prefix,
                "master_playlist_key": self.master_playlist_key,
                "duration_ms": self.duration_ms,
                "source": source,
            }),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_name_their_recording_and_master_playlist() {
        let prefix = "ivs/v1/123456789012/AbCd/2020/6/23/20/12/j8Z9O91ndcVs";
        assert_eq!(
            recording_id_of_prefix(prefix).as_deref(),
            Some("j8Z9O91ndcVs")
        );
        assert_eq!(
            master_playlist_key(&format!("{prefix}/")),
            format!("{prefix}/media/hls/master.m3u8")
        );
        assert_eq!(recording_id_of_prefix(""), None);
    }

    #[test]
    fn ended_metadata_completes_a_recording() {
        let metadata = json!({
            "version": "v1", "channel_arn": "arn:aws:ivs:us-west-2:123456789012:channel/AbCd",
            "recording_started_at": "2020-06-23T20:12:00Z", "recording_ended_at": "2020-06-23T21:12:00Z",
            "recording_status": "RECORDING_ENDED", "recording_status_message": "",
            "media": {"hls": {"duration_ms": 3600000, "path": "media/hls", "playlist": "master.m3u8",
                "byte_range_playlist": "byte-range-multivariant.m3u8",
                "renditions": [{"path": "720p60", "playlist": "playlist.m3u8",
                    "byte_range_playlist": "byte-range-variant.m3u8",
                    "resolution_width": 1280, "resolution_height": 720}]},
              "thumbnails": {"path": "media/thumbnails", "resolution_height": 720, "resolution_width": 1280}}
        });
        let fact =
            recording_fact_from_metadata("b", "ivs/v1/1/AbCd/2020/6/23/20/12/rec1", &metadata)
                .unwrap();
        assert_eq!(fact.status, RecordingStatus::Ready);
        assert_eq!(fact.duration_ms, Some(3_600_000));
        assert_eq!(
            fact.byte_range_playlist_key.as_deref(),
            Some("ivs/v1/1/AbCd/2020/6/23/20/12/rec1/media/hls/byte-range-multivariant.m3u8")
        );
        let renditions = fact.renditions.unwrap();
        assert_eq!(
            renditions[0].playlist_key,
            "ivs/v1/1/AbCd/2020/6/23/20/12/rec1/media/hls/720p60/playlist.m3u8"
        );
        assert_eq!(
            fact.thumbnails_prefix.as_deref(),
            Some("ivs/v1/1/AbCd/2020/6/23/20/12/rec1/media/thumbnails")
        );
        assert_eq!(fact.reason, None);
    }

    #[test]
    fn audits_follow_what_is_known_with_one_key_each() {
        let at = Utc::now();
        let session = SessionState {
            stream_id: "st-1".into(),
            started_at: None,
            ended_at: Some(at),
        };
        let audits = session.audits(FactSource::Event);
        assert_eq!(audits.len(), 1);
        assert_eq!(audits[0].kind, EventKind::StreamEnded);
        assert_eq!(audits[0].once_key, "stream_ended:st-1");
        assert_eq!(audits[0].details["source"], "event");
        let recording = RecordingState {
            recording_id: "rec1".into(),
            status: RecordingStatus::Recording,
            reason: None,
            bucket: None,
            prefix: None,
            master_playlist_key: None,
            duration_ms: None,
        };
        assert!(recording.audits(FactSource::Sweep).is_empty());
        let failed = RecordingState {
            status: RecordingStatus::Failed,
            ..recording
        };
        assert_eq!(
            failed.audits(FactSource::Sweep)[0].kind,
            EventKind::RecordingFailed
        );
        assert!(RecordingStatus::Failed > RecordingStatus::Ready);
    }
}
