//! The kinds of entries in a channel's audit trail, and who writes them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What happened to a channel: a caller's request (`created`, `updated`, `delete_requested`, …),
/// a step of the reconciler (`created_in_ivs`, `ready`, `failed`, …), or a drift sweep finding.
// Stored as text in `channel_events.kind`; an unknown stored value is a decoding error.
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
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EventKind {
    // Written by the API on a caller's request.
    Created,
    Updated,
    DeleteRequested,
    RetryRequested,
    StreamKeyRotationRequested,
    ViewerSessionRevoked,
    // Chat moderation in the channel's room: DisconnectUser, DeleteMessage, SendEvent.
    ChatUserDisconnected,
    ChatMessageDeleted,
    ChatEventSent,
    // Written by the reconciler.
    CreatedInIvs,
    Adopted,
    DuplicateRemoved,
    Recreating,
    Applied,
    Ready,
    StreamKeyRotated,
    Failed,
    DeleteAfterReached,
    Deleted,
    // The channel's IVS Chat room (adoption, duplicates and recreation use the kinds above).
    ChatRoomCreated,
    ChatRoomDeleted,
    /// A live window opened: the stream key exists and is published.
    IngestOpened,
    /// A live window closed: the stream key is deleted, a live stream stopped.
    IngestClosed,
    // Written by the drift sweep.
    DriftDetected,
    // The broadcast lifecycle, each once per stream or recording, from an IVS event (actor
    // `ivs-events`) or the gap-filling sweep (`broadcast-sweep`).
    StreamStarted,
    StreamEnded,
    RecordingReady,
    RecordingFailed,
    // Written by the API in a tenant's own trail (`tenant_limit_events`), not a channel's.
    LimitsChanged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Who wrote an event when no API key did: the service component.
pub mod actor {
    pub const RECONCILER: &str = "reconciler";
    pub const DRIFT_SWEEP: &str = "drift-sweep";
    /// The intake of IVS's EventBridge events.
    pub const IVS_EVENTS: &str = "ivs-events";
    /// The sweep that fills what the events missed.
    pub const BROADCAST_SWEEP: &str = "broadcast-sweep";
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn names_round_trip() {
        for kind in EventKind::VARIANTS {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(*kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().into())
            );
        }
        assert_eq!(EventKind::CreatedInIvs.as_str(), "created_in_ivs");
        assert_eq!(
            EventKind::StreamKeyRotationRequested.as_str(),
            "stream_key_rotation_requested"
        );
    }
}
