//! The gap-filling sweep: with every IVS event dropped, a sweep tick alone fills the session and
//! the recording (with the metadata of `recording-ended.json`: duration, renditions, playlists,
//! thumbnails); with the intake running as well, each audit entry is still written once,
//! whichever finds the fact first; a later tick asks IVS and S3 nothing more about what is
//! complete.

use ivs_provisioner::events::sweep::{self, SweepCtx};

use super::*;

/// What a recording row says, as the sweep should have completed it.
#[derive(sqlx::FromRow)]
struct Recording {
    status: String,
    duration_ms: Option<i64>,
    master_playlist_key: Option<String>,
    byte_range_playlist_key: Option<String>,
    renditions: Option<Value>,
    thumbnails_prefix: Option<String>,
    bucket: Option<String>,
}

fn sweeper(w: &World) -> SweepCtx {
    SweepCtx {
        pool: w.pool.clone(),
        aws: w.aws.clone(),
        channels_per_tick: 50,
        lookback: Duration::from_secs(86_400),
    }
}

/// A starving broadcast that ends, on the simulator.
async fn broadcast(w: &World, arn: &str) {
    w.sim_post(
        "/_sim/broadcast/start",
        json!({"channelArn": arn, "health": "STARVING", "viewerCount": 2}),
    )
    .await;
    w.sim_post("/_sim/broadcast/stop", json!({"channelArn": arn}))
        .await;
}

async fn assert_each_audit_once(w: &World, id: Uuid) {
    for kind in ["stream_started", "stream_ended", "recording_ready"] {
        assert_eq!(w.audits(id, kind).await, 1, "{kind}");
    }
}

#[tokio::test]
async fn with_every_event_dropped_the_sweep_alone_fills_the_session_and_the_recording() {
    let w = World::new().await;
    let (id, arn) = w.ready_channel("dropped").await;
    w.sim_post("/_sim/events/faults", json!({"drop_rate": 1.0}))
        .await;
    let stop = w.start_intake();
    broadcast(&w, &arn).await;

    let report = sweep::tick(&sweeper(&w)).await.unwrap();

    stop.cancel();
    assert_eq!((report.sessions, report.recordings), (1, 1), "{report:?}");
    let session: (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
        Value,
    ) = sqlx::query_as(
        "select started_at, ended_at, health_changes from stream_sessions where channel_id = $1",
    )
    .bind(id)
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert!(session.0.is_some() && session.1.is_some(), "{session:?}");
    assert!(
        session.2.to_string().contains("starving"),
        "the starvation from GetStreamSession's events: {}",
        session.2
    );
    let recording: Recording = sqlx::query_as(
        "select status, duration_ms, master_playlist_key, byte_range_playlist_key, renditions,
                thumbnails_prefix, bucket
           from recordings where channel_id = $1",
    )
    .bind(id)
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(recording.status, "ready");
    assert!(recording.duration_ms.is_some_and(|d| d >= 0));
    let master = recording.master_playlist_key.unwrap_or_default();
    assert!(master.ends_with("/media/hls/master.m3u8"), "{master}");
    let byte_range = recording.byte_range_playlist_key.unwrap_or_default();
    assert!(byte_range.ends_with(".m3u8"), "{byte_range}");
    let renditions = recording.renditions.unwrap_or_default();
    assert!(
        renditions.as_array().is_some_and(|a| !a.is_empty()),
        "{renditions}"
    );
    assert!(recording.thumbnails_prefix.is_some());
    let bucket = recording.bucket;
    assert_eq!(bucket.as_deref(), Some("acme-recordings"));
    assert_each_audit_once(&w, id).await;
    let actor: String = sqlx::query_scalar(
        "select actor from channel_events where channel_id = $1 and kind = 'recording_ready'",
    )
    .bind(id)
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(actor, "broadcast-sweep");

    // Nothing is incomplete any more: the next tick records nothing and reads no metadata.
    let gets = w.sim.simulator.calls_of("GetObject");
    let again = sweep::tick(&sweeper(&w)).await.unwrap();
    assert_eq!((again.sessions, again.recordings), (0, 0));
    assert_eq!(w.sim.simulator.calls_of("GetObject"), gets);
    assert_each_audit_once(&w, id).await;
}

#[tokio::test]
async fn with_events_and_sweep_both_each_audit_entry_is_written_once() {
    let w = World::new().await;
    let (id, arn) = w.ready_channel("both").await;
    let stop = w.start_intake();
    broadcast(&w, &arn).await;
    // The sweep races the intake: whichever states a fact first writes its audit entry.
    sweep::tick(&sweeper(&w)).await.unwrap();
    eventually(
        "the events are applied",
        Duration::from_secs(30),
        || async {
            w.queue_depth().await == 0
                && w.audits(id, "recording_ready").await == 1
                && w.audits(id, "stream_ended").await == 1
        },
    )
    .await;
    sweep::tick(&sweeper(&w)).await.unwrap();
    stop.cancel();

    assert_each_audit_once(&w, id).await;
    let (sessions, recordings): (i64, i64) = sqlx::query_as(
        "select (select count(*) from stream_sessions where channel_id = $1),
                (select count(*) from recordings where channel_id = $1)",
    )
    .bind(id)
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!((sessions, recordings), (1, 1));
    let renditions: Option<Value> =
        sqlx::query_scalar("select renditions from recordings where channel_id = $1")
            .bind(id)
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert!(
        renditions.is_some(),
        "the sweep completes what the event could not say"
    );
}
