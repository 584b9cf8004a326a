//! Every IVS operation through the real `aws-sdk-ivs` over HTTP: happy paths, validation (tag
//! characters included), quotas and state-dependent errors, plus the raw IVS error body.

mod common;

use std::collections::HashMap;

use aws_sdk_ivs::types::{
    BatchStartViewerSessionRevocationViewerSession, ChannelLatencyMode, ChannelType,
    DestinationConfiguration, RecordingConfigurationState, S3DestinationConfiguration,
    StreamHealth, StreamState, TranscodePreset,
};
use aws_sim::{BroadcastSpec, SimConfig};
use common::{Sim, code, status};
use p384::pkcs8::{EncodePublicKey, LineEnding};

const P256_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7VE3LCT4Rn8/JeDZK/YLclpSKEz7
6qFpqin6agKiqD+SvsjUtYWx4GLL175bL8xts53bnoyhh2Zc7Sm/MCzVAw==
-----END PUBLIC KEY-----
";

/// A fresh P-384 public key in SPKI PEM.
fn p384_pem() -> String {
    loop {
        let mut bytes = [0u8; 48];
        rand::Rng::fill(&mut rand::thread_rng(), &mut bytes[..]);
        if let Ok(secret) = p384::SecretKey::from_slice(&bytes) {
            return secret
                .public_key()
                .to_public_key_pem(LineEnding::LF)
                .expect("pem");
        }
    }
}

async fn create_channel(
    sim: &Sim,
    name: &str,
) -> aws_sdk_ivs::operation::create_channel::CreateChannelOutput {
    sim.ivs
        .create_channel()
        .name(name)
        .send()
        .await
        .expect("create channel")
}

fn destination(bucket: &str) -> DestinationConfiguration {
    let s3 = S3DestinationConfiguration::builder()
        .bucket_name(bucket)
        .build()
        .expect("s3");
    DestinationConfiguration::builder().s3(s3).build()
}

#[tokio::test]
async fn create_channel_returns_aws_shaped_channel_and_key() {
    let sim = Sim::for_tests().await;
    let out = sim
        .ivs
        .create_channel()
        .name("tenant-1")
        .latency_mode(ChannelLatencyMode::NormalLatency)
        .r#type(ChannelType::AdvancedHdChannelType)
        .authorized(true)
        .tags("tenant", "t1")
        .send()
        .await
        .unwrap();
    let channel = out.channel().unwrap();
    let arn = channel.arn().unwrap();
    let id = arn.rsplit('/').next().unwrap();
    assert!(
        arn.starts_with("arn:aws:ivs:us-east-1:123456789012:channel/") && id.len() == 12,
        "{arn}"
    );
    let ingest = channel.ingest_endpoint().unwrap();
    let host = ingest
        .strip_suffix(".global-contribute.live-video.net")
        .unwrap();
    assert!(
        host.len() == 12
            && host
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{ingest}"
    );
    let playback = channel.playback_url().unwrap();
    assert_eq!(
        playback,
        format!(
            "https://{host}.us-east-1.playback.live-video.net/api/video/v1/us-east-1.123456789012.channel.{id}.m3u8"
        )
    );
    assert_eq!(
        channel.preset(),
        Some(&TranscodePreset::HigherBandwidthTranscodePreset)
    );
    assert_eq!(
        channel.latency_mode(),
        Some(&ChannelLatencyMode::NormalLatency)
    );
    assert!(channel.authorized());
    assert!(channel.srt().unwrap().passphrase().is_some());
    let key = out.stream_key().unwrap();
    assert!(key.value().unwrap().starts_with("sk_us-east-1_"));
    assert_eq!(key.channel_arn(), Some(arn));
    assert!(
        key.arn()
            .unwrap()
            .starts_with("arn:aws:ivs:us-east-1:123456789012:stream-key/")
    );
    let dump = sim.sim().dump();
    assert_eq!(dump["createChannelLog"][0]["tags"]["tenant"], "t1");
    assert_eq!(dump["streamKeys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn region_comes_from_the_signature() {
    let sim = Sim::for_tests().await;
    let config = aws_sdk_ivs::Config::builder()
        .behavior_version(aws_sdk_ivs::config::BehaviorVersion::latest())
        .region(aws_sdk_ivs::config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_ivs::config::Credentials::new(
            "a", "b", None, None, "t",
        ))
        .endpoint_url(sim.endpoint())
        .build();
    let eu = aws_sdk_ivs::Client::from_conf(config);
    let arn = eu
        .create_channel()
        .send()
        .await
        .unwrap()
        .channel
        .unwrap()
        .arn
        .unwrap();
    assert!(arn.starts_with("arn:aws:ivs:eu-west-1:"));
    // Regional endpoints: us-east-1 does not see the eu-west-1 channel.
    let err = sim.ivs.get_channel().arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));
    assert!(eu.get_channel().arn(&arn).send().await.is_ok());
}

#[tokio::test]
async fn channel_validation() {
    let sim = Sim::for_tests().await;
    let cases = [
        sim.ivs
            .create_channel()
            .name("bad name!")
            .send()
            .await
            .unwrap_err(),
        sim.ivs
            .create_channel()
            .preset(TranscodePreset::ConstrainedBandwidthTranscodePreset)
            .send()
            .await
            .unwrap_err(),
        sim.ivs
            .create_channel()
            .r#type(ChannelType::from("PREMIUM"))
            .send()
            .await
            .unwrap_err(),
        sim.ivs
            .create_channel()
            .tags("aws:reserved", "x")
            .send()
            .await
            .unwrap_err(),
        sim.ivs
            .create_channel()
            .tags("k".repeat(129), "x")
            .send()
            .await
            .unwrap_err(),
        sim.ivs
            .create_channel()
            .tags("k", "v".repeat(257))
            .send()
            .await
            .unwrap_err(),
    ];
    for err in &cases {
        assert_eq!(code(err).as_deref(), Some("ValidationException"), "{err:?}");
        assert_eq!(status(err), Some(400));
    }
    let err = sim
        .ivs
        .get_channel()
        .arn("not-an-arn")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ValidationException"), Some(400))
    );
    let mut many = sim.ivs.create_channel();
    for i in 0..51 {
        many = many.tags(format!("k{i}"), "v");
    }
    assert_eq!(
        code(&many.send().await.unwrap_err()).as_deref(),
        Some("ValidationException")
    );
    let missing = "arn:aws:ivs:us-east-1:123456789012:recording-configuration/AbCdEfGhIjKl";
    let err = sim
        .ivs
        .create_channel()
        .recording_configuration_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ResourceNotFoundException"), Some(404))
    );
    assert!(sim.sim().dump()["channels"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn get_batch_update_delete() {
    let sim = Sim::for_tests().await;
    let arn = create_channel(&sim, "one")
        .await
        .channel
        .unwrap()
        .arn
        .unwrap();
    let got = sim.ivs.get_channel().arn(&arn).send().await.unwrap();
    assert_eq!(got.channel().unwrap().name(), Some("one"));
    let gone = "arn:aws:ivs:us-east-1:123456789012:channel/zzzzzzzzzzzz";
    let batch = sim
        .ivs
        .batch_get_channel()
        .arns(&arn)
        .arns(gone)
        .send()
        .await
        .unwrap();
    assert_eq!(batch.channels().len(), 1);
    assert_eq!(batch.errors()[0].arn(), Some(gone));
    assert_eq!(batch.errors()[0].code(), Some("ResourceNotFoundException"));
    let mut too_many = sim.ivs.batch_get_channel();
    for _ in 0..51 {
        too_many = too_many.arns(&arn);
    }
    assert_eq!(
        code(&too_many.send().await.unwrap_err()).as_deref(),
        Some("ValidationException")
    );

    let updated = sim
        .ivs
        .update_channel()
        .arn(&arn)
        .name("renamed")
        .r#type(ChannelType::BasicChannelType)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.channel().unwrap().name(), Some("renamed"));
    assert_eq!(
        updated.channel().unwrap().r#type(),
        Some(&ChannelType::BasicChannelType)
    );

    sim.sim().start_broadcast(BroadcastSpec::new(&arn)).unwrap();
    let err = sim
        .ivs
        .update_channel()
        .arn(&arn)
        .name("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ConflictException"), Some(409))
    );
    let err = sim.ivs.delete_channel().arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ConflictException"));
    sim.sim().stop_broadcast(&arn);

    sim.ivs.delete_channel().arn(&arn).send().await.unwrap();
    let dump = sim.sim().dump();
    assert!(dump["channels"].as_array().unwrap().is_empty());
    assert!(
        dump["streamKeys"].as_array().unwrap().is_empty(),
        "DeleteChannel deletes the stream key"
    );
    let err = sim.ivs.delete_channel().arn(&arn).send().await.unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ResourceNotFoundException"), Some(404))
    );
}

#[tokio::test]
async fn list_channels_filters_and_pages() {
    let sim = Sim::for_tests().await;
    let recording = sim
        .ivs
        .create_recording_configuration()
        .destination_configuration(destination("my-bucket"))
        .send()
        .await
        .unwrap()
        .recording_configuration
        .unwrap()
        .arn;
    for i in 0..5 {
        create_channel(&sim, &format!("svc-{i}")).await;
    }
    create_channel(&sim, "other").await;
    sim.ivs
        .create_channel()
        .name("rec")
        .recording_configuration_arn(&recording)
        .send()
        .await
        .unwrap();

    let by_name = sim
        .ivs
        .list_channels()
        .filter_by_name("svc-")
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_name.channels().len(),
        5,
        "filterByName is a prefix match"
    );
    let exact = sim
        .ivs
        .list_channels()
        .filter_by_name("other")
        .send()
        .await
        .unwrap();
    assert_eq!(exact.channels()[0].name(), Some("other"));
    let by_rec = sim
        .ivs
        .list_channels()
        .filter_by_recording_configuration_arn(&recording)
        .send()
        .await
        .unwrap();
    assert_eq!(by_rec.channels()[0].name(), Some("rec"));
    let err = sim
        .ivs
        .list_channels()
        .filter_by_name("a")
        .filter_by_recording_configuration_arn(&recording)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ConflictException"), Some(409))
    );
    for bad in [0, 101] {
        let err = sim
            .ivs
            .list_channels()
            .max_results(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    }

    let pages: Vec<_> = sim
        .ivs
        .list_channels()
        .max_results(3)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p.as_ref().unwrap().channels().len())
        .collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    let mut names: Vec<String> = pages
        .iter()
        .flat_map(|p| {
            p.as_ref()
                .unwrap()
                .channels()
                .iter()
                .map(|c| c.name().unwrap().to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 7);
    let err = sim
        .ivs
        .list_channels()
        .next_token("garbage!")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));
}

#[tokio::test]
async fn channel_quota_is_enforced() {
    let mut config = SimConfig::for_tests();
    config.quotas.channels = 2;
    let sim = Sim::start(config).await;
    create_channel(&sim, "a").await;
    create_channel(&sim, "b").await;
    let err = sim.ivs.create_channel().name("c").send().await.unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ServiceQuotaExceededException"), Some(402))
    );
}

#[tokio::test]
async fn recording_configurations_settle_and_guard_deletion() {
    let mut config = SimConfig::for_tests();
    config.recording_delay_ms = 150;
    config.foreign_buckets = vec!["eu-bucket".into()];
    config.quotas.recording_configurations = 2;
    let sim = Sim::start(config).await;
    let ok = sim
        .ivs
        .create_recording_configuration()
        .name("rec")
        .destination_configuration(destination("my-bucket"))
        .send()
        .await
        .unwrap();
    let ok = ok.recording_configuration.unwrap();
    assert_eq!(ok.state, RecordingConfigurationState::Creating);
    let foreign = sim
        .ivs
        .create_recording_configuration()
        .destination_configuration(destination("eu-bucket"))
        .send()
        .await
        .unwrap();
    let foreign_arn = foreign.recording_configuration.unwrap().arn;
    let err = sim
        .ivs
        .create_recording_configuration()
        .destination_configuration(destination("third"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ServiceQuotaExceededException"));
    let err = sim
        .ivs
        .create_recording_configuration()
        .destination_configuration(destination("Bad_Bucket"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let got = sim
        .ivs
        .get_recording_configuration()
        .arn(&ok.arn)
        .send()
        .await
        .unwrap()
        .recording_configuration
        .unwrap();
    assert_eq!(got.state, RecordingConfigurationState::Active);
    let failed = sim
        .ivs
        .get_recording_configuration()
        .arn(&foreign_arn)
        .send()
        .await
        .unwrap()
        .recording_configuration
        .unwrap();
    assert_eq!(failed.state, RecordingConfigurationState::CreateFailed);
    let listed = sim
        .ivs
        .list_recording_configurations()
        .send()
        .await
        .unwrap();
    assert_eq!(listed.recording_configurations().len(), 2);

    let channel = sim
        .ivs
        .create_channel()
        .recording_configuration_arn(&ok.arn)
        .send()
        .await
        .unwrap()
        .channel
        .unwrap();
    let err = sim
        .ivs
        .delete_recording_configuration()
        .arn(&ok.arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ConflictException"), Some(409))
    );
    sim.ivs
        .update_channel()
        .arn(channel.arn.unwrap())
        .recording_configuration_arn("")
        .send()
        .await
        .unwrap();
    sim.ivs
        .delete_recording_configuration()
        .arn(&ok.arn)
        .send()
        .await
        .unwrap();
    let err = sim
        .ivs
        .get_recording_configuration()
        .arn(&ok.arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn playback_key_pairs() {
    let sim = Sim::for_tests().await;
    let pem = p384_pem();
    let pair = sim
        .ivs
        .import_playback_key_pair()
        .public_key_material(&pem)
        .name("k1")
        .send()
        .await
        .unwrap()
        .key_pair
        .unwrap();
    assert!(
        pair.arn()
            .unwrap()
            .starts_with("arn:aws:ivs:us-east-1:123456789012:playback-key/")
    );
    let fingerprint = pair.fingerprint().unwrap().to_owned();
    assert_eq!(fingerprint.len(), 64);
    let err = sim
        .ivs
        .import_playback_key_pair()
        .public_key_material(&pem)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ConflictException"), Some(409))
    );
    for bad in [P256_PEM, "not a pem"] {
        let err = sim
            .ivs
            .import_playback_key_pair()
            .public_key_material(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    }
    sim.ivs
        .import_playback_key_pair()
        .public_key_material(p384_pem())
        .send()
        .await
        .unwrap();
    sim.ivs
        .import_playback_key_pair()
        .public_key_material(p384_pem())
        .send()
        .await
        .unwrap();
    let err = sim
        .ivs
        .import_playback_key_pair()
        .public_key_material(p384_pem())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ServiceQuotaExceededException"), Some(402))
    );

    let got = sim
        .ivs
        .get_playback_key_pair()
        .arn(pair.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.key_pair().unwrap().fingerprint(),
        Some(fingerprint.as_str())
    );
    assert_eq!(
        sim.ivs
            .list_playback_key_pairs()
            .send()
            .await
            .unwrap()
            .key_pairs()
            .len(),
        3
    );
    sim.ivs
        .delete_playback_key_pair()
        .arn(pair.arn().unwrap())
        .send()
        .await
        .unwrap();
    let err = sim
        .ivs
        .get_playback_key_pair()
        .arn(pair.arn().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));
    // Re-importing the deleted key works and yields the same fingerprint (derived from the key).
    let again = sim
        .ivs
        .import_playback_key_pair()
        .public_key_material(&pem)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.key_pair().unwrap().fingerprint(),
        Some(fingerprint.as_str())
    );
    assert_eq!(
        sim.sim().dump()["playbackKeyPairs"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn stream_keys_one_per_channel() {
    let sim = Sim::for_tests().await;
    let created = create_channel(&sim, "keys").await;
    let channel = created.channel().unwrap().arn().unwrap().to_owned();
    let key = created.stream_key().unwrap().arn().unwrap().to_owned();
    let err = sim
        .ivs
        .create_stream_key()
        .channel_arn(&channel)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ServiceQuotaExceededException"), Some(402))
    );
    let got = sim.ivs.get_stream_key().arn(&key).send().await.unwrap();
    assert_eq!(
        got.stream_key().unwrap().value(),
        created.stream_key().unwrap().value()
    );
    let listed = sim
        .ivs
        .list_stream_keys()
        .channel_arn(&channel)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.stream_keys()[0].arn(), Some(key.as_str()));

    sim.ivs.delete_stream_key().arn(&key).send().await.unwrap();
    let fresh = sim
        .ivs
        .create_stream_key()
        .channel_arn(&channel)
        .tags("k", "v")
        .send()
        .await
        .unwrap()
        .stream_key
        .unwrap();
    assert_ne!(fresh.value(), created.stream_key().unwrap().value());
    let batch = sim
        .ivs
        .batch_get_stream_key()
        .arns(fresh.arn().unwrap())
        .arns(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(batch.stream_keys().len(), 1);
    assert_eq!(batch.errors()[0].arn(), Some(key.as_str()));
    let missing = "arn:aws:ivs:us-east-1:123456789012:channel/zzzzzzzzzzzz";
    let err = sim
        .ivs
        .create_stream_key()
        .channel_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn streams_follow_the_broadcast_hook() {
    let sim = Sim::for_tests().await;
    let arn = create_channel(&sim, "live")
        .await
        .channel
        .unwrap()
        .arn
        .unwrap();
    let err = sim
        .ivs
        .get_stream()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ChannelNotBroadcasting"), Some(404))
    );
    let err = sim
        .ivs
        .stop_stream()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ChannelNotBroadcasting"));

    let spec = BroadcastSpec {
        channel_arn: arn.clone(),
        health: "STARVING".into(),
        viewer_count: 42,
        ..BroadcastSpec::new(&arn)
    };
    sim.sim().start_broadcast(spec).unwrap();
    let stream = sim
        .ivs
        .get_stream()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream
        .unwrap();
    assert_eq!(stream.state(), Some(&StreamState::StreamLive));
    assert_eq!(stream.health(), Some(&StreamHealth::Starving));
    assert_eq!(stream.viewer_count(), 42);
    assert!(stream.start_time().is_some());
    let id = stream.stream_id().unwrap();
    assert!(
        id.len() == 26
            && id.starts_with("st-")
            && id[3..].chars().all(|c| c.is_ascii_alphanumeric()),
        "{id}"
    );
    let listed = sim.ivs.list_streams().send().await.unwrap();
    assert_eq!(listed.streams().len(), 1);

    sim.ivs
        .stop_stream()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(
        sim.ivs
            .list_streams()
            .send()
            .await
            .unwrap()
            .streams()
            .is_empty()
    );
    let missing = "arn:aws:ivs:us-east-1:123456789012:channel/zzzzzzzzzzzz";
    let err = sim
        .ivs
        .get_stream()
        .channel_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn revocations_are_recorded() {
    let sim = Sim::for_tests().await;
    let arn = create_channel(&sim, "private")
        .await
        .channel
        .unwrap()
        .arn
        .unwrap();
    sim.ivs
        .start_viewer_session_revocation()
        .channel_arn(&arn)
        .viewer_id("viewer-1")
        .viewer_session_versions_less_than_or_equal_to(7)
        .send()
        .await
        .unwrap();
    let err = sim
        .ivs
        .start_viewer_session_revocation()
        .channel_arn(&arn)
        .viewer_id("v".repeat(41))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    let missing = "arn:aws:ivs:us-east-1:123456789012:channel/zzzzzzzzzzzz";
    let session = |channel: &str, viewer: &str| {
        BatchStartViewerSessionRevocationViewerSession::builder()
            .channel_arn(channel)
            .viewer_id(viewer)
            .build()
            .unwrap()
    };
    let batch = sim
        .ivs
        .batch_start_viewer_session_revocation()
        .viewer_sessions(session(&arn, "viewer-2"))
        .viewer_sessions(session(missing, "viewer-3"))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.errors().len(), 1);
    assert_eq!(batch.errors()[0].viewer_id(), "viewer-3");
    let revocations = sim.sim().dump()["revocations"].clone();
    assert_eq!(revocations.as_array().unwrap().len(), 2);
    assert_eq!(revocations[0]["viewerId"], "viewer-1");
    assert_eq!(revocations[0]["viewerSessionVersionsLessThanOrEqualTo"], 7);
    assert_eq!(revocations[1]["batch"], true);
}

#[tokio::test]
async fn tags_on_every_resource() {
    let sim = Sim::for_tests().await;
    let created = create_channel(&sim, "tagged").await;
    let channel = created.channel().unwrap().arn().unwrap().to_owned();
    let key = created.stream_key().unwrap().arn().unwrap().to_owned();
    for arn in [&channel, &key] {
        sim.ivs
            .tag_resource()
            .resource_arn(arn)
            .tags("a", "1")
            .tags("b", "2")
            .send()
            .await
            .unwrap();
        sim.ivs
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("a")
            .send()
            .await
            .unwrap();
        let tags = sim
            .ivs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        assert_eq!(
            tags.tags(),
            &HashMap::from([("b".to_owned(), "2".to_owned())])
        );
    }
    let err = sim
        .ivs
        .tag_resource()
        .resource_arn(&channel)
        .tags("aws:x", "1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    let missing = "arn:aws:ivs:us-east-1:123456789012:channel/zzzzzzzzzzzz";
    let err = sim
        .ivs
        .list_tags_for_resource()
        .resource_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ResourceNotFoundException"), Some(404))
    );
}

/// Tags IVS refuses: characters outside the AWS tag set in a key or a value, lengths beyond the
/// model's 1–128 / 0–256, and the reserved `aws:` key prefix.
fn invalid_tags() -> Vec<(String, String)> {
    [
        ("bad#key", "v"),
        ("tab\tkey", "v"),
        ("emoji 🎥", "v"),
        ("a,b", "v"),
        ("", "v"),
        ("AWS:reserved", "v"),
        ("ok", "bad#value"),
        ("ok", "line\nbreak"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([
        ("k".repeat(129), "v".to_owned()),
        ("ok".to_owned(), "v".repeat(257)),
    ])
    .collect()
}

/// Tags at the edges of what IVS accepts: every allowed symbol, non-ASCII letters and numbers,
/// inner spaces, an empty value and the maximum lengths.
fn valid_tags() -> HashMap<String, String> {
    HashMap::from([
        ("Team".to_owned(), "Platform".to_owned()),
        ("cost-center:a/b=c+d@e.f".to_owned(), "x y_z".to_owned()),
        ("Équipe 名前 42".to_owned(), "٣ values".to_owned()),
        ("empty".to_owned(), String::new()),
        ("k".repeat(128), "v".repeat(256)),
    ])
}

fn assert_validation<E>(
    err: &aws_sdk_ivs::error::SdkError<E, aws_sdk_ivs::config::http::HttpResponse>,
    what: &str,
) where
    E: aws_sdk_ivs::error::ProvideErrorMetadata + std::fmt::Debug,
{
    assert_eq!(
        (code(err).as_deref(), status(err)),
        (Some("ValidationException"), Some(400)),
        "{what}: {err:?}"
    );
}

#[tokio::test]
async fn tags_must_use_the_aws_tag_character_set() {
    let sim = Sim::for_tests().await;
    for (key, value) in invalid_tags() {
        let err = sim
            .ivs
            .create_channel()
            .tags(&key, &value)
            .send()
            .await
            .unwrap_err();
        assert_validation(&err, &format!("CreateChannel {key:?}={value:?}"));
    }
    assert!(sim.sim().dump()["channels"].as_array().unwrap().is_empty());

    let created = sim
        .ivs
        .create_channel()
        .set_tags(Some(valid_tags()))
        .send()
        .await
        .expect("valid tags are accepted");
    let channel = created.channel().unwrap();
    assert_eq!(channel.tags(), Some(&valid_tags()));
    let arn = channel.arn().unwrap().to_owned();

    for (key, value) in invalid_tags() {
        let err = sim
            .ivs
            .tag_resource()
            .resource_arn(&arn)
            .tags(&key, &value)
            .send()
            .await
            .unwrap_err();
        assert_validation(&err, &format!("TagResource {key:?}={value:?}"));
    }
    // A refused TagResource changes nothing, and the same refusal comes before the 404.
    let listed = sim
        .ivs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags(), &valid_tags());
    let missing = "arn:aws:ivs:us-east-1:123456789012:channel/zzzzzzzzzzzz";
    let err = sim
        .ivs
        .tag_resource()
        .resource_arn(missing)
        .tags("bad#key", "v")
        .send()
        .await
        .unwrap_err();
    assert_validation(&err, "TagResource on a missing channel");

    sim.ivs
        .tag_resource()
        .resource_arn(&arn)
        .tags("Team", "Video")
        .tags("cost-center:a/b=c+d@e.f", "")
        .send()
        .await
        .expect("valid TagResource");
    let err = sim
        .ivs
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("bad#key")
        .send()
        .await
        .unwrap_err();
    assert_validation(&err, "UntagResource bad#key");
    sim.ivs
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("cost-center:a/b=c+d@e.f")
        .send()
        .await
        .expect("valid UntagResource");
    let listed = sim
        .ivs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags().get("Team").map(String::as_str), Some("Video"));
    assert!(!listed.tags().contains_key("cost-center:a/b=c+d@e.f"));

    // Every other operation that takes tags applies the same rule.
    let err = sim
        .ivs
        .create_recording_configuration()
        .destination_configuration(destination("my-bucket"))
        .tags("bad#key", "v")
        .send()
        .await
        .unwrap_err();
    assert_validation(&err, "CreateRecordingConfiguration");
    let err = sim
        .ivs
        .import_playback_key_pair()
        .public_key_material(p384_pem())
        .tags("bad#key", "v")
        .send()
        .await
        .unwrap_err();
    assert_validation(&err, "ImportPlaybackKeyPair");
    let err = sim
        .ivs
        .create_stream_key()
        .channel_arn(&arn)
        .tags("bad#key", "v")
        .send()
        .await
        .unwrap_err();
    assert_validation(&err, "CreateStreamKey");
    let dump = sim.sim().dump();
    assert!(
        dump["recordingConfigurations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(dump["playbackKeyPairs"].as_array().unwrap().is_empty());
    sim.ivs
        .create_recording_configuration()
        .destination_configuration(destination("my-bucket"))
        .set_tags(Some(valid_tags()))
        .send()
        .await
        .expect("valid recording configuration tags");
    sim.ivs
        .import_playback_key_pair()
        .public_key_material(p384_pem())
        .set_tags(Some(valid_tags()))
        .send()
        .await
        .expect("valid playback key pair tags");
}

#[tokio::test]
async fn ivs_error_bodies_carry_exception_message() {
    use aws_sdk_ivs::error::ProvideErrorMetadata;
    use aws_sdk_ivs::operation::create_channel::CreateChannelError;
    use aws_sdk_ivs::operation::get_channel::GetChannelError;

    let sim = Sim::for_tests().await;
    let http = reqwest::Client::new();
    let missing = "arn:aws:ivs:us-east-1:123456789012:channel/zzzzzzzzzzzz";
    let cases = [
        (
            "GetChannel",
            serde_json::json!({ "arn": missing }),
            404,
            "ResourceNotFoundException",
        ),
        (
            "CreateChannel",
            serde_json::json!({ "tags": { "bad#key": "v" } }),
            400,
            "ValidationException",
        ),
    ];
    for (op, input, want_status, want_code) in cases {
        let response = http
            .post(format!("{}/{op}", sim.endpoint()))
            .json(&input)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), want_status, "{op}");
        assert_eq!(response.headers()["x-amzn-errortype"], want_code, "{op}");
        let body: serde_json::Value = response.json().await.unwrap();
        let text = body["exceptionMessage"].as_str().unwrap_or_default();
        assert!(!text.is_empty(), "{op}: {body}");
        assert_eq!(body["message"], body["exceptionMessage"], "{op}: {body}");
        assert_eq!(body["__type"], want_code, "{op}: {body}");
    }

    // The SDK still reads the text both ways: the generic metadata and the modeled member.
    let err = sim
        .ivs
        .create_channel()
        .tags("bad#key", "v")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let generic = err.message().unwrap_or_default().to_owned();
    assert!(generic.contains("bad#key"), "{generic:?}");
    let CreateChannelError::ValidationException(validation) = err else {
        panic!("expected ValidationException, got {err:?}");
    };
    assert_eq!(validation.exception_message(), Some(generic.as_str()));
    assert_eq!(validation.message(), Some(generic.as_str()));
    let err = sim
        .ivs
        .get_channel()
        .arn(missing)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let GetChannelError::ResourceNotFoundException(not_found) = err else {
        panic!("expected ResourceNotFoundException, got {err:?}");
    };
    assert!(!not_found.meta().message().unwrap_or_default().is_empty());
    assert_eq!(not_found.exception_message(), not_found.meta().message());

    // SSM (awsJson1.1) models `message` only; its bodies stay as they were.
    let response = http
        .post(sim.endpoint())
        .header("x-amz-target", "AmazonSSM.GetParameter")
        .header("content-type", "application/x-amz-json-1.1")
        .body(r#"{"Name": "/missing"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["__type"], "ParameterNotFound");
    assert!(body.get("exceptionMessage").is_none(), "{body}");
    assert!(!body["message"].as_str().unwrap_or_default().is_empty());
}
