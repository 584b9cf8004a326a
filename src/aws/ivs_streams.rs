//! IVS stream operations: stream keys, live streams, stopping a stream, revoking viewers, and
//! the stream sessions IVS keeps (docs/aws-facts.md §11.2).

use std::time::Duration;

use aws_sdk_ivs::types::{Stream, StreamSummary};
use chrono::{DateTime, Utc};

use super::{Aws, AwsError, AwsErrorKind, AwsTime, CallClass, Op, all_pages, empty, op};

const LIST_STREAM_KEYS: Op = op("ListStreamKeys", CallClass::IvsStream);
const GET_STREAM_KEY: Op = op("GetStreamKey", CallClass::IvsStream);
const CREATE_STREAM_KEY: Op = op("CreateStreamKey", CallClass::IvsStream);
const DELETE_STREAM_KEY: Op = op("DeleteStreamKey", CallClass::IvsStream);
const STOP_STREAM: Op = op("StopStream", CallClass::IvsStream);
const GET_STREAM: Op = op("GetStream", CallClass::IvsStream);
const LIST_STREAMS: Op = op("ListStreams", CallClass::IvsStream);
const REVOKE_VIEWER: Op = op("StartViewerSessionRevocation", CallClass::IvsRevocation);
const LIST_STREAM_SESSIONS: Op = op("ListStreamSessions", CallClass::IvsStream);
const GET_STREAM_SESSION: Op = op("GetStreamSession", CallClass::IvsStream);

/// A stream session as IVS reports it: times, and for GetStreamSession the latest events
/// (`truncatedEvents`, at most 500) as (name, time, code).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSessionInfo {
    pub stream_id: String,
    pub started_at: Option<DateTime<Utc>>,
    /// `None` while the session is live.
    pub ended_at: Option<DateTime<Utc>>,
    pub events: Vec<(String, DateTime<Utc>, Option<String>)>,
}

fn utc(time: Option<&AwsTime>) -> Option<DateTime<Utc>> {
    time.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

impl Aws {
    /// ARNs of the channel's stream keys (IVS keeps at most one per channel).
    pub async fn list_stream_keys(&self, channel_arn: &str) -> Result<Vec<String>, AwsError> {
        let request = self.ivs.list_stream_keys().channel_arn(channel_arn);
        let out = self.call(LIST_STREAM_KEYS, request.send()).await?;
        Ok(out.stream_keys.into_iter().filter_map(|k| k.arn).collect())
    }

    /// The secret value of a stream key.
    pub async fn get_stream_key(&self, key_arn: &str) -> Result<String, AwsError> {
        let request = self.ivs.get_stream_key().arn(key_arn);
        let out = self.call(GET_STREAM_KEY, request.send()).await?;
        Ok(out.stream_key.and_then(|k| k.value).unwrap_or_default())
    }

    /// The channel's stream key as (ARN, value), if it has one.
    pub async fn find_stream_key(
        &self,
        channel_arn: &str,
    ) -> Result<Option<(String, String)>, AwsError> {
        let Some(key_arn) = self.list_stream_keys(channel_arn).await?.into_iter().next() else {
            return Ok(None);
        };
        let value = self.get_stream_key(&key_arn).await?;
        Ok(Some((key_arn, value)))
    }

    /// Creates the channel's stream key, sent exactly once; returns its value.
    pub async fn create_stream_key(&self, channel_arn: &str) -> Result<String, AwsError> {
        let request = self.ivs_once.create_stream_key().channel_arn(channel_arn);
        let out = self.call(CREATE_STREAM_KEY, request.send()).await?;
        Ok(out.stream_key.and_then(|k| k.value).unwrap_or_default())
    }

    pub async fn delete_stream_key(&self, key_arn: &str) -> Result<(), AwsError> {
        let request = self.ivs.delete_stream_key().arn(key_arn);
        self.call(DELETE_STREAM_KEY, request.send()).await.map(drop)
    }

    pub async fn stop_stream(&self, channel_arn: &str) -> Result<(), AwsError> {
        let request = self.ivs.stop_stream().channel_arn(channel_arn);
        self.call(STOP_STREAM, request.send()).await.map(drop)
    }

    /// The channel's live stream, `None` when it is not broadcasting. Waits at most `budget`
    /// for the GetStream rate budget.
    pub async fn get_stream(
        &self,
        channel_arn: &str,
        budget: Duration,
    ) -> Result<Option<Stream>, AwsError> {
        let request = self.ivs.get_stream().channel_arn(channel_arn);
        match self.call_within(GET_STREAM, budget, request.send()).await {
            Ok(out) => Ok(out.stream),
            Err(e) if e.kind == AwsErrorKind::NotBroadcasting => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every live stream in the account and region, all pages.
    pub async fn list_streams(&self) -> Result<Vec<StreamSummary>, AwsError> {
        all_pages(|next| async move {
            let request = self
                .ivs
                .list_streams()
                .max_results(100)
                .set_next_token(next);
            let page = self.call(LIST_STREAMS, request.send()).await?;
            Ok((page.streams, page.next_token))
        })
        .await
    }

    pub async fn start_viewer_session_revocation(
        &self,
        channel_arn: &str,
        viewer_id: &str,
        versions_up_to: i32,
    ) -> Result<(), AwsError> {
        let request = self
            .ivs
            .start_viewer_session_revocation()
            .channel_arn(channel_arn)
            .viewer_id(viewer_id)
            .viewer_session_versions_less_than_or_equal_to(versions_up_to);
        self.call(REVOKE_VIEWER, request.send()).await.map(drop)
    }

    /// The channel's latest stream sessions, newest first (one page of at most `max`).
    pub async fn list_stream_sessions(
        &self,
        channel_arn: &str,
        max: i32,
    ) -> Result<Vec<StreamSessionInfo>, AwsError> {
        let request = self
            .ivs
            .list_stream_sessions()
            .channel_arn(channel_arn)
            .max_results(max);
        let out = self.call(LIST_STREAM_SESSIONS, request.send()).await?;
        Ok(out
            .stream_sessions
            .into_iter()
            .filter_map(|s| {
                Some(StreamSessionInfo {
                    started_at: utc(s.start_time.as_ref()),
                    ended_at: utc(s.end_time.as_ref()),
                    stream_id: s.stream_id?,
                    events: vec![],
                })
            })
            .collect())
    }

    /// One stream session with its latest events.
    pub async fn get_stream_session(
        &self,
        channel_arn: &str,
        stream_id: &str,
    ) -> Result<StreamSessionInfo, AwsError> {
        let request = self
            .ivs
            .get_stream_session()
            .channel_arn(channel_arn)
            .stream_id(stream_id);
        let out = self.call(GET_STREAM_SESSION, request.send()).await?;
        let session = out
            .stream_session
            .ok_or_else(|| empty(GET_STREAM_SESSION))?;
        let events = session
            .truncated_events
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| Some((e.name?, utc(e.event_time.as_ref())?, e.code)))
            .collect();
        Ok(StreamSessionInfo {
            stream_id: session.stream_id.unwrap_or_else(|| stream_id.to_owned()),
            started_at: utc(session.start_time.as_ref()),
            ended_at: utc(session.end_time.as_ref()),
            events,
        })
    }
}
