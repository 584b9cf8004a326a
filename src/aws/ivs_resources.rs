//! IVS account-level resources the channels share: recording configurations and playback key
//! pairs.

use std::collections::HashMap;

use aws_sdk_ivs::types::{
    DestinationConfiguration, PlaybackKeyPairSummary, RecordingConfiguration,
    RecordingConfigurationSummary, RecordingMode, S3DestinationConfiguration,
    ThumbnailConfiguration,
};

use super::{Aws, AwsError, AwsErrorKind, CallClass, Op, all_pages, empty, op};
use crate::domain::channel::{RecordingSpec, ThumbnailRecordingMode};

const CREATE_RECORDING: Op = op("CreateRecordingConfiguration", CallClass::IvsResource);
const GET_RECORDING: Op = op("GetRecordingConfiguration", CallClass::IvsResource);
const LIST_RECORDINGS: Op = op("ListRecordingConfigurations", CallClass::IvsResource);
const DELETE_RECORDING: Op = op("DeleteRecordingConfiguration", CallClass::IvsResource);
const IMPORT_KEY_PAIR: Op = op("ImportPlaybackKeyPair", CallClass::IvsResource);
const GET_KEY_PAIR: Op = op("GetPlaybackKeyPair", CallClass::IvsResource);
const LIST_KEY_PAIRS: Op = op("ListPlaybackKeyPairs", CallClass::IvsResource);
const DELETE_KEY_PAIR: Op = op("DeletePlaybackKeyPair", CallClass::IvsResource);

/// A key pair as IVS holds it: its ARN and the fingerprint IVS reports for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedKeyPair {
    pub arn: String,
    pub ivs_fingerprint: String,
}

impl Aws {
    /// Creates a recording configuration, sent exactly once; returns its ARN.
    pub async fn create_recording_configuration(
        &self,
        name: &str,
        spec: &RecordingSpec,
        tags: HashMap<String, String>,
    ) -> Result<String, AwsError> {
        let interval = spec.thumbnail_recording_mode == ThumbnailRecordingMode::Interval;
        let thumbnails = ThumbnailConfiguration::builder()
            .recording_mode(if interval {
                RecordingMode::Interval
            } else {
                RecordingMode::Disabled
            })
            .set_target_interval_seconds(
                interval.then_some(i64::from(spec.thumbnail_target_interval_seconds)),
            )
            .build();
        let s3 = S3DestinationConfiguration::builder()
            .bucket_name(&spec.s3_bucket_name)
            .build()
            .map_err(|e| {
                AwsError::local(CREATE_RECORDING.name, AwsErrorKind::Other, e.to_string())
            })?;
        let request = self
            .ivs_once
            .create_recording_configuration()
            .name(name)
            .destination_configuration(DestinationConfiguration::builder().s3(s3).build())
            .thumbnail_configuration(thumbnails)
            .recording_reconnect_window_seconds(spec.reconnect_window_seconds as i32)
            .set_tags(Some(tags));
        let out = self.call(CREATE_RECORDING, request.send()).await?;
        out.recording_configuration
            .map(|r| r.arn)
            .ok_or_else(|| empty(CREATE_RECORDING))
    }

    pub async fn get_recording_configuration(
        &self,
        arn: &str,
    ) -> Result<RecordingConfiguration, AwsError> {
        let request = self.ivs.get_recording_configuration().arn(arn);
        let out = self.call(GET_RECORDING, request.send()).await?;
        out.recording_configuration
            .ok_or_else(|| empty(GET_RECORDING))
    }

    /// Every recording configuration in the region, all pages.
    pub async fn list_recording_configurations(
        &self,
    ) -> Result<Vec<RecordingConfigurationSummary>, AwsError> {
        all_pages(|next| async move {
            let request = self
                .ivs
                .list_recording_configurations()
                .max_results(100)
                .set_next_token(next);
            let page = self.call(LIST_RECORDINGS, request.send()).await?;
            Ok((page.recording_configurations, page.next_token))
        })
        .await
    }

    pub async fn delete_recording_configuration(&self, arn: &str) -> Result<(), AwsError> {
        let request = self.ivs.delete_recording_configuration().arn(arn);
        self.call(DELETE_RECORDING, request.send()).await.map(drop)
    }

    /// Imports a public key, sent exactly once.
    pub async fn import_playback_key_pair(
        &self,
        name: &str,
        public_key_pem: &str,
        tags: HashMap<String, String>,
    ) -> Result<ImportedKeyPair, AwsError> {
        let request = self
            .ivs_once
            .import_playback_key_pair()
            .name(name)
            .public_key_material(public_key_pem.trim())
            .set_tags(Some(tags));
        let out = self.call(IMPORT_KEY_PAIR, request.send()).await?;
        let pair = out.key_pair.ok_or_else(|| empty(IMPORT_KEY_PAIR))?;
        Ok(ImportedKeyPair {
            arn: pair.arn.unwrap_or_default(),
            ivs_fingerprint: pair.fingerprint.unwrap_or_default(),
        })
    }

    pub async fn get_playback_key_pair(&self, arn: &str) -> Result<ImportedKeyPair, AwsError> {
        let request = self.ivs.get_playback_key_pair().arn(arn);
        let out = self.call(GET_KEY_PAIR, request.send()).await?;
        let pair = out.key_pair.ok_or_else(|| empty(GET_KEY_PAIR))?;
        Ok(ImportedKeyPair {
            arn: pair.arn.unwrap_or_else(|| arn.to_owned()),
            ivs_fingerprint: pair.fingerprint.unwrap_or_default(),
        })
    }

    /// Every playback key pair in the region (IVS allows 3, so one page).
    pub async fn list_playback_key_pairs(&self) -> Result<Vec<PlaybackKeyPairSummary>, AwsError> {
        let request = self.ivs.list_playback_key_pairs().max_results(100);
        let out = self.call(LIST_KEY_PAIRS, request.send()).await?;
        Ok(out.key_pairs)
    }

    pub async fn delete_playback_key_pair(&self, arn: &str) -> Result<(), AwsError> {
        let request = self.ivs.delete_playback_key_pair().arn(arn);
        self.call(DELETE_KEY_PAIR, request.send()).await.map(drop)
    }

    /// Imports a public key under `name`, or adopts the key pair that an earlier attempt, whose
    /// response was lost, imported under that name.
    pub async fn import_playback_key_pair_once(
        &self,
        name: &str,
        public_key_pem: &str,
        tags: HashMap<String, String>,
    ) -> Result<ImportedKeyPair, AwsError> {
        let pairs = self.list_playback_key_pairs().await?;
        match pairs
            .iter()
            .find(|k| k.name() == Some(name))
            .and_then(|k| k.arn())
        {
            Some(arn) => self.get_playback_key_pair(arn).await,
            None => {
                self.import_playback_key_pair(name, public_key_pem, tags)
                    .await
            }
        }
    }
}
