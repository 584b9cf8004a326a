//! What the reconciler records about a channel: the outputs of the Terraform module the service
//! replaces, and the last error.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The Terraform module's outputs, each null until the reconciler knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChannelOutputs {
    pub channel_arn: Option<String>,
    /// Equal to the ARN, as in the Terraform module.
    pub channel_id: Option<String>,
    pub channel_name: Option<String>,
    pub ingest_endpoint: Option<String>,
    pub playback_url: Option<String>,
    pub recording_configuration_arn: Option<String>,
    pub playback_key_pair_fingerprint: Option<String>,
    /// The IVS Chat room of a channel with `chat` enabled.
    pub chat_room_arn: Option<String>,
    /// The room's ID (the last part of its ARN), as chat clients and tokens name it.
    pub chat_room_id: Option<String>,
}

impl ChannelOutputs {
    /// Only what is known right after CreateChannel: enough to find the channel again.
    pub fn just_created(arn: &str, name: Option<&str>) -> Self {
        ChannelOutputs {
            channel_arn: Some(arn.to_owned()),
            channel_id: Some(arn.to_owned()),
            channel_name: name.map(str::to_owned),
            ..Default::default()
        }
    }
}

/// Why a channel is not where it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LastError {
    /// AWS's error code, or the service's own.
    pub code: String,
    pub message: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub attempts: Option<i64>,
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_read_back_what_earlier_versions_stored() {
        let stored =
            serde_json::json!({"channel_arn": "arn:x", "channel_id": "arn:x", "channel_name": "c"});
        let outputs: ChannelOutputs = serde_json::from_value(stored).unwrap();
        assert_eq!(outputs, ChannelOutputs::just_created("arn:x", Some("c")));
        let empty: ChannelOutputs = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(empty, ChannelOutputs::default());
    }

    #[test]
    fn a_corrupt_value_is_an_error_not_defaults() {
        let corrupt = serde_json::json!({"channel_arn": 42});
        assert!(serde_json::from_value::<ChannelOutputs>(corrupt).is_err());
    }
}
