//! The reconciler against the AWS simulator over HTTP through the real SDK, on a real Postgres:
//! end to end, shared quotas, crash safety at every step boundary, injected faults, and two
//! workers sharing one database.

mod common;
#[path = "reconciler/live_windows.rs"]
mod live_windows;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sim::{FailMode, FaultSettings, RunningSim, SimConfig};

use ivs_provisioner::aws::{Aws, RateSettings};
use ivs_provisioner::cli::wiring;
use ivs_provisioner::db;
use ivs_provisioner::domain::Phase;
use ivs_provisioner::domain::channel::{ChannelRequest, ChannelSpec};
use ivs_provisioner::reconciler::{self, Ctx, Settings};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sqlx::types::Json;
use uuid::Uuid;

use common::silent_proxy::SilentProxy;
use common::{KillOnDrop, TestDatabase};

/// A channel row as the tests read it: the stored JSON as it is, the phase as its text.
#[derive(sqlx::FromRow)]
struct Row {
    spec: Json<ChannelSpec>,
    phase: String,
    generation: i64,
    observed_generation: i64,
    outputs: Json<Value>,
    last_error: Option<Json<Value>>,
}

struct World {
    pool: PgPool,
    database_url: String,
    sim: RunningSim,
    ctx: Ctx,
    /// Last, so that it is dropped after every other field (the context's pool clones
    /// included): the database is dropped with the world.
    _database: TestDatabase,
}

const REGION: &str = "us-east-1";

fn unlimited() -> RateSettings {
    RateSettings::unlimited()
}

fn settings() -> Settings {
    Settings {
        ssm_prefix: "/live".into(),
        concurrency: 8,
        lease: Duration::from_secs(30),
        poll: Duration::from_secs(1),
        max_backoff: Duration::from_secs(2),
        failed_retry: Duration::from_secs(3600),
        recording_wait: Duration::from_secs(5),
        drift_interval: Duration::ZERO,
        attempt_timeout: Duration::from_secs(60),
    }
}

/// A fresh, migrated database with `PgPool::connect`'s pool settings, dropped with the returned
/// value: keep it alive until the test ends.
async fn fresh_database() -> TestDatabase {
    TestDatabase::new(PgPoolOptions::new()).await
}

impl World {
    async fn new() -> World {
        World::with(SimConfig::for_tests()).await
    }

    async fn with(config: SimConfig) -> World {
        let database = fresh_database().await;
        let (pool, database_url) = (database.pool.clone(), database.url.clone());
        ivs_provisioner::metrics::install();
        let sim = aws_sim::spawn(config).await.unwrap();
        let aws = Aws::for_local_endpoint(&sim.endpoint(), REGION, &unlimited()).await;
        let managed_key = wiring::managed_key(pool.clone(), aws.clone());
        let ctx = Ctx::new(pool.clone(), aws, settings(), managed_key);
        World {
            pool,
            database_url,
            sim,
            ctx,
            _database: database,
        }
    }

    /// Declares a channel the way the API does (validated spec, row, event).
    async fn declare(&self, body: Value) -> Uuid {
        let request: ChannelRequest = serde_json::from_value(body).unwrap();
        let spec: ChannelSpec = request.validate(chrono::Utc::now(), None).unwrap();
        let row = db::channels::insert_if_absent(&self.pool, Uuid::now_v7(), &spec)
            .await
            .unwrap()
            .unwrap();
        row.id
    }

    async fn phase(&self, id: Uuid) -> String {
        self.row(id).await.phase
    }

    async fn row(&self, id: Uuid) -> Row {
        sqlx::query_as(
            "select spec, phase, generation, observed_generation, outputs, last_error from channels where id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// A raw IVS client on the simulator, for changes made behind the service's back.
    async fn raw_ivs(&self) -> aws_sdk_ivs::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.sim.endpoint())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_ivs::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .load()
            .await;
        aws_sdk_ivs::Client::new(&config)
    }

    /// Runs the reconciler until every row is settled, making retries due at once.
    async fn settle(&self) {
        for _ in 0..60 {
            reconciler::run_once(&self.ctx).await.unwrap();
            let waiting: i64 = sqlx::query_scalar(
                "select count(*) from channels where phase in ('pending', 'provisioning', 'updating', 'deleting')",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap();
            if waiting == 0 {
                return;
            }
            sqlx::query("update channels set next_attempt_at = now() where phase <> 'failed'")
                .execute(&self.pool)
                .await
                .unwrap();
        }
        panic!("the reconciler did not settle");
    }

    async fn channel_arn(&self, id: Uuid) -> String {
        self.row(id).await.outputs.0["channel_arn"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn dump(&self) -> Value {
        self.sim.simulator.dump()
    }

    /// Exactly one IVS channel per live row (by identity tag), none without a row, and the three
    /// SSM parameters per ready row and no others.
    async fn assert_no_duplicates_or_orphans(&self) {
        let dump = self.dump();
        let live: Vec<(Uuid, String, String)> =
            sqlx::query_as("select id, tenant, name from channels where deleted_at is null")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        let mut per_row: HashMap<String, usize> = HashMap::new();
        for channel in dump["channels"].as_array().unwrap() {
            let id = channel["tags"]["ivs-provisioner:id"]
                .as_str()
                .expect("every IVS channel carries its row id");
            *per_row.entry(id.to_owned()).or_default() += 1;
        }
        for (id, _, _) in &live {
            assert_eq!(
                per_row.remove(&id.to_string()),
                Some(1),
                "row {id} must have exactly one IVS channel"
            );
        }
        assert!(per_row.is_empty(), "orphan channels: {per_row:?}");
        let mut expected: Vec<String> = live
            .iter()
            .flat_map(|(_, t, n)| {
                ["ingest-endpoint", "stream-key", "playback-url"]
                    .map(|p| format!("/live/{t}/{n}/{p}"))
            })
            .collect();
        expected.sort();
        let mut params: Vec<String> = dump["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        params.sort();
        assert_eq!(params, expected);
    }
}

fn p384_public_pem() -> String {
    use p384::pkcs8::{EncodePublicKey, LineEnding};
    p384::SecretKey::random(&mut rand::rngs::OsRng)
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

#[tokio::test]
async fn a_declared_channel_becomes_ready_with_every_output_and_its_ssm_parameters() {
    let w = World::new().await;
    let pem = p384_public_pem();
    let id = w
        .declare(json!({"tenant": "acme", "name": "yoga-1", "authorized": true, "playback_public_key_pem": pem,
                        "recording": {"s3_bucket_name": "acme-rec"}, "tags": {"Team": "live"}}))
        .await;

    w.settle().await;

    let row = w.row(id).await;
    assert_eq!(row.phase, "ready");
    assert_eq!(row.observed_generation, row.generation);
    for output in [
        "channel_arn",
        "channel_id",
        "channel_name",
        "ingest_endpoint",
        "playback_url",
        "recording_configuration_arn",
        "playback_key_pair_fingerprint",
    ] {
        assert!(
            row.outputs.0[output]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{output} is set: {}",
            row.outputs.0
        );
    }
    let dump = w.dump();
    let channel = &dump["channels"][0];
    assert_eq!(channel["tags"]["ManagedBy"], "ivs-provisioner");
    assert_eq!(channel["tags"]["Tenant"], "acme");
    assert_eq!(channel["tags"]["Name"], "yoga-1");
    assert_eq!(channel["tags"]["Team"], "live");
    assert_eq!(channel["authorized"], true);
    let types: BTreeMap<String, String> = dump["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["versions"][0]["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(types["/live/acme/yoga-1/ingest-endpoint"], "SecureString");
    assert_eq!(types["/live/acme/yoga-1/stream-key"], "SecureString");
    assert_eq!(types["/live/acme/yoga-1/playback-url"], "String");
    let stream_key = dump["streamKeys"][0]["value"].as_str().unwrap();
    let stored: String = sqlx::query_scalar("select string_agg(spec::text || outputs::text || coalesce(last_error::text, ''), '') from channels")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert!(
        !stored.contains(stream_key),
        "the stream key never reaches Postgres"
    );
    w.assert_no_duplicates_or_orphans().await;
}

#[tokio::test]
async fn a_change_reaches_ivs_and_a_delete_removes_everything() {
    let w = World::new().await;
    let id = w.declare(json!({"tenant": "acme", "name": "town-hall", "recording": {"s3_bucket_name": "acme-rec"}})).await;
    w.settle().await;

    let row = w.row(id).await;
    let mut spec = row.spec.0.clone();
    spec.latency_mode = serde_json::from_value(json!("NORMAL")).unwrap();
    spec.recording = None;
    db::channels::update_spec(&w.pool, id, &spec, Phase::Updating)
        .await
        .unwrap();
    w.settle().await;

    let row = w.row(id).await;
    assert_eq!((row.phase.as_str(), row.observed_generation), ("ready", 2));
    let dump = w.dump();
    assert_eq!(dump["channels"][0]["latencyMode"], "NORMAL");
    assert_eq!(dump["channels"][0]["recordingConfigurationArn"], "");
    assert_eq!(
        dump["recordingConfigurations"].as_array().unwrap().len(),
        0,
        "the unused configuration is released"
    );

    db::channels::mark_deleting(&w.pool, id, false)
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.phase(id).await, "deleted");
    let dump = w.dump();
    assert!(dump["channels"].as_array().unwrap().is_empty());
    assert!(dump["parameters"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn delete_after_is_honoured() {
    let w = World::new().await;
    let id = w.declare(json!({"tenant": "acme", "name": "auction-9", "recording": {"s3_bucket_name": "acme-rec"}})).await;
    w.settle().await;
    sqlx::query("update channels set delete_after = now() - interval '1 second' where id = $1")
        .bind(id)
        .execute(&w.pool)
        .await
        .unwrap();

    w.settle().await;

    assert_eq!(w.phase(id).await, "deleted");
    let dump = w.dump();
    assert!(dump["channels"].as_array().unwrap().is_empty());
    assert!(
        dump["recordingConfigurations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from channel_events where channel_id = $1 order by id")
            .bind(id)
            .fetch_all(&w.pool)
            .await
            .unwrap();
    assert!(
        kinds.contains(&"delete_after_reached".to_owned()),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn channels_with_the_same_recording_settings_share_one_configuration() {
    let w = World::new().await;
    for i in 0..10 {
        w.declare(json!({"tenant": "gym", "name": format!("class-{i}"), "recording": {"s3_bucket_name": "gym-rec", "reconnect_window_seconds": 30}})).await;
    }
    w.settle().await;
    let dump = w.dump();
    assert_eq!(dump["recordingConfigurations"].as_array().unwrap().len(), 1);
    let arn = dump["recordingConfigurations"][0]["arn"].as_str().unwrap();
    assert!(
        dump["channels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["recordingConfigurationArn"] == arn)
    );
    w.assert_no_duplicates_or_orphans().await;
}

#[tokio::test]
async fn a_fourth_caller_key_fails_clearly_while_the_first_three_work() {
    let w = World::new().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let pem = p384_public_pem();
        ids.push(w.declare(json!({"tenant": "t", "name": format!("private-{i}"), "authorized": true, "playback_public_key_pem": pem})).await);
        w.settle().await;
    }
    for id in &ids[..3] {
        assert_eq!(w.phase(*id).await, "ready");
    }
    let failed = w.row(ids[3]).await;
    assert_eq!(failed.phase, "failed");
    let error = failed.last_error.unwrap().0;
    assert_eq!(error["code"], "ServiceQuotaExceededException");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("at most 3 playback key pairs"),
        "{error}"
    );
    assert_eq!(w.dump()["playbackKeyPairs"].as_array().unwrap().len(), 3);
}

/// A response lost right after each step's side effect is what a crash at that step boundary
/// leaves behind: the effect happened, nothing about it was saved.
#[tokio::test]
async fn a_crash_after_any_aws_side_effect_leaves_one_channel_which_is_adopted() {
    let w = World::new().await;
    let operations = [
        "CreateRecordingConfiguration",
        "ImportPlaybackKeyPair",
        "CreateChannel",
        "TagResource",
        "ListStreamKeys",
        "GetStreamKey",
        "PutParameter",
        "GetParameters",
    ];
    let mut ids = Vec::new();
    for (i, operation) in operations.iter().enumerate() {
        w.sim.simulator.fail_next(
            operation,
            1,
            "InternalServerException",
            FailMode::ApplyThenFail,
        );
        let pem = p384_public_pem();
        let body = if *operation == "ImportPlaybackKeyPair" {
            json!({"tenant": "crash", "name": format!("c{i}"), "authorized": true, "playback_public_key_pem": pem, "recording": {"s3_bucket_name": format!("bucket-{i}")}})
        } else {
            json!({"tenant": "crash", "name": format!("c{i}"), "recording": {"s3_bucket_name": format!("bucket-{i}")}, "tags": {"k": "v"}})
        };
        ids.push(w.declare(body).await);
        w.settle().await;
        w.sim.simulator.clear_faults();
    }
    for id in ids {
        assert_eq!(w.phase(id).await, "ready", "{id}");
    }
    w.assert_no_duplicates_or_orphans().await;
    assert!(w.sim.simulator.calls_of("CreateChannel") >= operations.len() as u64);
}

#[tokio::test]
async fn a_create_whose_response_is_lost_is_adopted_not_repeated() {
    let w = World::new().await;
    w.sim.simulator.fail_next(
        "CreateChannel",
        1,
        "InternalServerException",
        FailMode::ApplyThenFail,
    );
    let id = w.declare(json!({"tenant": "t", "name": "lost"})).await;

    w.settle().await;

    assert_eq!(w.phase(id).await, "ready");
    assert_eq!(
        w.sim.simulator.calls_of("CreateChannel"),
        1,
        "the SDK did not retry the create and neither did we"
    );
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from channel_events where channel_id = $1 order by id")
            .bind(id)
            .fetch_all(&w.pool)
            .await
            .unwrap();
    assert!(kinds.contains(&"adopted".to_owned()), "{kinds:?}");
    w.assert_no_duplicates_or_orphans().await;
}

#[tokio::test]
async fn with_throttling_and_server_errors_injected_one_hundred_channels_all_become_ready() {
    let w = World::new().await;
    w.sim.simulator.set_faults(FaultSettings {
        throttle_rate: 0.20,
        error_rate: 0.05,
        error_code: "InternalServerException".into(),
        ..FaultSettings::default()
    });
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(w.declare(json!({"tenant": "load", "name": format!("c-{i}"), "recording": {"s3_bucket_name": "load-rec"}})).await);
    }
    w.settle().await;
    w.sim.simulator.clear_faults();
    let failed: i64 = sqlx::query_scalar("select count(*) from channels where phase <> 'ready'")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(failed, 0);
    let failures: i64 =
        sqlx::query_scalar("select count(*) from channel_events where kind = 'failed'")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(
        failures, 0,
        "throttling and 5xx are retried, never shown as a failure"
    );
    let metrics = ivs_provisioner::metrics::install().render();
    assert!(
        metrics.contains(r#"outcome="throttled""#),
        "AWS throttles are counted even when the SDK retries them"
    );
    assert!(
        metrics.contains(r#"reconcile_attempts_total{outcome="done"}"#),
        "{metrics}"
    );
    w.assert_no_duplicates_or_orphans().await;
}

#[tokio::test]
async fn two_workers_never_act_on_the_same_row() {
    let w = World::new().await;
    for i in 0..30 {
        w.declare(json!({"tenant": "pair", "name": format!("c-{i}")}))
            .await;
    }
    let managed_key = wiring::managed_key(w.pool.clone(), w.ctx.aws.clone());
    let other = Ctx::new(w.pool.clone(), w.ctx.aws.clone(), settings(), managed_key);
    let (a, b) = tokio::join!(reconciler::run_once(&w.ctx), reconciler::run_once(&other));
    assert_eq!(
        a.unwrap() + b.unwrap(),
        30,
        "each row was handled exactly once"
    );
    let log = w.dump()["createChannelLog"].as_array().unwrap().clone();
    let mut creates: HashMap<String, usize> = HashMap::new();
    for entry in &log {
        *creates
            .entry(
                entry["tags"]["ivs-provisioner:id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    assert_eq!(creates.len(), 30);
    assert!(creates.values().all(|n| *n == 1), "{creates:?}");
    w.assert_no_duplicates_or_orphans().await;
}

#[tokio::test]
async fn the_drift_sweep_repairs_changes_recreates_deletions_and_reports_orphans() {
    let w = World::new().await;
    let deleted = w.declare(json!({"tenant": "d", "name": "gone"})).await;
    let changed = w
        .declare(json!({"tenant": "d", "name": "changed", "tags": {"Team": "a"}}))
        .await;
    let untouched = w.declare(json!({"tenant": "d", "name": "fine"})).await;
    w.settle().await;
    let (gone_arn, changed_arn) = (w.channel_arn(deleted).await, w.channel_arn(changed).await);
    let ivs = &w.raw_ivs().await;
    ivs.delete_channel().arn(&gone_arn).send().await.unwrap();
    ivs.update_channel()
        .arn(&changed_arn)
        .latency_mode("NORMAL".into())
        .send()
        .await
        .unwrap();
    ivs.untag_resource()
        .resource_arn(&changed_arn)
        .tag_keys("Team")
        .send()
        .await
        .unwrap();
    let stray = Uuid::new_v4().to_string();
    ivs.create_channel()
        .name("stray")
        .tags(IDENTITY, &stray)
        .tags("ManagedBy", "ivs-provisioner")
        .send()
        .await
        .unwrap();

    let report = reconciler::drift::sweep(&w.ctx).await.unwrap();

    let mut kinds: Vec<(&str, Option<Uuid>)> = report
        .findings
        .iter()
        .map(|f| (f.kind.into(), f.channel_id))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("changed_out_of_band", Some(changed)),
            ("deleted_out_of_band", Some(deleted)),
            ("orphan", None)
        ]
    );
    assert_eq!(report.channels_checked, 3);
    assert_eq!(w.phase(untouched).await, "ready");
    assert_eq!(w.phase(deleted).await, "updating");

    w.settle().await;

    assert_ne!(
        w.channel_arn(deleted).await,
        gone_arn,
        "recreated with a new ARN"
    );
    let dump = w.dump();
    let repaired = dump["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["arn"] == changed_arn.as_str())
        .unwrap();
    assert_eq!(repaired["latencyMode"], "LOW");
    assert_eq!(repaired["tags"]["Team"], "a");
    for id in [deleted, changed] {
        let kinds: Vec<String> =
            sqlx::query_scalar("select kind from channel_events where channel_id = $1 order by id")
                .bind(id)
                .fetch_all(&w.pool)
                .await
                .unwrap();
        assert!(kinds.contains(&"drift_detected".to_owned()), "{kinds:?}");
    }
    let findings: i64 = sqlx::query_scalar("select count(*) from drift_findings")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(findings, 3);
    let again = reconciler::drift::sweep(&w.ctx).await.unwrap();
    assert_eq!(
        again.findings.len(),
        1,
        "only the orphan remains: {:?}",
        again.findings
    );
}

const IDENTITY: &str = "ivs-provisioner:id";

/// Starts `ivs-provisioner worker` as a child process against this world's database and simulator;
/// it is killed when the guard is dropped, should the test fail before it kills it itself.
fn spawn_worker(w: &World) -> KillOnDrop {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ivs-provisioner"))
        .arg("worker")
        .env("DATABASE_URL", &w.database_url)
        .env("AWS_ENDPOINT_URL", w.sim.endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RECONCILER_POLL_SECS", "1")
        .env("DRIFT_SWEEP_SECS", "0")
        .env("RUST_LOG", "warn")
        .envs(
            [
                "IVS_CHANNEL_TPS",
                "IVS_RESOURCE_TPS",
                "IVS_STREAM_TPS",
                "IVS_TAG_TPS",
                "SSM_WRITE_TPS",
                "SSM_READ_TPS",
                "IVSCHAT_ROOM_TPS",
                "IVSCHAT_LOGGING_TPS",
                "IVSCHAT_TAG_TPS",
            ]
            .map(|k| (k, "0")),
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the worker binary");
    KillOnDrop(child)
}

/// Starts and SIGKILLs worker processes at random moments (up to 12 times, until every row is
/// ready), then lets this process finish the work; returns how many kills hit a worker holding a
/// lease.
async fn kill_workers_at_random_moments(w: &World) -> usize {
    use rand::Rng;
    let mut kills_mid_work = 0;
    for _ in 0..12 {
        let mut worker = spawn_worker(w);
        let lifetime = rand::thread_rng().gen_range(150..700);
        tokio::time::sleep(Duration::from_millis(lifetime)).await;
        worker.kill().expect("SIGKILL the worker");
        worker.wait().unwrap();
        // The dead worker's leases would expire by themselves; make that happen now.
        let orphaned = sqlx::query("update channels set lease_expires_at = now(), next_attempt_at = now() where lease_token is not null")
            .execute(&w.pool)
            .await
            .unwrap()
            .rows_affected();
        kills_mid_work += usize::from(orphaned > 0);
        let waiting: i64 =
            sqlx::query_scalar("select count(*) from channels where phase <> 'ready'")
                .fetch_one(&w.pool)
                .await
                .unwrap();
        if waiting == 0 {
            break;
        }
    }
    w.sim.simulator.clear_faults();
    sqlx::query("update channels set lease_token = null, lease_expires_at = null")
        .execute(&w.pool)
        .await
        .unwrap();
    w.settle().await;

    kills_mid_work
}

#[tokio::test]
async fn killing_worker_processes_at_random_moments_never_duplicates_or_orphans_a_channel() {
    let w = World::new().await;
    // Every AWS call takes a while, so kills land in the middle of reconciles.
    w.sim.simulator.set_faults(FaultSettings {
        latency_ms: 25,
        ..FaultSettings::default()
    });
    for i in 0..20 {
        w.declare(json!({"tenant": "kill", "name": format!("c-{i}"), "recording": {"s3_bucket_name": format!("kill-{}", i % 3)}, "tags": {"n": i.to_string()}}))
            .await;
    }
    let kills_mid_work = kill_workers_at_random_moments(&w).await;

    assert!(
        kills_mid_work > 0,
        "at least one worker was killed while holding a lease"
    );
    let not_ready: i64 = sqlx::query_scalar("select count(*) from channels where phase <> 'ready'")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(not_ready, 0);
    w.assert_no_duplicates_or_orphans().await;
    assert_eq!(
        w.dump()["recordingConfigurations"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "one shared configuration per settings tuple"
    );
}

#[tokio::test]
async fn a_recording_configuration_that_ivs_cannot_create_fails_the_channel_with_its_reason() {
    let mut config = SimConfig::for_tests();
    config.foreign_buckets = vec!["bucket-in-eu".into()];
    let w = World::with(config).await;
    let id = w
        .declare(
            json!({"tenant": "t", "name": "c", "recording": {"s3_bucket_name": "bucket-in-eu"}}),
        )
        .await;

    w.settle().await;

    let row = w.row(id).await;
    assert_eq!(row.phase, "failed");
    let error = row.last_error.unwrap().0;
    assert_eq!(error["code"], "RecordingConfigurationCreateFailed");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("bucket-in-eu") && message.contains("CREATE_FAILED"),
        "{message}"
    );
    assert!(
        error["next_attempt_at"].is_string() && error["attempts"] == 1,
        "{error}"
    );
    assert!(
        w.dump()["channels"].as_array().unwrap().is_empty(),
        "no channel without its recording"
    );
}

#[tokio::test]
async fn a_live_channel_is_updated_when_its_broadcast_ends_and_deleted_at_once_with_force() {
    let w = World::new().await;
    let id = w.declare(json!({"tenant": "t", "name": "live"})).await;
    w.settle().await;
    let arn = w.channel_arn(id).await;
    w.sim
        .simulator
        .start_broadcast(aws_sim::BroadcastSpec::new(&arn))
        .unwrap();

    let mut spec = w.row(id).await.spec.0.clone();
    spec.latency_mode = serde_json::from_value(json!("NORMAL")).unwrap();
    db::channels::update_spec(&w.pool, id, &spec, Phase::Updating)
        .await
        .unwrap();
    reconciler::run_once(&w.ctx).await.unwrap();

    let row = w.row(id).await;
    assert_eq!(row.phase, "updating", "a live channel cannot be updated");
    let reason = row.last_error.unwrap().0["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("live"), "the channel says why: {reason}");
    assert_eq!(w.dump()["channels"][0]["latencyMode"], "LOW");

    w.sim.simulator.stop_broadcast(&arn);
    w.settle().await;
    assert_eq!(w.phase(id).await, "ready");
    assert_eq!(w.dump()["channels"][0]["latencyMode"], "NORMAL");

    w.sim
        .simulator
        .start_broadcast(aws_sim::BroadcastSpec::new(&arn))
        .unwrap();
    db::channels::mark_deleting(&w.pool, id, false)
        .await
        .unwrap();
    reconciler::run_once(&w.ctx).await.unwrap();
    assert_eq!(
        w.phase(id).await,
        "deleting",
        "a live channel is not deleted without force"
    );
    assert_eq!(w.dump()["channels"].as_array().unwrap().len(), 1);

    db::channels::mark_deleting(&w.pool, id, true)
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.phase(id).await, "deleted");
    assert!(w.dump()["channels"].as_array().unwrap().is_empty());
    assert_eq!(w.sim.simulator.calls_of("StopStream"), 1);
}

#[tokio::test]
async fn a_caller_key_no_channel_uses_any_more_frees_its_ivs_slot() {
    let w = World::new().await;
    let pem = p384_public_pem();
    let body = |name: &str| json!({"tenant": "t", "name": name, "authorized": true, "playback_public_key_pem": pem});
    let first = w.declare(body("first")).await;
    let second = w.declare(body("second")).await;
    w.settle().await;
    assert_eq!(
        w.dump()["playbackKeyPairs"].as_array().unwrap().len(),
        1,
        "one import for both"
    );

    db::channels::mark_deleting(&w.pool, first, false)
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(
        w.dump()["playbackKeyPairs"].as_array().unwrap().len(),
        1,
        "still used by the second"
    );

    let mut spec = w.row(second).await.spec.0.clone();
    spec.playback_public_key_pem = None;
    db::channels::update_spec(&w.pool, second, &spec, Phase::Updating)
        .await
        .unwrap();
    w.settle().await;

    assert_eq!(w.phase(second).await, "ready");
    assert!(
        w.dump()["playbackKeyPairs"].as_array().unwrap().is_empty(),
        "the slot is free again"
    );
    let rows: i64 = sqlx::query_scalar("select count(*) from playback_keys")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

/// A second pool on the same database: another replica, with sessions of its own (session
/// advisory locks are re-entrant within one session, so the check must come from another).
async fn second_replica(database_url: &str) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(database_url)
        .await
        .unwrap()
}

/// Tries the lock from `pool` for up to five seconds; true once the work ran under it.
async fn gets_the_lock_soon(pool: &PgPool, key: &str) -> bool {
    for _ in 0..50 {
        let ran = db::locks::with_lock(pool, key, async { Ok::<_, sqlx::Error>(()) })
            .await
            .unwrap();
        if ran.is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_lock_whose_work_panics_or_is_cancelled_is_freed_for_the_next_attempt() {
    // Declared first, so that it is dropped last, after every pool on it.
    let database = fresh_database().await;
    let (pool, url) = (database.pool.clone(), database.url.clone());
    let other = second_replica(&url).await;

    // The work panics while holding the lock.
    let holder = pool.clone();
    let panicked = tokio::spawn(async move {
        db::locks::with_lock(&holder, "recording:leak-test", async {
            if true {
                panic!("the work inside the lock fails");
            }
            Ok::<_, sqlx::Error>(())
        })
        .await
    })
    .await;
    assert!(panicked.unwrap_err().is_panic());
    assert!(
        gets_the_lock_soon(&other, "recording:leak-test").await,
        "the next attempt on the same key must get the lock after a panic"
    );

    // The work's future is dropped (a timeout, a shutdown) while holding the lock.
    let holder = pool.clone();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let stuck = tokio::spawn(async move {
        db::locks::with_lock(&holder, "key:cancel-test", async {
            let _ = locked_tx.send(());
            std::future::pending::<Result<(), sqlx::Error>>().await
        })
        .await
    });
    locked_rx.await.unwrap();
    assert!(
        db::locks::with_lock(&other, "key:cancel-test", async {
            Ok::<_, sqlx::Error>(())
        })
        .await
        .unwrap()
        .is_none(),
        "held while the work runs"
    );
    stuck.abort();
    assert!(
        gets_the_lock_soon(&other, "key:cancel-test").await,
        "the next attempt on the same key must get the lock after a cancellation"
    );

    // The pool the lock leaked from still works, and its connections hold no lock.
    let held: i64 = sqlx::query_scalar("select count(*) from pg_locks where locktype = 'advisory'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held, 0);
}

#[tokio::test]
async fn aws_falling_silent_then_healing_never_wedges_the_reconciler() {
    let w = World::new().await;
    let proxy = SilentProxy::spawn(&w.sim.endpoint()).await;
    let timeouts = ivs_provisioner::aws::TimeoutSettings {
        aws_connect_timeout_secs: 1,
        aws_attempt_timeout_secs: 1,
        aws_operation_timeout_secs: 3,
        aws_request_timeout_secs: 2,
    };
    let aws = Aws::for_local_endpoint(&proxy.endpoint, REGION, &unlimited())
        .await
        .with_timeouts(&timeouts);
    let mut silent_settings = settings();
    silent_settings.attempt_timeout = Duration::from_secs(8);
    let managed_key = wiring::managed_key(w.pool.clone(), aws.clone());
    let ctx = Ctx::new(w.pool.clone(), aws, silent_settings, managed_key);
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            w.declare(if i % 2 == 0 {
                json!({"tenant": "net", "name": format!("class-{i}"), "recording": {"s3_bucket_name": "net-rec"}})
            } else {
                json!({"tenant": "net", "name": format!("class-{i}")})
            })
            .await,
        );
    }

    // AWS goes silent while the reconciler works, for longer than every timeout, then heals.
    proxy.set_silent(true);
    let stop = tokio_util::sync::CancellationToken::new();
    let workers = tokio::spawn(reconciler::run(ctx, stop.clone()));
    tokio::time::sleep(Duration::from_secs(6)).await;
    let timed_out: i64 = sqlx::query_scalar(
        "select count(*) from channels where last_error->>'code' in ('Timeout', 'AttemptTimedOut')",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    let codes: Vec<Option<String>> = sqlx::query_scalar("select last_error->>'code' from channels")
        .fetch_all(&w.pool)
        .await
        .unwrap();
    assert!(
        timed_out > 0,
        "attempts against the silent AWS timed out instead of hanging: {codes:?}"
    );
    proxy.set_silent(false);

    let healed = std::time::Instant::now();
    let mut ready = 0;
    while healed.elapsed() < Duration::from_secs(60) {
        ready = 0;
        for id in &ids {
            ready += usize::from(w.phase(*id).await == "ready");
        }
        if ready == ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The figure the README's "What it survives" table quotes.
    eprintln!(
        "after healing: {ready} of {} channels ready in {:?}",
        ids.len(),
        healed.elapsed()
    );
    stop.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), workers).await;
    assert_eq!(
        ready,
        ids.len(),
        "every channel ready after the network healed"
    );
    assert!(
        stopped.is_ok(),
        "the reconciler stops promptly after healing"
    );
    w.assert_no_duplicates_or_orphans().await;
}

// ---- Chat rooms (IVS Chat) ----

/// A channel body with chat, merged over a minimal one.
fn with_chat(name: &str, chat: Value) -> Value {
    json!({"tenant": "chat", "name": name, "tags": {"Team": "live"}, "chat": chat})
}

impl World {
    fn rooms(&self) -> Vec<Value> {
        self.dump()["chat"]["rooms"].as_array().unwrap().clone()
    }

    fn logging_configurations(&self) -> Vec<Value> {
        self.dump()["chat"]["loggingConfigurations"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn set_spec(&self, id: Uuid, change: impl FnOnce(&mut ChannelSpec)) {
        let mut spec = self.row(id).await.spec.0;
        change(&mut spec);
        db::channels::update_spec(&self.pool, id, &spec, Phase::Updating)
            .await
            .unwrap();
    }

    async fn event_kinds(&self, id: Uuid) -> Vec<String> {
        sqlx::query_scalar("select kind from channel_events where channel_id = $1 order by id")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    /// Exactly one room per live row with chat enabled (by identity tag), the one its outputs
    /// name, and no other room.
    async fn assert_one_room_per_chat_channel(&self) {
        let live: Vec<(Uuid, Json<ChannelSpec>, Json<Value>)> =
            sqlx::query_as("select id, spec, outputs from channels where deleted_at is null")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        let mut per_row: HashMap<String, Vec<String>> = HashMap::new();
        for room in self.rooms() {
            let id = room["tags"][IDENTITY]
                .as_str()
                .expect("every room carries its row id");
            per_row
                .entry(id.to_owned())
                .or_default()
                .push(room["arn"].as_str().unwrap().to_owned());
        }
        for (id, spec, outputs) in &live {
            if spec.0.chat_room().is_none() {
                continue;
            }
            let rooms = per_row.remove(&id.to_string()).unwrap_or_default();
            assert_eq!(rooms.len(), 1, "row {id} must have exactly one room");
            assert_eq!(outputs.0["chat_room_arn"], rooms[0], "row {id}");
        }
        assert!(per_row.is_empty(), "orphan rooms: {per_row:?}");
    }

    /// A raw IVS Chat client on the simulator, for changes made behind the service's back.
    async fn raw_ivschat(&self) -> aws_sdk_ivschat::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.sim.endpoint())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_ivs::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .load()
            .await;
        aws_sdk_ivschat::Client::new(&config)
    }
}

#[tokio::test]
async fn a_channel_with_chat_becomes_ready_with_its_room_tagged_configured_and_logging() {
    let w = World::new().await;
    let handler = "arn:aws:lambda:us-east-1:123456789012:function:review-chat";
    let id = w
        .declare(with_chat(
            "fitness-1",
            json!({"maximum_message_rate_per_second": 20, "maximum_message_length": 300,
                   "message_review_handler": {"lambda_arn": handler, "fallback_result": "DENY"},
                   "log_to_s3_bucket": "acme-chat-logs"}),
        ))
        .await;

    w.settle().await;

    let row = w.row(id).await;
    assert_eq!(row.phase, "ready");
    let rooms = w.rooms();
    assert_eq!(rooms.len(), 1);
    let room = &rooms[0];
    assert_eq!(row.outputs.0["chat_room_arn"], room["arn"]);
    assert_eq!(row.outputs.0["chat_room_id"], room["id"]);
    assert_eq!(room["name"], "fitness-1");
    for (tag, value) in [
        ("Name", "fitness-1"),
        ("ManagedBy", "ivs-provisioner"),
        ("Tenant", "chat"),
        ("Team", "live"),
    ] {
        assert_eq!(room["tags"][tag], value, "{tag}");
    }
    assert_eq!(room["tags"][IDENTITY], id.to_string());
    assert_eq!(room["maximumMessageRatePerSecond"], 20);
    assert_eq!(room["maximumMessageLength"], 300);
    assert_eq!(room["messageReviewHandler"]["uri"], handler);
    assert_eq!(room["messageReviewHandler"]["fallbackResult"], "DENY");
    let configs = w.logging_configurations();
    assert_eq!(configs.len(), 1);
    assert_eq!(
        configs[0]["destinationConfiguration"]["s3"]["bucketName"],
        "acme-chat-logs"
    );
    assert_eq!(
        room["loggingConfigurationIdentifiers"],
        json!([configs[0]["arn"]])
    );
    assert!(
        w.event_kinds(id)
            .await
            .contains(&"chat_room_created".to_owned())
    );
    w.assert_one_room_per_chat_channel().await;
}

#[tokio::test]
async fn a_chat_change_updates_the_room_and_turning_chat_off_or_removing_it_deletes_the_room() {
    let w = World::new().await;
    let id = w
        .declare(with_chat(
            "auction-1",
            json!({"log_to_s3_bucket": "acme-chat-logs"}),
        ))
        .await;
    w.settle().await;
    let first_room = w.rooms()[0]["arn"].clone();

    w.set_spec(id, |spec| {
        let chat = spec.chat.as_mut().unwrap();
        chat.maximum_message_length = 100;
        chat.log_to_s3_bucket = None;
    })
    .await;
    w.settle().await;

    assert_eq!(w.phase(id).await, "ready");
    assert!(w.sim.simulator.calls_of("UpdateRoom") >= 1);
    let rooms = w.rooms();
    assert_eq!(rooms.len(), 1);
    assert_eq!(
        rooms[0]["arn"], first_room,
        "updated in place, not replaced"
    );
    assert_eq!(rooms[0]["maximumMessageLength"], 100);
    assert_eq!(rooms[0]["loggingConfigurationIdentifiers"], json!([]));
    assert!(
        w.logging_configurations().is_empty(),
        "the unused logging configuration is released"
    );

    w.set_spec(id, |spec| spec.chat.as_mut().unwrap().enabled = false)
        .await;
    w.settle().await;
    assert_eq!(w.phase(id).await, "ready");
    assert!(w.rooms().is_empty(), "enabled = false deletes the room");
    assert_eq!(w.row(id).await.outputs.0["chat_room_arn"], Value::Null);

    w.set_spec(id, |spec| spec.chat.as_mut().unwrap().enabled = true)
        .await;
    w.settle().await;
    assert_eq!(w.rooms().len(), 1);
    w.set_spec(id, |spec| spec.chat = None).await;
    w.settle().await;
    assert!(w.rooms().is_empty(), "removing chat deletes the room");
    let kinds = w.event_kinds(id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "chat_room_deleted").count(),
        2,
        "{kinds:?}"
    );
    w.assert_no_duplicates_or_orphans().await;
}

#[tokio::test]
async fn channels_logging_chat_to_one_bucket_share_one_configuration_released_with_the_last() {
    let w = World::new().await;
    let bucket = json!({"log_to_s3_bucket": "shared-chat-logs"});
    let a = w.declare(with_chat("class-a", bucket.clone())).await;
    let b = w.declare(with_chat("class-b", bucket)).await;
    let other = w
        .declare(with_chat(
            "class-c",
            json!({"log_to_s3_bucket": "other-chat-logs"}),
        ))
        .await;
    w.settle().await;

    let configs = w.logging_configurations();
    assert_eq!(configs.len(), 2, "one per bucket");
    let shared = configs
        .iter()
        .find(|c| c["destinationConfiguration"]["s3"]["bucketName"] == "shared-chat-logs")
        .unwrap()["arn"]
        .clone();
    let attached: Vec<Value> = w
        .rooms()
        .iter()
        .map(|r| r["loggingConfigurationIdentifiers"][0].clone())
        .collect();
    assert_eq!(attached.iter().filter(|a| **a == shared).count(), 2);

    db::channels::mark_deleting(&w.pool, a, false)
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.logging_configurations().len(), 2, "still used by class-b");

    db::channels::mark_deleting(&w.pool, b, false)
        .await
        .unwrap();
    w.settle().await;
    let left = w.logging_configurations();
    assert_eq!(left.len(), 1, "released with its last user");
    assert_eq!(
        left[0]["destinationConfiguration"]["s3"]["bucketName"],
        "other-chat-logs"
    );
    assert_eq!(w.phase(other).await, "ready");
    w.assert_one_room_per_chat_channel().await;
}

#[tokio::test]
async fn deleting_a_channel_deletes_its_room() {
    let w = World::new().await;
    let id = w
        .declare(with_chat(
            "town-hall",
            json!({"log_to_s3_bucket": "acme-chat-logs"}),
        ))
        .await;
    w.settle().await;
    assert_eq!(w.rooms().len(), 1);

    db::channels::mark_deleting(&w.pool, id, false)
        .await
        .unwrap();
    w.settle().await;

    assert_eq!(w.phase(id).await, "deleted");
    assert!(w.rooms().is_empty());
    assert!(w.logging_configurations().is_empty());
    assert!(
        w.event_kinds(id)
            .await
            .contains(&"chat_room_deleted".to_owned())
    );
}

#[tokio::test]
async fn a_create_room_whose_response_is_lost_is_adopted_by_tag_exactly_one_room() {
    let w = World::new().await;
    w.sim.simulator.fail_next(
        "CreateRoom",
        1,
        "InternalServerException",
        FailMode::ApplyThenFail,
    );
    let id = w.declare(with_chat("lost-room", json!({}))).await;

    w.settle().await;

    assert_eq!(w.phase(id).await, "ready");
    assert_eq!(
        w.sim.simulator.calls_of("CreateRoom"),
        1,
        "the SDK did not retry the create and neither did we"
    );
    assert_eq!(w.rooms().len(), 1);
    let kinds = w.event_kinds(id).await;
    assert!(kinds.contains(&"adopted".to_owned()), "{kinds:?}");
    w.assert_one_room_per_chat_channel().await;
}

#[tokio::test]
async fn killing_worker_processes_at_random_moments_leaves_exactly_one_room_per_chat_channel() {
    let w = World::new().await;
    w.sim.simulator.set_faults(FaultSettings {
        latency_ms: 25,
        ..FaultSettings::default()
    });
    for i in 0..12 {
        let chat =
            json!({"log_to_s3_bucket": format!("kill-chat-{}", i % 2), "enabled": i % 4 != 3});
        w.declare(with_chat(&format!("k-{i}"), chat)).await;
    }

    let kills_mid_work = kill_workers_at_random_moments(&w).await;

    assert!(
        kills_mid_work > 0,
        "at least one worker was killed while holding a lease"
    );
    let not_ready: i64 = sqlx::query_scalar("select count(*) from channels where phase <> 'ready'")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(not_ready, 0);
    w.assert_no_duplicates_or_orphans().await;
    w.assert_one_room_per_chat_channel().await;
    assert_eq!(w.rooms().len(), 9);
    assert_eq!(w.logging_configurations().len(), 2, "one per bucket");
}

#[tokio::test]
async fn a_room_deleted_behind_the_services_back_is_recreated_by_the_drift_sweep() {
    let w = World::new().await;
    let id = w.declare(with_chat("idle-room", json!({}))).await;
    w.settle().await;
    let old = w.row(id).await.outputs.0["chat_room_arn"]
        .as_str()
        .unwrap()
        .to_owned();
    w.raw_ivschat()
        .await
        .delete_room()
        .identifier(&old)
        .send()
        .await
        .unwrap();

    let report = reconciler::drift::sweep(&w.ctx).await.unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.channel_id == Some(id) && f.details["chat_room_arn"] == old),
        "{:?}",
        report.findings
    );
    w.settle().await;

    assert_eq!(w.phase(id).await, "ready");
    let new = w.row(id).await.outputs.0["chat_room_arn"].clone();
    assert_ne!(new, json!(old));
    assert_eq!(w.rooms().len(), 1);
    assert!(w.event_kinds(id).await.contains(&"recreating".to_owned()));
    w.assert_one_room_per_chat_channel().await;
}
