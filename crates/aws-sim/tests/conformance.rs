//! The conformance suite: one set of checks written against the AWS SDK for Rust, run against the
//! simulator AND moto 5.2.5, on the operations both implement. Only behaviour both share is
//! asserted (moto's quirks: moto-probe.md — constant ingest/playback hosts, `errors: []` in
//! BatchGetChannel, no reference validation, SecureString "ciphertext" that embeds the plaintext).
//! moto comes from the project's venv (scripts/test.sh); if it is missing the test fails.

mod common;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_ivs::types::ChannelLatencyMode;
use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging, Tag};
use common::{Moto, Sim, code, fast_retries, ivs_client, ssm_client};

#[tokio::test]
async fn conformance_against_the_simulator() {
    let sim = Sim::for_tests().await;
    suite(&sim.endpoint()).await;
}

#[tokio::test]
async fn conformance_against_moto() {
    let moto = Moto::start().await;
    suite(&moto.endpoint).await;
}

async fn suite(endpoint: &str) {
    let ivs = ivs_client(endpoint, fast_retries());
    let ssm = ssm_client(endpoint, fast_retries());
    ivs_channels(&ivs).await;
    ssm_parameters(&ssm).await;
}

const ACCOUNT_PREFIX: &str = "arn:aws:ivs:us-east-1:123456789012:channel/";
const MISSING: &str = "arn:aws:ivs:us-east-1:123456789012:channel/doesnotexist";

async fn ivs_channels(ivs: &aws_sdk_ivs::Client) {
    let created = ivs
        .create_channel()
        .name("conf-alpha")
        .latency_mode(ChannelLatencyMode::NormalLatency)
        .authorized(true)
        .tags("tenant", "t-1")
        .send()
        .await
        .expect("CreateChannel");
    let channel = created.channel().expect("channel");
    let arn = channel.arn().expect("arn").to_owned();
    assert!(arn.starts_with(ACCOUNT_PREFIX), "{arn}");
    assert_eq!(channel.name(), Some("conf-alpha"));
    assert_eq!(
        channel.latency_mode(),
        Some(&ChannelLatencyMode::NormalLatency)
    );
    assert!(channel.authorized());
    assert_eq!(channel.tags().map(|t| t["tenant"].as_str()), Some("t-1"));
    assert!(!channel.ingest_endpoint().unwrap_or_default().is_empty());
    assert!(
        channel
            .playback_url()
            .unwrap_or_default()
            .starts_with("https://")
    );
    let key = created.stream_key().expect("stream key");
    assert!(key.value().unwrap_or_default().starts_with("sk_us-east-1_"));
    assert_eq!(key.channel_arn(), Some(arn.as_str()));

    let beta = ivs
        .create_channel()
        .name("conf-beta")
        .send()
        .await
        .expect("second channel")
        .channel
        .unwrap()
        .arn
        .unwrap();

    let got = ivs
        .get_channel()
        .arn(&arn)
        .send()
        .await
        .expect("GetChannel");
    assert_eq!(got.channel().and_then(|c| c.name()), Some("conf-alpha"));
    let err = ivs.get_channel().arn(MISSING).send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));

    let batch = ivs
        .batch_get_channel()
        .arns(&arn)
        .arns(&beta)
        .send()
        .await
        .expect("BatchGetChannel");
    let names: BTreeSet<_> = batch.channels().iter().filter_map(|c| c.name()).collect();
    assert_eq!(names, BTreeSet::from(["conf-alpha", "conf-beta"]));

    let listed = ivs
        .list_channels()
        .filter_by_name("conf-beta")
        .send()
        .await
        .expect("ListChannels by name");
    let arns: Vec<_> = listed.channels().iter().filter_map(|c| c.arn()).collect();
    assert_eq!(arns, [beta.as_str()]);
    assert_eq!(listed.channels()[0].tags().map(HashMap::len), Some(0));
    let pages: Vec<_> = ivs
        .list_channels()
        .max_results(1)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let all: BTreeSet<String> = pages
        .into_iter()
        .flat_map(|p| p.expect("page").channels.into_iter().filter_map(|c| c.arn))
        .collect();
    assert_eq!(all, BTreeSet::from([arn.clone(), beta.clone()]));

    let updated = ivs
        .update_channel()
        .arn(&arn)
        .name("conf-alpha-2")
        .latency_mode(ChannelLatencyMode::LowLatency)
        .authorized(false)
        .send()
        .await
        .expect("UpdateChannel");
    let channel = updated.channel().unwrap();
    assert_eq!(
        (channel.name(), channel.latency_mode(), channel.authorized()),
        (
            Some("conf-alpha-2"),
            Some(&ChannelLatencyMode::LowLatency),
            false
        )
    );
    let reread = ivs.get_channel().arn(&arn).send().await.unwrap();
    assert_eq!(
        reread.channel().and_then(|c| c.name()),
        Some("conf-alpha-2")
    );
    let err = ivs
        .update_channel()
        .arn(MISSING)
        .name("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));

    for channel in [&arn, &beta] {
        ivs.delete_channel()
            .arn(channel)
            .send()
            .await
            .expect("DeleteChannel");
    }
    let err = ivs.get_channel().arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));
    let err = ivs.delete_channel().arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

async fn ssm_parameters(ssm: &aws_sdk_ssm::Client) {
    let name = "/conf/svc/stream-key";
    let put = ssm
        .put_parameter()
        .name(name)
        .value("sk-1")
        .r#type(ParameterType::SecureString)
        .tags(tag("tenant", "t-1"))
        .send()
        .await
        .expect("PutParameter");
    assert_eq!(put.version(), 1);
    let err = ssm
        .put_parameter()
        .name(name)
        .value("sk-x")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ParameterAlreadyExists"));
    let err = ssm
        .put_parameter()
        .name(name)
        .value("sk-x")
        .overwrite(true)
        .tags(tag("a", "b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    let put = ssm
        .put_parameter()
        .name(name)
        .value("sk-2")
        .overwrite(true)
        .send()
        .await
        .expect("overwrite");
    assert_eq!(put.version(), 2);

    let plain = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .expect("GetParameter")
        .parameter
        .unwrap();
    assert_eq!(
        (plain.value(), plain.version(), plain.r#type()),
        (Some("sk-2"), 2, Some(&ParameterType::SecureString))
    );
    let hidden = ssm
        .get_parameter()
        .name(name)
        .with_decryption(false)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap();
    assert_ne!(hidden.value(), Some("sk-2"));

    for (child, value) in [
        ("/conf/svc/a", "1"),
        ("/conf/svc/deep/b", "2"),
        ("/conf/other", "3"),
    ] {
        ssm.put_parameter()
            .name(child)
            .value(value)
            .r#type(ParameterType::String)
            .send()
            .await
            .expect("put child");
    }
    let many = ssm
        .get_parameters()
        .names("/conf/svc/a")
        .names("/conf/nope")
        .send()
        .await
        .expect("GetParameters");
    assert_eq!(
        many.parameters()
            .iter()
            .filter_map(|p| p.value())
            .collect::<Vec<_>>(),
        ["1"]
    );
    assert_eq!(many.invalid_parameters(), ["/conf/nope".to_owned()]);

    let direct = ssm
        .get_parameters_by_path()
        .path("/conf/svc")
        .with_decryption(true)
        .send()
        .await
        .expect("by path");
    let direct: BTreeSet<_> = direct
        .parameters()
        .iter()
        .filter_map(|p| p.name().map(str::to_owned))
        .collect();
    assert_eq!(
        direct,
        BTreeSet::from([name.to_owned(), "/conf/svc/a".to_owned()])
    );
    let pages: Vec<_> = ssm
        .get_parameters_by_path()
        .path("/conf")
        .recursive(true)
        .max_results(2)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let all: BTreeSet<String> = pages
        .into_iter()
        .flat_map(|p| {
            p.expect("page")
                .parameters
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.name)
        })
        .collect();
    assert_eq!(all.len(), 4);

    let tags = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .expect("tags");
    assert_eq!(tags.tag_list(), [tag("tenant", "t-1")]);
    ssm.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .tags(tag("env", "dev"))
        .send()
        .await
        .expect("AddTagsToResource");
    let tags = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_list().len(), 2);

    ssm.delete_parameter()
        .name(name)
        .send()
        .await
        .expect("DeleteParameter");
    let err = ssm.delete_parameter().name(name).send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ParameterNotFound"));
    let err = ssm.get_parameter().name(name).send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ParameterNotFound"));
    let out = ssm
        .delete_parameters()
        .names("/conf/svc/a")
        .names("/conf/gone")
        .send()
        .await
        .expect("DeleteParameters");
    assert_eq!(out.deleted_parameters(), ["/conf/svc/a".to_owned()]);
    assert_eq!(out.invalid_parameters(), ["/conf/gone".to_owned()]);
}
