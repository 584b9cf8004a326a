//! The broadcast lifecycle through the unmodified SDKs: SQS (long polling, visibility, receipt
//! handles, concurrent receivers), EventBridge rules routing to SQS, S3 path-style objects and
//! listings, IVS stream sessions, the events and recording objects a fake broadcast produces, and
//! the event-path chaos hooks. The SQS, S3 and EventBridge checks both implement also run against
//! moto 5.2.5 (from the project's venv, as in `conformance.rs`).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sim::{BroadcastSpec, EventFaults, SimConfig};
use common::{Moto, Sim, events_client, events_queue_policy, s3_client, sqs_client};
use serde_json::{Value, json};

const IVS_PATTERN: &str = r#"{"source":["aws.ivs"]}"#;

/// A queue EventBridge may deliver to, and a rule `{"source":["aws.ivs"]}` targeting it.
async fn ivs_queue(endpoint: &str, name: &str) -> String {
    let sqs = sqs_client(endpoint);
    let events = events_client(endpoint);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap();
    let arn = queue_arn(&sqs, &url).await;
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, events_queue_policy(&arn))
        .send()
        .await
        .expect("SetQueueAttributes Policy");
    events
        .put_rule()
        .name(format!("{name}-rule"))
        .event_pattern(IVS_PATTERN)
        .send()
        .await
        .expect("PutRule");
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(&arn)
        .build()
        .unwrap();
    let put = events
        .put_targets()
        .rule(format!("{name}-rule"))
        .targets(target)
        .send()
        .await
        .expect("PutTargets");
    assert_eq!(put.failed_entry_count(), 0);
    url
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes");
    attributes.attributes().unwrap()[&QueueAttributeName::QueueArn].clone()
}

/// Receives (and deletes) until a receive comes back empty; the bodies parsed as JSON.
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = got.messages();
        if messages.is_empty() {
            return out;
        }
        for message in messages {
            out.push(serde_json::from_str(message.body().unwrap()).expect("JSON body"));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
}

/// `detail.event_name` or `detail.recording_status` of each event.
fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let detail = &e["detail"];
            detail["event_name"]
                .as_str()
                .or(detail["recording_status"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn recorded_channel(sim: &Sim, bucket: &str) -> String {
    let config = aws_sdk_ivs::types::DestinationConfiguration::builder()
        .s3(aws_sdk_ivs::types::S3DestinationConfiguration::builder()
            .bucket_name(bucket)
            .build()
            .unwrap())
        .build();
    let recording = sim
        .ivs
        .create_recording_configuration()
        .destination_configuration(config)
        .send()
        .await
        .unwrap();
    let recording_arn = recording.recording_configuration.unwrap().arn;
    let channel = sim
        .ivs
        .create_channel()
        .name("class-1")
        .recording_configuration_arn(recording_arn)
        .send()
        .await
        .unwrap();
    channel.channel.unwrap().arn.unwrap()
}

fn sqs_code<E: aws_sdk_sqs::error::ProvideErrorMetadata, R>(
    err: &aws_sdk_sqs::error::SdkError<E, R>,
) -> String {
    err.as_service_error()
        .and_then(|e| e.code())
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------- SQS

#[tokio::test]
async fn a_long_poll_returns_when_a_message_arrives() {
    let sim = Sim::for_tests().await;
    let sqs = sqs_client(&sim.endpoint());
    let url = sqs
        .create_queue()
        .queue_name("poll")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let receiver = {
        let (sqs, url) = (sqs.clone(), url.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let got = sqs
                .receive_message()
                .queue_url(url)
                .wait_time_seconds(20)
                .send()
                .await
                .unwrap();
            (got, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("wake up")
        .send()
        .await
        .unwrap();
    let (got, waited) = receiver.await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("wake up"));
    // It answered when the message came, not at the end of its 20 s wait.
    assert!(waited < Duration::from_secs(15), "waited {waited:?}");

    let started = Instant::now();
    let empty = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(empty.messages().is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "an empty long poll waits its time"
    );
}

#[tokio::test]
async fn visibility_timeouts_and_receipt_handles_behave_as_in_sqs() {
    let sim = Sim::for_tests().await;
    let sqs = sqs_client(&sim.endpoint());
    let url = sqs
        .create_queue()
        .queue_name("work")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("job")
        .send()
        .await
        .unwrap();
    // md5("job"), as SQS computes MD5OfMessageBody.
    assert_eq!(
        sent.md5_of_message_body(),
        Some("9dddd5ce1b1375bc497feeb871842d4b")
    );

    let first = sqs
        .receive_message()
        .queue_url(&url)
        .visibility_timeout(2)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let first = first.messages()[0].clone();
    assert_eq!(first.message_id(), sent.message_id());
    assert_eq!(first.md5_of_body(), sent.md5_of_message_body());
    assert_eq!(
        first.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
        "1"
    );
    let hidden = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(hidden.messages().is_empty(), "invisible while in flight");

    // After the timeout it comes back with a new handle and a higher receive count.
    let second = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(6)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let second = second.messages()[0].clone();
    assert_ne!(second.receipt_handle(), first.receipt_handle());
    assert_eq!(
        second.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
        "2"
    );

    // A stale handle "succeeds" without deleting (SQS's documented behaviour).
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(first.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(
        attributes[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "1"
    );
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "30");

    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(second.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let err = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(second.receipt_handle().unwrap())
        .visibility_timeout(5)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_message_not_inflight(),
        "{err:?}"
    );
    let third = sqs.receive_message().queue_url(&url).send().await.unwrap();
    let handle = third.messages()[0].receipt_handle().unwrap().to_owned();
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(&handle)
        .send()
        .await
        .unwrap();
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(&handle)
        .send()
        .await
        .expect("deleting twice succeeds");
    assert!(
        sqs.receive_message()
            .queue_url(&url)
            .send()
            .await
            .unwrap()
            .messages()
            .is_empty()
    );

    let err = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle("not-a-handle")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_receipt_handle_is_invalid(),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_sqs_input_is_refused_with_sqs_codes() {
    let sim = Sim::for_tests().await;
    let sqs = sqs_client(&sim.endpoint());
    let url = sqs
        .create_queue()
        .queue_name("strict")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for max in [0, 11] {
        let err = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(max)
            .send()
            .await
            .unwrap_err();
        assert_eq!(sqs_code(&err), "InvalidParameterValue", "{max}");
    }
    let err = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(21)
        .send()
        .await
        .unwrap_err();
    assert_eq!(sqs_code(&err), "InvalidParameterValue");
    let err = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sqs_code(&err), "InvalidParameterValue");
    let err = sqs
        .create_queue()
        .queue_name("strict")
        .attributes(QueueAttributeName::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_queue_name_exists(),
        "{err:?}"
    );
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    let err = sqs.purge_queue().queue_url(&url).send().await.unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_purge_queue_in_progress(),
        "{err:?}"
    );
    let entries: Vec<_> = (0..2)
        .map(|_| {
            DeleteMessageBatchRequestEntry::builder()
                .id("same")
                .receipt_handle("x")
                .build()
                .unwrap()
        })
        .collect();
    let err = sqs
        .delete_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_batch_entry_ids_not_distinct(),
        "{err:?}"
    );
}

#[tokio::test]
async fn concurrent_receivers_never_get_the_same_message() {
    let sim = Sim::for_tests().await;
    let sqs = sqs_client(&sim.endpoint());
    let url = sqs
        .create_queue()
        .queue_name("shared")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for i in 0..200 {
        sqs.send_message()
            .queue_url(&url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .unwrap();
    }
    let receivers: Vec<_> = (0..8)
        .map(|_| {
            let (sqs, url) = (sqs.clone(), url.clone());
            tokio::spawn(async move {
                let mut bodies = Vec::new();
                loop {
                    let got = sqs
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .send()
                        .await
                        .unwrap();
                    if got.messages().is_empty() {
                        return bodies;
                    }
                    bodies.extend(got.messages().iter().map(|m| m.body().unwrap().to_owned()));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for receiver in receivers {
        all.extend(receiver.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(
        all.len(),
        200,
        "each message received exactly once while invisible"
    );
    assert_eq!(distinct.len(), 200);
}

#[tokio::test]
async fn a_dead_letter_queue_takes_messages_received_too_often() {
    let sim = Sim::for_tests().await;
    let sqs = sqs_client(&sim.endpoint());
    let dlq = sqs
        .create_queue()
        .queue_name("aside")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = queue_arn(&sqs, &dlq).await;
    let redrive = json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2 }).to_string();
    let url = sqs
        .create_queue()
        .queue_name("main")
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.send_message()
        .queue_url(&url)
        .message_body("poison")
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        assert_eq!(got.messages().len(), 1);
    }
    assert!(
        sqs.receive_message()
            .queue_url(&url)
            .send()
            .await
            .unwrap()
            .messages()
            .is_empty()
    );
    let aside = sqs.receive_message().queue_url(&dlq).send().await.unwrap();
    assert_eq!(aside.messages()[0].body(), Some("poison"));
}

// ---------------------------------------------------------------- EventBridge

#[tokio::test]
async fn rules_route_matching_events_to_their_queue_only_with_a_policy() {
    let sim = Sim::for_tests().await;
    let (sqs, events) = (sqs_client(&sim.endpoint()), events_client(&sim.endpoint()));
    let url = ivs_queue(&sim.endpoint(), "ivs-events").await;
    let pattern = r#"{"source":["aws.ivs"],"detail-type":["IVS Recording State Change"],"detail":{"recording_status":["Recording End"]}}"#;
    events
        .put_rule()
        .name("ivs-events-rule")
        .event_pattern(pattern)
        .send()
        .await
        .unwrap();
    let rule = events
        .describe_rule()
        .name("ivs-events-rule")
        .send()
        .await
        .unwrap();
    assert_eq!(rule.event_pattern(), Some(pattern));
    assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"));
    let targets = events
        .list_targets_by_rule()
        .rule("ivs-events-rule")
        .send()
        .await
        .unwrap();
    assert_eq!(
        targets.targets().len(),
        1,
        "PutRule again keeps the targets"
    );

    let entry = |status: &str| {
        aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source("aws.ivs")
            .detail_type("IVS Recording State Change")
            .detail(json!({ "recording_status": status }).to_string())
            .build()
    };
    let put = events
        .put_events()
        .entries(entry("Recording End"))
        .entries(entry("Recording Start"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0);
    let got = drain(&sqs, &url).await;
    assert_eq!(names(&got), ["Recording End"]);
    assert_eq!(got[0]["id"], json!(put.entries()[0].event_id().unwrap()));

    // A queue without a policy for EventBridge receives nothing: the invocation fails.
    let bare = sqs
        .create_queue()
        .queue_name("no-policy")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let bare_arn = queue_arn(&sqs, &bare).await;
    events
        .put_rule()
        .name("bare")
        .event_pattern(IVS_PATTERN)
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("q")
        .arn(bare_arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule("bare")
        .targets(target)
        .send()
        .await
        .unwrap();
    events
        .put_events()
        .entries(entry("Recording End"))
        .send()
        .await
        .unwrap();
    assert!(drain(&sqs, &bare).await.is_empty());
    assert!(sim.sim().dump()["events"]["failedInvocations"].as_u64() >= Some(1));

    let err = events.delete_rule().name("bare").send().await.unwrap_err();
    assert_eq!(
        err.as_service_error()
            .and_then(|e| aws_sdk_eventbridge::error::ProvideErrorMetadata::code(e)),
        Some("ValidationException")
    );
    events
        .remove_targets()
        .rule("bare")
        .ids("q")
        .send()
        .await
        .unwrap();
    events.delete_rule().name("bare").send().await.unwrap();
    let err = events
        .describe_rule()
        .name("bare")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    let err = events
        .put_rule()
        .name("broken")
        .event_pattern("{\"source\":\"aws.ivs\"}")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_event_pattern_exception(),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- S3

#[tokio::test]
async fn s3_missing_things_have_typed_errors() {
    let sim = Sim::for_tests().await;
    let s3 = s3_client(&sim.endpoint());
    let err = s3
        .get_object()
        .bucket("nope")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err.into_service_error()),
        Some("NoSuchBucket")
    );
    let err = s3.head_bucket().bucket("nope").send().await.unwrap_err();
    assert!(err.into_service_error().is_not_found());
    s3.create_bucket()
        .bucket("recordings")
        .send()
        .await
        .unwrap();
    let err = s3
        .get_object()
        .bucket("recordings")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_no_such_key());
    let err = s3
        .head_object()
        .bucket("recordings")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_found());
    let err = s3
        .create_bucket()
        .bucket("Bad_Name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err.into_service_error()),
        Some("InvalidBucketName")
    );
}

// ---------------------------------------------------------------- IVS broadcast lifecycle

#[tokio::test]
async fn a_recorded_broadcast_produces_sessions_events_and_objects() {
    let sim = Sim::for_tests().await;
    let (sqs, s3) = (sqs_client(&sim.endpoint()), s3_client(&sim.endpoint()));
    let url = ivs_queue(&sim.endpoint(), "lifecycle").await;
    let arn = recorded_channel(&sim, "class-recordings").await;
    let channel_id = arn.rsplit('/').next().unwrap().to_owned();

    let live = sim
        .sim()
        .start_broadcast(BroadcastSpec {
            health: "STARVING".into(),
            ..BroadcastSpec::new(&arn)
        })
        .unwrap();
    sim.sim().start_broadcast(BroadcastSpec::new(&arn)).unwrap();
    assert!(sim.sim().stop_broadcast(&arn));

    let got = drain(&sqs, &url).await;
    assert_eq!(
        names(&got),
        [
            "Session Created",
            "Stream Start",
            "Starvation Start",
            "Recording Start",
            "Starvation End",
            "Stream End",
            "Session Ended",
            "Recording End"
        ]
    );
    for event in &got {
        assert_eq!(event["source"], "aws.ivs");
        assert_eq!(event["account"], "123456789012");
        assert_eq!(event["region"], "us-east-1");
        assert_eq!(event["version"], "0");
        assert_eq!(event["resources"], json!([arn]));
        assert_eq!(event["detail"]["stream_id"], json!(live.stream_id));
        assert_eq!(event["detail"]["channel_name"], "class-1");
    }
    let end = &got[7];
    assert_eq!(end["detail-type"], "IVS Recording State Change");
    let detail = &end["detail"];
    assert_eq!(detail["recording_s3_bucket_name"], "class-recordings");
    assert_eq!(
        detail["recording_session_stream_ids"],
        json!([live.stream_id])
    );
    assert_eq!(
        detail["recording_session_id"],
        got[3]["detail"]["recording_session_id"]
    );
    assert!(detail["recording_duration_ms"].as_i64().unwrap() >= 0);
    let prefix = detail["recording_s3_key_prefix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        prefix.starts_with(&format!("ivs/v1/123456789012/{channel_id}/")),
        "{prefix}"
    );
    assert_eq!(prefix.split('/').count(), 10, "{prefix}");

    // The recording's objects, found the way a sweep finds them.
    let listed = s3
        .list_objects_v2()
        .bucket("class-recordings")
        .prefix(format!("ivs/v1/123456789012/{channel_id}/"))
        .send()
        .await
        .unwrap();
    let keys: BTreeSet<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    for expected in [
        "events/recording-started.json",
        "events/recording-ended.json",
        "media/hls/master.m3u8",
        "media/hls/byte-range-multivariant.m3u8",
        "media/hls/720p60/playlist.m3u8",
        "media/thumbnails/thumb0.jpg",
    ] {
        assert!(
            keys.contains(&format!("{prefix}/{expected}")),
            "{expected} missing from {keys:?}"
        );
    }
    let ended = s3
        .get_object()
        .bucket("class-recordings")
        .key(format!("{prefix}/events/recording-ended.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.content_type(), Some("application/json"));
    let ended: Value =
        serde_json::from_slice(&ended.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(ended["recording_status"], "RECORDING_ENDED");
    assert_eq!(ended["channel_arn"], json!(arn));
    assert_eq!(ended["media"]["hls"]["playlist"], "master.m3u8");
    assert_eq!(
        ended["media"]["hls"]["duration_ms"],
        detail["recording_duration_ms"]
    );
    assert_eq!(
        ended["media"]["hls"]["renditions"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(ended["media"]["thumbnails"]["path"], "media/thumbnails");
    let master = s3
        .get_object()
        .bucket("class-recordings")
        .key(format!("{prefix}/media/hls/master.m3u8"))
        .send()
        .await
        .unwrap();
    let master =
        String::from_utf8(master.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(
        master.starts_with("#EXTM3U") && master.contains("720p60/playlist.m3u8"),
        "{master}"
    );

    let sessions = sim
        .ivs
        .list_stream_sessions()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap();
    let summary = &sessions.stream_sessions()[0];
    assert_eq!(sessions.stream_sessions().len(), 1);
    assert_eq!(summary.stream_id(), Some(live.stream_id.as_str()));
    assert!(summary.start_time().is_some() && summary.end_time().is_some());
    assert!(!summary.has_error_event());
    let session = sim
        .ivs
        .get_stream_session()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_session
        .unwrap();
    assert_eq!(session.stream_id(), Some(live.stream_id.as_str()));
    assert_eq!(session.channel().and_then(|c| c.name()), Some("class-1"));
    assert!(session.recording_configuration().is_some());
    assert_eq!(
        session
            .ingest_configuration()
            .and_then(|c| c.video())
            .map(|v| v.video_height()),
        Some(1080)
    );
    let event_names: Vec<&str> = session
        .truncated_events()
        .iter()
        .filter_map(|e| e.name())
        .collect();
    assert_eq!(
        event_names.first(),
        Some(&"Recording End"),
        "newest first: {event_names:?}"
    );
    assert_eq!(event_names.last(), Some(&"Session Created"));
}

#[tokio::test]
async fn stream_sessions_paginate_newest_first_and_validate_input() {
    let sim = Sim::for_tests().await;
    let arn = sim
        .ivs
        .create_channel()
        .name("many")
        .send()
        .await
        .unwrap()
        .channel
        .unwrap()
        .arn
        .unwrap();
    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(
            sim.sim()
                .start_broadcast(BroadcastSpec::new(&arn))
                .unwrap()
                .stream_id,
        );
        sim.sim().stop_broadcast(&arn);
    }
    let live = sim
        .sim()
        .start_broadcast(BroadcastSpec::new(&arn))
        .unwrap()
        .stream_id;
    started.push(live.clone());
    let pages: Vec<_> = sim
        .ivs
        .list_stream_sessions()
        .channel_arn(&arn)
        .max_results(3)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 2);
    let listed: Vec<String> = pages
        .into_iter()
        .flat_map(|p| {
            p.unwrap()
                .stream_sessions
                .into_iter()
                .filter_map(|s| s.stream_id)
        })
        .collect();
    started.reverse();
    assert_eq!(listed, started);
    let latest = sim
        .ivs
        .get_stream_session()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_session
        .unwrap();
    assert_eq!(latest.stream_id(), Some(live.as_str()));
    assert!(latest.end_time().is_none(), "still live");
    let oldest = sim
        .ivs
        .get_stream_session()
        .channel_arn(&arn)
        .stream_id(&started[3])
        .send()
        .await
        .unwrap();
    assert!(oldest.stream_session.unwrap().end_time().is_some());

    let err = sim
        .ivs
        .get_stream_session()
        .channel_arn(&arn)
        .stream_id("st-doesnotexist")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = sim
        .ivs
        .list_stream_sessions()
        .channel_arn(&arn)
        .max_results(101)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_validation_exception());
    let missing = "arn:aws:ivs:us-east-1:123456789012:channel/doesnotexist";
    let err = sim
        .ivs
        .list_stream_sessions()
        .channel_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn stream_session_calls_have_their_5_tps_limit() {
    // Each operation has its own 5 TPS bucket (docs/aws-facts.md §2, §11.2)...
    for op in ["ivs:ListStreamSessions", "ivs:GetStreamSession"] {
        let (bucket, tps) = aws_sim::rates::limit_for(op).unwrap();
        assert_eq!((bucket, tps), (op.trim_start_matches("ivs:"), 5.0));
    }
    // ...enforced on the wire: scaled down to 0.5 TPS (a burst of one), so a slow machine still
    // sends the second call before the bucket refills.
    let mut config = SimConfig::default();
    config.rates.scale = 0.1;
    config.recording_delay_ms = 0;
    let sim = Sim::start(config).await;
    let ivs = common::ivs_client(
        &sim.endpoint(),
        aws_sdk_ivs::config::retry::RetryConfig::disabled(),
    );
    let arn = ivs
        .create_channel()
        .name("rated")
        .send()
        .await
        .unwrap()
        .channel
        .unwrap()
        .arn
        .unwrap();
    ivs.list_stream_sessions()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap();
    let err = ivs
        .list_stream_sessions()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err).as_deref(), Some("ThrottlingException"));
    assert_eq!(common::status(&err), Some(429));
}

#[tokio::test]
async fn a_failed_recording_is_reported_and_written_as_failed() {
    let sim = Sim::for_tests().await;
    let (sqs, s3) = (sqs_client(&sim.endpoint()), s3_client(&sim.endpoint()));
    let url = ivs_queue(&sim.endpoint(), "failures").await;
    let arn = recorded_channel(&sim, "fail-bucket").await;
    let spec = BroadcastSpec {
        recording_failure: Some("end".into()),
        ..BroadcastSpec::new(&arn)
    };
    sim.sim().start_broadcast(spec).unwrap();
    sim.sim().stop_broadcast(&arn);
    let got = drain(&sqs, &url).await;
    let failure = got
        .iter()
        .find(|e| e["detail"]["recording_status"] == "Recording End Failure")
        .expect("Recording End Failure");
    assert_eq!(
        failure["detail"]["recording_status_reason"],
        "InternalServerException"
    );
    let prefix = failure["detail"]["recording_s3_key_prefix"]
        .as_str()
        .unwrap();
    let failed = s3
        .get_object()
        .bucket("fail-bucket")
        .key(format!("{prefix}/events/recording-failed.json"))
        .send()
        .await
        .unwrap();
    let failed: Value =
        serde_json::from_slice(&failed.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(failed["recording_status"], "RECORDING_ENDED_WITH_FAILURE");
    let listed = sim
        .ivs
        .list_stream_sessions()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(listed.stream_sessions()[0].has_error_event());

    let start_fails = BroadcastSpec {
        recording_failure: Some("start".into()),
        ..BroadcastSpec::new(&arn)
    };
    sim.sim().start_broadcast(start_fails).unwrap();
    let got = drain(&sqs, &url).await;
    let start = got
        .iter()
        .find(|e| e["detail"]["recording_status"] == "Recording Start Failure")
        .expect("Recording Start Failure");
    assert_eq!(start["detail"]["recording_s3_key_prefix"], "");
}

// ---------------------------------------------------------------- chaos on the event path

#[tokio::test]
async fn dropped_events_still_leave_sessions_and_recordings_for_a_sweep() {
    let sim = Sim::for_tests().await;
    let (sqs, s3) = (sqs_client(&sim.endpoint()), s3_client(&sim.endpoint()));
    let url = ivs_queue(&sim.endpoint(), "lossy").await;
    let arn = recorded_channel(&sim, "lossy-bucket").await;
    sim.sim().set_event_faults(EventFaults {
        drop_rate: 1.0,
        ..EventFaults::default()
    });
    let stream_id = sim
        .sim()
        .start_broadcast(BroadcastSpec::new(&arn))
        .unwrap()
        .stream_id;
    sim.sim().stop_broadcast(&arn);
    assert!(drain(&sqs, &url).await.is_empty(), "every event dropped");
    let log = sim.sim().event_log();
    assert!(!log.is_empty() && log.iter().all(|e| e["fate"] == "dropped"));
    let sessions = sim
        .ivs
        .list_stream_sessions()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sessions.stream_sessions()[0].stream_id(),
        Some(stream_id.as_str())
    );
    let channel_id = arn.rsplit('/').next().unwrap();
    let listed = s3
        .list_objects_v2()
        .bucket("lossy-bucket")
        .prefix(format!("ivs/v1/123456789012/{channel_id}/"))
        .send()
        .await
        .unwrap();
    assert!(
        listed
            .contents()
            .iter()
            .any(|o| o.key().unwrap().ends_with("/events/recording-ended.json"))
    );
}

#[tokio::test]
async fn duplicated_and_reordered_events_are_reproducible_by_seed() {
    let run = |faults: EventFaults| async move {
        let sim = Sim::for_tests().await;
        let sqs = sqs_client(&sim.endpoint());
        let url = ivs_queue(&sim.endpoint(), "chaos").await;
        let arn = sim
            .ivs
            .create_channel()
            .name("chaos")
            .send()
            .await
            .unwrap()
            .channel
            .unwrap()
            .arn
            .unwrap();
        sim.sim().set_event_faults(faults);
        for _ in 0..3 {
            sim.sim().start_broadcast(BroadcastSpec::new(&arn)).unwrap();
            sim.sim().stop_broadcast(&arn);
        }
        sim.sim().flush_events();
        let fates: Vec<String> = sim
            .sim()
            .event_log()
            .iter()
            .map(|e| format!("{}:{}", e["name"], e["fate"]))
            .collect();
        (names(&drain(&sqs, &url).await), fates)
    };
    let chaos = EventFaults {
        duplicate_rate: 0.3,
        reorder: true,
        seed: 42,
        ..EventFaults::default()
    };
    let (first, first_fates) = run(chaos.clone()).await;
    let (second, second_fates) = run(chaos).await;
    assert_eq!(first_fates, second_fates, "same seed, same fates");
    assert_eq!(first, second);
    // 12 events emitted: each arrives at least once, some twice, some out of order.
    assert!(first.len() > 12, "{first:?}");
    let distinct: BTreeSet<&String> = first.iter().collect();
    assert_eq!(distinct.len(), 4, "{first:?}");
    let in_order = [
        "Session Created",
        "Stream Start",
        "Stream End",
        "Session Ended",
    ]
    .repeat(3);
    assert_ne!(first, in_order);
    assert!(first_fates.iter().any(|f| f.ends_with("\"held\"")));
    assert!(first_fates.iter().any(|f| f.ends_with("\"duplicated\"")));
}

#[tokio::test]
async fn delayed_and_injected_events_arrive_through_the_admin_hooks() {
    let sim = Sim::for_tests().await;
    let sqs = sqs_client(&sim.endpoint());
    let url = ivs_queue(&sim.endpoint(), "hooks").await;
    let http = reqwest::Client::new();
    let admin = |path: &str| format!("{}/_sim/{path}", sim.endpoint());
    let faults = http
        .post(admin("events/faults"))
        .json(&json!({ "delay_ms": 2000 }))
        .send()
        .await
        .unwrap();
    assert!(faults.status().is_success());
    let event = json!({
        "source": "aws.ivs", "detail-type": "IVS Stream State Change",
        "resources": ["arn:aws:ivs:us-east-1:123456789012:channel/abc"],
        "detail": { "event_name": "Stream Start", "stream_id": "st-1", "channel_name": "x" },
    });
    let emitted: Value = http
        .post(admin("events/emit"))
        .json(&event)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = emitted["event"]["id"].as_str().unwrap().to_owned();
    assert!(drain(&sqs, &url).await.is_empty(), "delayed");
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(10)
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(got.messages()[0].body().unwrap()).unwrap();
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["time"].as_str().map(str::len), Some(20), "{body}");

    let cleared = http.delete(admin("events/faults")).send().await.unwrap();
    assert!(cleared.status().is_success());
    let bad = http
        .post(admin("events/emit"))
        .json(&json!({ "source": "aws.ivs" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let log: Value = http
        .get(admin("events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fates: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["fate"].as_str())
        .collect();
    assert_eq!(fates, ["delayed", "delivered"]);
}

// ---------------------------------------------------------------- conformance with moto

#[tokio::test]
async fn queues_rules_and_objects_against_the_simulator() {
    let sim = Sim::for_tests().await;
    conformance(&sim.endpoint()).await;
}

#[tokio::test]
async fn queues_rules_and_objects_against_moto() {
    let moto = Moto::start().await;
    conformance(&moto.endpoint).await;
}

/// Behaviour the simulator and moto share for SQS, EventBridge → SQS and S3.
async fn conformance(endpoint: &str) {
    sqs_conformance(endpoint).await;
    events_conformance(endpoint).await;
    s3_conformance(endpoint).await;
}

async fn sqs_conformance(endpoint: &str) {
    let sqs = sqs_client(endpoint);
    let url = sqs
        .create_queue()
        .queue_name("conf-q")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap();
    let again = sqs
        .create_queue()
        .queue_name("conf-q")
        .send()
        .await
        .expect("CreateQueue again")
        .queue_url
        .unwrap();
    assert_eq!(url, again, "CreateQueue is idempotent");
    let found = sqs
        .get_queue_url()
        .queue_name("conf-q")
        .send()
        .await
        .unwrap();
    assert_eq!(found.queue_url(), Some(url.as_str()));
    let err = sqs
        .get_queue_url()
        .queue_name("conf-missing")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_queue_does_not_exist(),
        "{err:?}"
    );
    assert_eq!(
        queue_arn(&sqs, &url).await,
        "arn:aws:sqs:us-east-1:123456789012:conf-q"
    );

    for i in 0..3 {
        sqs.send_message()
            .queue_url(&url)
            .message_body(format!("body-{i}"))
            .send()
            .await
            .unwrap();
    }
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .visibility_timeout(30)
        .send()
        .await
        .unwrap();
    let bodies: BTreeSet<&str> = got.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, BTreeSet::from(["body-0", "body-1", "body-2"]));
    assert!(
        got.messages()
            .iter()
            .all(|m| m.md5_of_body().is_some_and(|md5| md5.len() == 32))
    );
    let again = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(
        again.messages().is_empty(),
        "received messages are invisible"
    );
    let entries: Vec<_> = got
        .messages()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("e{i}"))
                .receipt_handle(m.receipt_handle().unwrap())
                .build()
                .unwrap()
        })
        .collect();
    let deleted = sqs
        .delete_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.successful().len(), 3);
    assert!(deleted.failed().is_empty());
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(
        attributes[&QueueAttributeName::ApproximateNumberOfMessages],
        "0"
    );
    assert_eq!(
        attributes[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "0"
    );
    let err = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(11)
        .send()
        .await
        .unwrap_err();
    assert_eq!(sqs_code(&err), "InvalidParameterValue");
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let err = sqs
        .get_queue_url()
        .queue_name("conf-q")
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_does_not_exist());
}

async fn events_conformance(endpoint: &str) {
    let (sqs, events) = (sqs_client(endpoint), events_client(endpoint));
    let url = ivs_queue(endpoint, "conf-events").await;
    let rule = events
        .describe_rule()
        .name("conf-events-rule")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rule.arn(),
        Some("arn:aws:events:us-east-1:123456789012:rule/conf-events-rule")
    );
    assert_eq!(rule.event_pattern(), Some(IVS_PATTERN));
    let targets = events
        .list_targets_by_rule()
        .rule("conf-events-rule")
        .send()
        .await
        .unwrap();
    assert_eq!(targets.targets()[0].id(), "queue");
    let detail = json!({ "event_name": "Stream Start", "stream_id": "st-1" });
    let entry = |source: &str| {
        aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(source)
            .detail_type("IVS Stream State Change")
            .resources("arn:aws:ivs:us-east-1:123456789012:channel/abc")
            .detail(detail.to_string())
            .build()
    };
    events
        .put_events()
        .entries(entry("aws.ivs"))
        .entries(entry("other.source"))
        .send()
        .await
        .unwrap();
    let got = drain(&sqs, &url).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let event = &got[0];
    assert_eq!(event["source"], "aws.ivs");
    assert_eq!(event["detail-type"], "IVS Stream State Change");
    assert_eq!(event["detail"], detail);
    // moto leaves `account` out of the envelope (AWS and the simulator send it; checked above).
    assert_eq!(event["region"], "us-east-1");
    assert_eq!(
        event["resources"],
        json!(["arn:aws:ivs:us-east-1:123456789012:channel/abc"])
    );
    assert!(event["id"].is_string() && event["time"].is_string() && event["version"] == "0");
}

async fn s3_conformance(endpoint: &str) {
    let s3 = s3_client(endpoint);
    s3.create_bucket()
        .bucket("conf-bucket")
        .send()
        .await
        .expect("CreateBucket");
    s3.head_bucket()
        .bucket("conf-bucket")
        .send()
        .await
        .expect("HeadBucket");
    let keys = [
        "a/1.json",
        "a/2.json",
        "a/b/3.json",
        "a/c/4.json",
        "b/5.json",
        "top.json",
    ];
    for key in keys {
        let put = s3
            .put_object()
            .bucket("conf-bucket")
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(
                format!("{{\"key\":\"{key}\"}}").into_bytes(),
            ))
            .send()
            .await
            .expect("PutObject");
        assert!(put.e_tag().is_some_and(|e| e.starts_with('"')));
    }
    let got = s3
        .get_object()
        .bucket("conf-bucket")
        .key("a/b/3.json")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(got.content_length(), Some(20));
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], br#"{"key":"a/b/3.json"}"#);
    let head = s3
        .head_object()
        .bucket("conf-bucket")
        .key("top.json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(18));

    let all = s3
        .list_objects_v2()
        .bucket("conf-bucket")
        .send()
        .await
        .unwrap();
    let listed: Vec<&str> = all.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(listed, keys);
    assert_eq!(all.key_count(), Some(6));
    let folders = s3
        .list_objects_v2()
        .bucket("conf-bucket")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let files: Vec<&str> = folders.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = folders
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(files, ["a/1.json", "a/2.json"]);
    assert_eq!(prefixes, ["a/b/", "a/c/"]);
    let after = s3
        .list_objects_v2()
        .bucket("conf-bucket")
        .start_after("a/c/4.json")
        .send()
        .await
        .unwrap();
    let rest: Vec<&str> = after.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(rest, ["b/5.json", "top.json"]);

    let mut paged = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("conf-bucket")
            .max_keys(4)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        paged.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if page.is_truncated() != Some(true) {
            break;
        }
    }
    assert_eq!(paged, keys);

    s3.delete_object()
        .bucket("conf-bucket")
        .key("top.json")
        .send()
        .await
        .unwrap();
    let err = s3
        .get_object()
        .bucket("conf-bucket")
        .key("top.json")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_no_such_key());
    let err = s3
        .list_objects_v2()
        .bucket("conf-missing")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_no_such_bucket());
}
