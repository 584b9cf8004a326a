//! The broadcast lifecycle end to end: `events setup` against the simulator's SQS and
//! EventBridge, a recorded channel provisioned by the reconciler, the simulator broadcasting and
//! recording, and the intake engine turning IVS's events into exactly one session and one
//! recording, whatever order and however often they arrive; malformed messages set aside,
//! unknown channels dropped, the queue empty afterwards, the audit entries and webhooks written
//! once. All through the real SDKs over HTTP, on a real Postgres.

mod common;

use std::time::Duration;

use aws_sim::{RunningSim, SimConfig};
use clap::Parser;
use ivs_provisioner::aws::{Aws, RateSettings};
use ivs_provisioner::cli::wiring;
use ivs_provisioner::db::{self, broadcasts::FactFilter};
use ivs_provisioner::domain::broadcast::{FactSource, RecordingStatus, SessionFact};
use ivs_provisioner::domain::channel::{ChannelRequest, ChannelSpec};
use ivs_provisioner::domain::event_routing::DEFAULT_RULE_NAME;
use ivs_provisioner::events;
use ivs_provisioner::reconciler::{self, ReconcilerArgs};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use common::TestDatabase;

const REGION: &str = "us-east-1";
const QUEUE: &str = "ivs-events";

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    reconciler: ReconcilerArgs,
}

struct World {
    pool: PgPool,
    sim: RunningSim,
    aws: Aws,
    queue_url: String,
    http: reqwest::Client,
    /// Last: the database goes when everything using it is gone.
    _database: TestDatabase,
}

impl World {
    /// A database, a simulator and the queue, policy, rule and target `events setup` makes.
    async fn new() -> World {
        let database = TestDatabase::new(PgPoolOptions::new()).await;
        let sim = aws_sim::spawn(SimConfig::for_tests()).await.unwrap();
        let aws =
            Aws::for_local_endpoint(&sim.endpoint(), REGION, &RateSettings::unlimited()).await;
        let report = events::setup(&aws, QUEUE, DEFAULT_RULE_NAME).await.unwrap();
        assert_eq!(report.changed, ["rule", "queue policy", "target"]);
        // Idempotent: a second run finds everything in place and writes nothing.
        let again = events::setup(&aws, QUEUE, DEFAULT_RULE_NAME).await.unwrap();
        assert!(again.changed.is_empty(), "{:?}", again.changed);
        assert_eq!(again.queue_url, report.queue_url);
        World {
            pool: database.pool.clone(),
            sim,
            aws,
            queue_url: report.queue_url,
            http: reqwest::Client::new(),
            _database: database,
        }
    }

    /// A recorded channel made `ready` by the reconciler; returns its id and ARN.
    async fn ready_channel(&self, name: &str) -> (Uuid, String) {
        let request: ChannelRequest = serde_json::from_value(json!({
            "tenant": "acme", "name": name, "recording": {"s3_bucket_name": "acme-recordings"}
        }))
        .unwrap();
        let spec: ChannelSpec = request.validate(chrono::Utc::now(), None).unwrap();
        let id = db::channels::insert_if_absent(&self.pool, Uuid::now_v7(), &spec)
            .await
            .unwrap()
            .unwrap()
            .id;
        let args = Args::parse_from(["test"]).reconciler;
        let managed_key = wiring::managed_key(self.pool.clone(), self.aws.clone());
        let ctx = reconciler::Ctx::new(
            self.pool.clone(),
            self.aws.clone(),
            reconciler::Settings::from(&args),
            managed_key,
        );
        for _ in 0..30 {
            reconciler::run_once(&ctx).await.unwrap();
            let (phase, arn): (String, Option<String>) = sqlx::query_as(
                "select phase, outputs ->> 'channel_arn' from channels where id = $1",
            )
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap();
            if phase == "ready" {
                return (id, arn.unwrap());
            }
        }
        panic!("the channel did not become ready");
    }

    /// The intake engine, until the returned token is cancelled.
    fn start_intake(&self) -> CancellationToken {
        let stop = CancellationToken::new();
        let ctx = events::Ctx {
            pool: self.pool.clone(),
            aws: self.aws.clone(),
            settings: events::Settings {
                queue_url: self.queue_url.clone(),
                pollers: 2,
                wait: Duration::from_secs(1),
                visibility: Duration::from_secs(30),
                retention: Duration::from_secs(86_400),
            },
        };
        tokio::spawn(events::run(ctx, stop.clone()));
        stop
    }

    async fn sim_post(&self, path: &str, body: Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.sim.endpoint()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }

    async fn raw_sqs(&self) -> aws_sdk_sqs::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.sim.endpoint())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .load()
            .await;
        aws_sdk_sqs::Client::new(&config)
    }

    /// Sends a message straight into the queue, as EventBridge (or anyone allowed) would.
    async fn send(&self, body: &str) {
        self.raw_sqs()
            .await
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    /// Messages still in the queue, visible or being handled.
    async fn queue_depth(&self) -> i64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .raw_sqs()
            .await
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attributes = out.attributes.unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .map(|a| {
            attributes
                .get(a)
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0)
        })
        .sum()
    }

    async fn count(&self, sql: &str, id: Uuid) -> i64 {
        sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// How many audit entries of `kind` the channel has.
    async fn audits(&self, id: Uuid, kind: &str) -> i64 {
        sqlx::query_scalar(
            "select count(*) from channel_events where channel_id = $1 and kind = $2",
        )
        .bind(id)
        .bind(kind)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }
}

/// Polls `check` every 100 ms until it holds; fails after `within` (a bound far above the
/// expected time, so a slow machine does not flake).
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event(id: &str, arn: &str, detail_type: &str, time: &str, detail: Value) -> String {
    json!({
        "version": "0", "id": id, "detail-type": detail_type, "source": "aws.ivs",
        "account": "123456789012", "time": time, "region": REGION, "resources": [arn],
        "detail": detail
    })
    .to_string()
}

#[tokio::test]
async fn a_recorded_broadcast_becomes_one_session_and_one_ready_recording() {
    let w = World::new().await;
    let (id, arn) = w.ready_channel("yoga-101").await;
    let stop = w.start_intake();

    w.sim_post(
        "/_sim/broadcast/start",
        json!({"channelArn": arn, "health": "HEALTHY", "viewerCount": 3}),
    )
    .await;
    eventually("the session is live", Duration::from_secs(30), || async {
        db::broadcasts::open_session(&w.pool, id)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    // A starvation, then the stream recovers.
    w.sim_post(
        "/_sim/broadcast/start",
        json!({"channelArn": arn, "health": "STARVING"}),
    )
    .await;
    w.sim_post(
        "/_sim/broadcast/start",
        json!({"channelArn": arn, "health": "HEALTHY"}),
    )
    .await;
    w.sim_post("/_sim/broadcast/stop", json!({"channelArn": arn}))
        .await;
    let filter = FactFilter {
        channel_id: Some(id),
        limit: 10,
        ..Default::default()
    };
    eventually(
        "the recording is ready",
        Duration::from_secs(30),
        || async {
            let recordings = db::broadcasts::recordings(&w.pool, &filter).await.unwrap();
            recordings
                .first()
                .is_some_and(|r| r.status == RecordingStatus::Ready)
        },
    )
    .await;
    eventually("the queue is empty", Duration::from_secs(30), || async {
        w.queue_depth().await == 0
    })
    .await;

    let sessions = db::broadcasts::sessions(&w.pool, &filter).await.unwrap();
    assert_eq!(sessions.len(), 1, "exactly one session");
    let session = &sessions[0];
    let (started, ended) = (session.started_at.unwrap(), session.ended_at.unwrap());
    assert!(started <= ended);
    let health: Vec<_> = session.health_changes.0.iter().map(|h| h.state).collect();
    assert_eq!(health.len(), 2, "starving then healthy: {health:?}");

    let recordings = db::broadcasts::recordings(&w.pool, &filter).await.unwrap();
    assert_eq!(recordings.len(), 1, "exactly one recording");
    let recording = &recordings[0];
    assert_eq!(recording.bucket.as_deref(), Some("acme-recordings"));
    let prefix = recording.prefix.clone().unwrap();
    assert!(prefix.starts_with("ivs/v1/"), "{prefix}");
    assert!(prefix.ends_with(&recording.recording_id));
    assert_eq!(
        recording.master_playlist_key.as_deref(),
        Some(format!("{prefix}/media/hls/master.m3u8").as_str())
    );
    assert!(recording.duration_ms.is_some());
    assert!(recording.stream_ids.contains(&session.stream_id));

    // Each audit entry once, each with its webhook event.
    for kind in ["stream_started", "stream_ended", "recording_ready"] {
        assert_eq!(w.audits(id, kind).await, 1, "{kind}");
    }
    let hooks = w
        .count(
            "select count(*) from webhook_events where channel_id = $1 and type in ('stream.started', 'stream.ended', 'recording.ready')",
            id,
        )
        .await;
    assert_eq!(hooks, 3);
    stop.cancel();
}

#[tokio::test]
async fn duplicated_and_reordered_events_converge_on_one_session_and_recording() {
    let w = World::new().await;
    let (id, arn) = w.ready_channel("pilates-7").await;
    let prefix = "ivs/v1/123456789012/abcd/2026/12/2/10/0/rec-42";
    let start = event(
        "ev-start",
        &arn,
        "IVS Stream State Change",
        "2026-12-02T10:00:00Z",
        json!({"event_name": "Stream Start", "stream_id": "st-42"}),
    );
    let end = event(
        "ev-end",
        &arn,
        "IVS Stream State Change",
        "2026-12-02T11:00:00Z",
        json!({"event_name": "Stream End", "stream_id": "st-42"}),
    );
    let recording_end = event(
        "ev-rec-end",
        &arn,
        "IVS Recording State Change",
        "2026-12-02T11:00:05Z",
        json!({"stream_id": "st-42", "recording_status": "Recording End",
               "recording_s3_bucket_name": "acme-recordings", "recording_s3_key_prefix": prefix,
               "recording_duration_ms": 3_600_000, "recording_session_id": "sess-42",
               "recording_session_stream_ids": ["st-42"]}),
    );
    let recording_start = event(
        "ev-rec-start",
        &arn,
        "IVS Recording State Change",
        "2026-12-02T10:00:01Z",
        json!({"stream_id": "st-42", "recording_status": "Recording Start",
               "recording_s3_bucket_name": "acme-recordings", "recording_s3_key_prefix": prefix,
               "recording_duration_ms": 0, "recording_session_id": "sess-42"}),
    );
    // Ends before starts, every event twice (EventBridge and SQS both deliver at least once).
    for body in [
        &end,
        &recording_end,
        &end,
        &start,
        &recording_start,
        &recording_end,
        &start,
    ] {
        w.send(body).await;
    }
    let stop = w.start_intake();
    eventually("the queue is empty", Duration::from_secs(30), || async {
        w.queue_depth().await == 0
    })
    .await;
    stop.cancel();

    let filter = FactFilter {
        channel_id: Some(id),
        limit: 10,
        ..Default::default()
    };
    let sessions = db::broadcasts::sessions(&w.pool, &filter).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0].started_at.unwrap().to_rfc3339(),
        "2026-12-02T10:00:00+00:00"
    );
    assert_eq!(
        sessions[0].ended_at.unwrap().to_rfc3339(),
        "2026-12-02T11:00:00+00:00"
    );
    let recordings = db::broadcasts::recordings(&w.pool, &filter).await.unwrap();
    assert_eq!(recordings.len(), 1);
    let recording = &recordings[0];
    // The start arriving after the end did not move the status back.
    assert_eq!(recording.status, RecordingStatus::Ready);
    assert_eq!(recording.recording_id, "rec-42");
    assert_eq!(recording.duration_ms, Some(3_600_000));
    assert_eq!(
        recording.started_at.unwrap().to_rfc3339(),
        "2026-12-02T10:00:01+00:00"
    );
    for kind in ["stream_started", "stream_ended", "recording_ready"] {
        assert_eq!(w.audits(id, kind).await, 1, "{kind}");
    }
    let applied = w
        .count("select count(*) from ivs_events where channel_id = $1", id)
        .await;
    assert_eq!(applied, 4, "each event applied once");

    // The sweep stating the same facts afterwards changes nothing and writes no audit entry.
    let channel = db::broadcasts::channel_by_arn(&w.pool, &arn)
        .await
        .unwrap()
        .unwrap();
    let mut tx = w.pool.begin().await.unwrap();
    let fact = SessionFact {
        started_at: sessions[0].started_at,
        ended_at: sessions[0].ended_at,
        ..SessionFact::new("st-42")
    };
    db::broadcasts::record_session_fact(&mut tx, &channel, &fact, FactSource::Sweep)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(w.audits(id, "stream_started").await, 1);
}

#[tokio::test]
async fn malformed_messages_are_set_aside_and_unknown_channels_dropped() {
    let w = World::new().await;
    let (id, arn) = w.ready_channel("spin-3").await;
    w.send("this is not json; key sk_us-east-1_AbCdEfGh12345678 leaked")
        .await;
    w.send(&json!({"id": "no-source", "detail-type": "IVS Stream State Change"}).to_string())
        .await;
    let foreign = "arn:aws:ivs:us-east-1:123456789012:channel/NotOurs";
    w.send(&event(
        "ev-foreign",
        foreign,
        "IVS Stream State Change",
        "2026-12-02T10:00:00Z",
        json!({"event_name": "Stream Start", "stream_id": "st-foreign"}),
    ))
    .await;
    // A real-time stage event: an IVS event the service does not track.
    w.send(&event(
        "ev-stage",
        &arn,
        "IVS Participant State Change",
        "2026-12-02T10:00:00Z",
        json!({"event_name": "Joined"}),
    ))
    .await;
    let stop = w.start_intake();
    eventually("the queue is empty", Duration::from_secs(30), || async {
        w.queue_depth().await == 0
    })
    .await;
    stop.cancel();

    let rejects = db::broadcasts::rejects(&w.pool, 10).await.unwrap();
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    for reject in &rejects {
        assert!(!reject.body.contains("AbCdEfGh"), "{}", reject.body);
        assert!(!reject.reason.is_empty());
    }
    assert!(rejects.iter().any(|r| r.body.contains("[redacted]")));
    let sessions: i64 = sqlx::query_scalar("select count(*) from stream_sessions")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(
        sessions, 0,
        "nothing stored for a foreign channel or a stage event"
    );
    assert_eq!(
        w.count("select count(*) from ivs_events where channel_id = $1", id)
            .await,
        0
    );
}

#[tokio::test]
async fn a_crash_between_commit_and_delete_applies_the_event_once() {
    let w = World::new().await;
    let (id, arn) = w.ready_channel("barre-1").await;
    w.send(&event(
        "ev-once",
        &arn,
        "IVS Stream State Change",
        "2026-12-02T10:00:00Z",
        json!({"event_name": "Stream Start", "stream_id": "st-once"}),
    ))
    .await;
    // A replica receives and applies it, then dies before its delete: the message comes back
    // after its visibility timeout (1 s here).
    let received = w
        .aws
        .receive_messages(
            &w.queue_url,
            10,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    let outcome = events::handle(&w.pool, &received[0]).await.unwrap();
    assert_eq!(outcome, events::Outcome::Applied);
    assert_eq!(w.queue_depth().await, 1, "not deleted: the replica died");

    let stop = w.start_intake();
    eventually(
        "the redelivered message is deleted",
        Duration::from_secs(30),
        || async { w.queue_depth().await == 0 },
    )
    .await;
    stop.cancel();
    assert_eq!(w.audits(id, "stream_started").await, 1);
    assert_eq!(
        w.count("select count(*) from ivs_events where channel_id = $1", id)
            .await,
        1
    );
}
