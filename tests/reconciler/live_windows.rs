//! Class live windows: no stream key before the window opens, the key created and published at
//! the opening, and at the closing the key deleted before a live stream is stopped, then removed
//! from SSM; each change recorded once, a moved window acted on at once, a crash at any step
//! repaired without a second key or a second event. Windows are a few seconds long; every wait
//! polls for its condition until a generous deadline, so a slow machine is slower, not red.

use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::*;

/// How long any condition below may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(45);

/// A window opening `opens_in` seconds from now and closing `lasts` seconds later, no grace.
fn window(opens_in: i64, lasts: i64) -> Value {
    let opens_at = Utc::now() + chrono::Duration::seconds(opens_in);
    json!({
        "opens_at": opens_at.to_rfc3339(),
        "closes_at": (opens_at + chrono::Duration::seconds(lasts)).to_rfc3339(),
        "grace_seconds": 0,
    })
}

/// What the simulator and the row say about a channel's ingest gate.
#[derive(Debug, PartialEq)]
struct Gate {
    keys_in_ivs: usize,
    key_in_ssm: bool,
    other_parameters: usize,
    live: bool,
    recorded_open: Option<bool>,
}

impl World {
    async fn gate(&self, id: Uuid) -> Gate {
        let arn = self.channel_arn(id).await;
        let dump = self.dump();
        let of_channel = |list: &str, field: &str| {
            dump[list]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k[field] == arn.as_str())
                .count()
        };
        let names: Vec<String> = dump["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        let recorded_open = sqlx::query_scalar("select ingest_open from channels where id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap();
        Gate {
            keys_in_ivs: of_channel("streamKeys", "channelArn"),
            key_in_ssm: names.iter().any(|n| n.ends_with("/stream-key")),
            other_parameters: names.iter().filter(|n| !n.ends_with("/stream-key")).count(),
            live: of_channel("streams", "channelArn") > 0,
            recorded_open,
        }
    }

    async fn kinds(&self, id: Uuid) -> Vec<String> {
        sqlx::query_scalar("select kind from channel_events where channel_id = $1 order by id")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    async fn count_of(&self, id: Uuid, kind: &str) -> usize {
        self.kinds(id).await.iter().filter(|k| *k == kind).count()
    }

    /// Runs reconciler passes (as the worker loop claims: only what is due) until `done`.
    async fn reconcile_until<F: Future<Output = bool>>(&self, what: &str, done: impl Fn() -> F) {
        let started = Instant::now();
        while !done().await {
            assert!(
                started.elapsed() < DEADLINE,
                "{what}: not within {DEADLINE:?}"
            );
            reconciler::run_once(&self.ctx).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Applies a spec change the way `PATCH` does (new generation, due now).
    async fn patch_window(&self, id: Uuid, window: Value) {
        let mut spec = self.row(id).await.spec.0.to_request_json();
        spec["live_window"] = window;
        let request: ChannelRequest = serde_json::from_value(spec).unwrap();
        let spec = request.validate(Utc::now(), None).unwrap();
        db::channels::update_spec(&self.pool, id, &spec, Phase::Updating)
            .await
            .unwrap();
    }

    /// The calls the simulator received, in order, from its admin API.
    async fn call_log(&self) -> Vec<String> {
        let url = format!("{}/_sim/calls/log", self.sim.endpoint());
        let log: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        serde_json::from_value(log["calls"].clone()).unwrap()
    }
}

fn closed(live: bool) -> Gate {
    Gate {
        keys_in_ivs: 0,
        key_in_ssm: false,
        other_parameters: 2,
        live,
        recorded_open: Some(false),
    }
}

fn open(live: bool) -> Gate {
    Gate {
        keys_in_ivs: 1,
        key_in_ssm: true,
        other_parameters: 2,
        live,
        recorded_open: Some(true),
    }
}

fn window_due_at(row_window: &Value, edge: &str) -> DateTime<Utc> {
    row_window[edge].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_channel_whose_window_is_ahead_is_ready_without_a_stream_key_in_ivs_or_ssm() {
    let w = World::new().await;
    let id = w
        .declare(json!({"tenant": "gym", "name": "spin-0700", "live_window": window(3600, 3600)}))
        .await;

    w.settle().await;

    assert_eq!(w.phase(id).await, "ready");
    assert_eq!(w.gate(id).await, closed(false));
    assert!(
        w.sim.simulator.calls_of("CreateStreamKey") == 0,
        "only the key CreateChannel made existed, and it was deleted"
    );
    let kinds = w.kinds(id).await;
    assert!(kinds.contains(&"ready".to_owned()), "{kinds:?}");
    assert!(
        !kinds.iter().any(|k| k.starts_with("ingest_")),
        "nothing opened or closed yet: {kinds:?}"
    );
    let due: Option<DateTime<Utc>> =
        sqlx::query_scalar("select window_due_at from channels where id = $1")
            .bind(id)
            .fetch_one(&w.pool)
            .await
            .unwrap();
    let spec_window = serde_json::to_value(w.row(id).await.spec.0.live_window).unwrap();
    assert_eq!(
        due,
        Some(window_due_at(&spec_window, "opens_at")),
        "the row falls due when the window opens"
    );
}

#[tokio::test]
async fn the_key_appears_when_the_window_opens_and_at_its_close_is_deleted_before_the_stream_stops()
{
    let w = World::new().await;
    let id = w
        .declare(json!({"tenant": "gym", "name": "yoga-0800", "live_window": window(3, 4)}))
        .await;
    w.settle().await;
    // Only this test drives the reconciler, and no pass ran after the settle: whatever the
    // clock says now, the gate is still what it was made at provisioning.
    assert_eq!(w.gate(id).await, closed(false));

    w.reconcile_until("the window opens", async || w.gate(id).await == open(false))
        .await;
    assert_eq!(w.count_of(id, "ingest_opened").await, 1);
    let arn = w.channel_arn(id).await;
    w.sim
        .simulator
        .start_broadcast(aws_sim::BroadcastSpec::new(&arn))
        .unwrap();
    assert!(w.gate(id).await.live);

    w.reconcile_until("the window closes", async || {
        w.gate(id).await == closed(false)
    })
    .await;

    let log = w.call_log().await;
    let last = |action: &str| log.iter().rposition(|a| a == action);
    let (deleted, stopped) = (last("ivs:DeleteStreamKey"), last("ivs:StopStream"));
    assert!(
        deleted.is_some() && stopped.is_some() && deleted < stopped,
        "the key is deleted before the stream is stopped: {log:?}"
    );
    let kinds = w.kinds(id).await;
    assert_eq!(
        (
            w.count_of(id, "ingest_opened").await,
            w.count_of(id, "ingest_closed").await
        ),
        (1, 1),
        "{kinds:?}"
    );
    let closing: Value = sqlx::query_scalar(
        "select details from channel_events where channel_id = $1 and kind = 'ingest_closed'",
    )
    .bind(id)
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(closing["stream_stopped"], true, "{closing}");

    // Nothing more to do for this window: later passes change nothing and record nothing.
    reconciler::run_once(&w.ctx).await.unwrap();
    assert_eq!(w.kinds(id).await, kinds);
    assert_eq!(w.phase(id).await, "ready");
}

#[tokio::test]
async fn the_worker_loop_wakes_for_the_windows_edges_without_being_notified() {
    let mut w = World::new().await;
    let mut patient = settings();
    // A poll this long would miss both edges: only the next-due nap can wake the loop.
    patient.poll = Duration::from_secs(3600);
    let managed_key = wiring::managed_key(w.pool.clone(), w.ctx.aws.clone());
    w.ctx = Ctx::new(w.pool.clone(), w.ctx.aws.clone(), patient, managed_key);
    let stop = CancellationToken::new();
    let worker = tokio::spawn(reconciler::run(w.ctx.clone(), stop.clone()));
    let id = w
        .declare(json!({"tenant": "gym", "name": "pilates", "live_window": window(2, 2)}))
        .await;

    let wait = async |what: &str, expected: Gate| {
        let started = Instant::now();
        while w.phase(id).await != "ready" || w.gate(id).await != expected {
            assert!(
                started.elapsed() < DEADLINE,
                "{what}: not within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    wait("the window opens", open(false)).await;
    wait("the window closes", closed(false)).await;
    stop.cancel();
    worker.await.unwrap();
    assert_eq!(
        (
            w.count_of(id, "ingest_opened").await,
            w.count_of(id, "ingest_closed").await
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn moving_the_window_takes_effect_at_once_and_removing_it_opens_ingest_for_good() {
    let w = World::new().await;
    let id = w
        .declare(json!({"tenant": "gym", "name": "boxing", "live_window": window(3600, 3600)}))
        .await;
    w.settle().await;
    assert_eq!(w.gate(id).await, closed(false));

    // Moved so that it is open now: the spec change is due at once, not at the old edge.
    w.patch_window(id, window(-60, 3600)).await;
    w.settle().await;
    assert_eq!(w.gate(id).await, open(false));
    assert_eq!(w.count_of(id, "ingest_opened").await, 1);

    // Moved back ahead: the key goes at once.
    w.patch_window(id, window(3600, 3600)).await;
    w.settle().await;
    assert_eq!(w.gate(id).await, closed(false));
    assert_eq!(w.count_of(id, "ingest_closed").await, 1);

    // No window: the channel keeps a key whatever the time, and nothing falls due for it.
    w.patch_window(id, Value::Null).await;
    w.settle().await;
    assert_eq!(w.gate(id).await, open(false));
    assert_eq!(w.count_of(id, "ingest_opened").await, 2);
    let due: Option<DateTime<Utc>> =
        sqlx::query_scalar("select window_due_at from channels where id = $1")
            .bind(id)
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(due, None);
    w.assert_no_duplicates_or_orphans().await;
}

#[tokio::test]
async fn a_crash_after_any_step_of_opening_or_closing_leaves_one_key_and_one_event_each() {
    let w = World::new().await;
    let id = w
        .declare(json!({"tenant": "gym", "name": "rowing", "live_window": window(3, 4)}))
        .await;
    w.settle().await;
    for operation in [
        "ListStreamKeys",
        "CreateStreamKey",
        "GetParameters",
        "PutParameter",
    ] {
        w.sim.simulator.fail_next(
            operation,
            1,
            "InternalServerException",
            FailMode::ApplyThenFail,
        );
    }

    w.reconcile_until("the window opens", async || w.gate(id).await == open(false))
        .await;
    assert_eq!(
        w.sim.simulator.calls_of("CreateStreamKey"),
        1,
        "the key whose response was lost is adopted, not made again"
    );
    let arn = w.channel_arn(id).await;
    w.sim
        .simulator
        .start_broadcast(aws_sim::BroadcastSpec::new(&arn))
        .unwrap();
    for operation in ["DeleteStreamKey", "StopStream", "DeleteParameters"] {
        w.sim.simulator.fail_next(
            operation,
            1,
            "InternalServerException",
            FailMode::ApplyThenFail,
        );
    }

    w.reconcile_until("the window closes", async || {
        w.gate(id).await == closed(false)
    })
    .await;
    assert_eq!(
        (
            w.count_of(id, "ingest_opened").await,
            w.count_of(id, "ingest_closed").await
        ),
        (1, 1)
    );
    assert_eq!(w.phase(id).await, "ready");
}
