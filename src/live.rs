//! Live stream status from IVS (GetStream, ListStreams), cached for a few seconds and paced by
//! the client-side rate limits, so operators polling a dashboard never cause throttling. IVS
//! answers ChannelNotBroadcasting for an offline channel: that is `offline`, not an error.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::aws::{Aws, AwsError, AwsErrorKind};

/// How long a status is reused, and how long a read waits for the GetStream budget before it
/// answers with what it has.
const TTL: Duration = Duration::from_secs(5);
const BUDGET_WAIT: Duration = Duration::from_secs(1);
/// A stale status is still better than none while the budget is busy; older ones are evicted,
/// and so are the least used beyond this many channels.
const KEEP_STALE: Duration = Duration::from_secs(300);
const MAX_CHANNELS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    Live,
    Offline,
    /// IVS could not be asked just now (see `error`); retry shortly.
    Unknown,
}

/// A channel's live status as IVS last reported it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamStatus {
    pub state: StreamState,
    /// `HEALTHY`, `STARVING` or `UNKNOWN` while live.
    pub health: Option<String>,
    /// Viewers now (IVS counts a view within ~15 s of playback start); -1 means IVS timed out.
    pub viewer_count: Option<i64>,
    pub start_time: Option<DateTime<Utc>>,
    pub stream_id: Option<String>,
    /// When IVS was asked.
    pub checked_at: DateTime<Utc>,
    /// Why the state is unknown.
    pub error: Option<String>,
}

/// A live stream of one of the service's channels.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveStream {
    pub channel_arn: String,
    pub stream_id: Option<String>,
    pub health: Option<String>,
    pub viewer_count: i64,
    pub start_time: Option<DateTime<Utc>>,
}

pub struct LiveStatus {
    streams: moka::sync::Cache<String, (Instant, StreamStatus)>,
    listing: Mutex<Option<Listing>>,
}

impl Default for LiveStatus {
    fn default() -> Self {
        LiveStatus {
            streams: moka::sync::Cache::builder()
                .max_capacity(MAX_CHANNELS)
                .time_to_live(KEEP_STALE)
                .build(),
            listing: Mutex::new(None),
        }
    }
}

/// The last ListStreams answer.
struct Listing {
    fetched: Instant,
    checked_at: DateTime<Utc>,
    streams: Vec<LiveStream>,
}

fn to_chrono(time: Option<&crate::aws::AwsTime>) -> Option<DateTime<Utc>> {
    time.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

impl LiveStatus {
    /// The channel's status, from the cache when it is fresh.
    pub async fn stream(&self, aws: &Aws, channel_arn: &str) -> StreamStatus {
        let cached = self.streams.get(channel_arn);
        if let Some((at, status)) = &cached
            && at.elapsed() < TTL
        {
            return status.clone();
        }
        let status = match aws.get_stream(channel_arn, BUDGET_WAIT).await {
            Ok(Some(s)) => StreamStatus {
                state: if s.state().is_some_and(|st| st.as_str() == "LIVE") {
                    StreamState::Live
                } else {
                    StreamState::Offline
                },
                health: s.health().map(|h| h.as_str().to_owned()),
                viewer_count: Some(s.viewer_count()),
                start_time: to_chrono(s.start_time()),
                stream_id: s.stream_id().map(str::to_owned),
                checked_at: Utc::now(),
                error: None,
            },
            Ok(None) => offline(),
            Err(e) if e.kind == AwsErrorKind::BudgetExhausted => {
                return cached.map(|(_, status)| status).unwrap_or_else(|| {
                    unknown("the GetStream rate budget is in use; retry shortly".into())
                });
            }
            Err(e) => unknown(e.to_string()),
        };
        self.streams
            .insert(channel_arn.to_owned(), (Instant::now(), status.clone()));
        status
    }

    /// Every live stream in the account and region (ListStreams), cached like [`Self::stream`].
    pub async fn live_streams(
        &self,
        aws: &Aws,
    ) -> Result<(DateTime<Utc>, Vec<LiveStream>), AwsError> {
        if let Some(l) = self
            .listing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && l.fetched.elapsed() < TTL
        {
            return Ok((l.checked_at, l.streams.clone()));
        }
        let streams: Vec<LiveStream> = aws
            .list_streams()
            .await?
            .iter()
            .map(|s| LiveStream {
                channel_arn: s.channel_arn().unwrap_or_default().to_owned(),
                stream_id: s.stream_id().map(str::to_owned),
                health: s.health().map(|h| h.as_str().to_owned()),
                viewer_count: s.viewer_count(),
                start_time: to_chrono(s.start_time()),
            })
            .collect();
        let checked = Utc::now();
        *self.listing.lock().unwrap_or_else(|e| e.into_inner()) = Some(Listing {
            fetched: Instant::now(),
            checked_at: checked,
            streams: streams.clone(),
        });
        Ok((checked, streams))
    }
}

fn offline() -> StreamStatus {
    StreamStatus {
        state: StreamState::Offline,
        health: None,
        viewer_count: None,
        start_time: None,
        stream_id: None,
        checked_at: Utc::now(),
        error: None,
    }
}

fn unknown(error: String) -> StreamStatus {
    StreamStatus {
        state: StreamState::Unknown,
        error: Some(error),
        ..offline()
    }
}
