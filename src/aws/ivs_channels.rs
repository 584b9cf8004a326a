//! IVS channel operations: create, read, list, update, delete and tag channels.

use std::collections::HashMap;

use aws_sdk_ivs::types::{
    Channel, ChannelLatencyMode, ChannelSummary, ChannelType, TranscodePreset,
};
use serde::Serialize;

use super::{Aws, AwsError, CallClass, Op, all_pages, empty, op};
use crate::domain::channel::ChannelSpec;

const CREATE_CHANNEL: Op = op("CreateChannel", CallClass::IvsChannel);
const GET_CHANNEL: Op = op("GetChannel", CallClass::IvsChannel);
const BATCH_GET_CHANNEL: Op = op("BatchGetChannel", CallClass::IvsChannel);
const LIST_CHANNELS: Op = op("ListChannels", CallClass::IvsChannel);
const UPDATE_CHANNEL: Op = op("UpdateChannel", CallClass::IvsChannel);
const DELETE_CHANNEL: Op = op("DeleteChannel", CallClass::IvsChannel);
const TAG_RESOURCE: Op = op("TagResource", CallClass::IvsTag);
const UNTAG_RESOURCE: Op = op("UntagResource", CallClass::IvsTag);

/// IVS's BatchGetChannel limit on ARNs per call.
pub const BATCH_GET_MAX: usize = 50;

/// The IVS string of one of the domain's enums (they serialize exactly as IVS spells them).
pub fn ivs_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The spec's enumerations in IVS's types, as CreateChannel and UpdateChannel both set them.
struct IvsSettings {
    kind: ChannelType,
    latency: ChannelLatencyMode,
    preset: Option<TranscodePreset>,
}

impl From<&ChannelSpec> for IvsSettings {
    fn from(spec: &ChannelSpec) -> Self {
        IvsSettings {
            kind: ChannelType::from(ivs_name(&spec.channel_type).as_str()),
            latency: ChannelLatencyMode::from(ivs_name(&spec.latency_mode).as_str()),
            preset: spec
                .preset
                .map(|p| TranscodePreset::from(ivs_name(&p).as_str())),
        }
    }
}

/// A newly created channel and the stream key IVS made with it.
pub struct CreatedChannel {
    pub channel: Channel,
    pub stream_key: Option<String>,
}

impl Aws {
    /// Creates a channel, sent exactly once.
    pub async fn create_channel(
        &self,
        spec: &ChannelSpec,
        recording_arn: Option<&str>,
        tags: HashMap<String, String>,
    ) -> Result<CreatedChannel, AwsError> {
        let settings = IvsSettings::from(spec);
        let request = self
            .ivs_once
            .create_channel()
            .name(&spec.name)
            .r#type(settings.kind)
            .latency_mode(settings.latency)
            .authorized(spec.authorized)
            .insecure_ingest(spec.insecure_ingest)
            .set_preset(settings.preset)
            .set_recording_configuration_arn(recording_arn.map(str::to_owned))
            .set_tags(Some(tags));
        let out = self.call(CREATE_CHANNEL, request.send()).await?;
        Ok(CreatedChannel {
            channel: out.channel.ok_or_else(|| empty(CREATE_CHANNEL))?,
            stream_key: out.stream_key.and_then(|k| k.value),
        })
    }

    pub async fn get_channel(&self, arn: &str) -> Result<Channel, AwsError> {
        let request = self.ivs.get_channel().arn(arn);
        let out = self.call(GET_CHANNEL, request.send()).await?;
        out.channel.ok_or_else(|| empty(GET_CHANNEL))
    }

    /// Up to [`BATCH_GET_MAX`] channels at once; ARNs IVS does not know are simply absent.
    pub async fn batch_get_channel(&self, arns: Vec<String>) -> Result<Vec<Channel>, AwsError> {
        let request = self.ivs.batch_get_channel().set_arns(Some(arns));
        let out = self.call(BATCH_GET_CHANNEL, request.send()).await?;
        Ok(out.channels.unwrap_or_default())
    }

    /// Every channel summary IVS lists, all pages, optionally filtered by name.
    pub async fn list_channels(&self, name: Option<&str>) -> Result<Vec<ChannelSummary>, AwsError> {
        all_pages(|next| async move {
            let request = self
                .ivs
                .list_channels()
                .set_filter_by_name(name.map(str::to_owned))
                .max_results(100)
                .set_next_token(next);
            let page = self.call(LIST_CHANNELS, request.send()).await?;
            Ok((page.channels, page.next_token))
        })
        .await
    }

    pub async fn update_channel(
        &self,
        arn: &str,
        spec: &ChannelSpec,
        recording_arn: Option<&str>,
    ) -> Result<(), AwsError> {
        let settings = IvsSettings::from(spec);
        let request = self
            .ivs
            .update_channel()
            .arn(arn)
            .r#type(settings.kind)
            .latency_mode(settings.latency)
            .authorized(spec.authorized)
            .insecure_ingest(spec.insecure_ingest)
            .set_preset(settings.preset)
            .recording_configuration_arn(recording_arn.unwrap_or_default());
        self.call(UPDATE_CHANNEL, request.send()).await.map(drop)
    }

    pub async fn delete_channel(&self, arn: &str) -> Result<(), AwsError> {
        let request = self.ivs.delete_channel().arn(arn);
        self.call(DELETE_CHANNEL, request.send()).await.map(drop)
    }

    pub async fn tag_resource(
        &self,
        arn: &str,
        tags: HashMap<String, String>,
    ) -> Result<(), AwsError> {
        let request = self
            .ivs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags));
        self.call(TAG_RESOURCE, request.send()).await.map(drop)
    }

    pub async fn untag_resource(&self, arn: &str, keys: Vec<String>) -> Result<(), AwsError> {
        let request = self
            .ivs
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys));
        self.call(UNTAG_RESOURCE, request.send()).await.map(drop)
    }
}
