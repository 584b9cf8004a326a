//! The reconciler against the AWS simulator over HTTP through the real SDK, on a real Postgres:
//! end to end, shared quotas, crash safety at every step boundary, injected faults, and two
//! workers sharing one database.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sim::{FailMode, FaultSettings, RunningSim, SimConfig};

use ivs_provisioner::aws::{Aws, RateSettings};
use ivs_provisioner::db;
use ivs_provisioner::domain::channel::{ChannelRequest, ChannelSpec};
use ivs_provisioner::reconciler::{self, Ctx, Settings};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

struct World {
    pool: PgPool,
    sim: RunningSim,
    ctx: Ctx,
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
    }
}

async fn fresh_database() -> PgPool {
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = PgPool::connect(&server)
        .await
        .expect("Postgres must run (scripts/test.sh starts it)");
    let name = format!("ivsp_test_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("create database {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
    let pool = PgPool::connect(&url).await.unwrap();
    db::migrate(&pool).await.unwrap();
    pool
}

impl World {
    async fn new() -> World {
        let pool = fresh_database().await;
        let sim = aws_sim::spawn(SimConfig::for_tests()).await.unwrap();
        let aws = Aws::for_local_endpoint(&sim.endpoint(), REGION, &unlimited()).await;
        let ctx = Ctx::new(pool.clone(), aws, settings());
        World { pool, sim, ctx }
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
        db::channels::find(&self.pool, id)
            .await
            .unwrap()
            .unwrap()
            .phase
    }

    async fn row(&self, id: Uuid) -> db::channels::ChannelRow {
        db::channels::find(&self.pool, id).await.unwrap().unwrap()
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
    db::channels::update_spec(&w.pool, id, &spec, "updating")
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
async fn with_injected_server_errors_one_hundred_channels_all_become_ready() {
    let w = World::new().await;
    w.sim.simulator.set_faults(FaultSettings {
        error_rate: 0.25,
        error_code: "InternalServerException".into(),
        latency_ms: 0,
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
    w.assert_no_duplicates_or_orphans().await;
}

#[tokio::test]
async fn two_workers_never_act_on_the_same_row() {
    let w = World::new().await;
    for i in 0..30 {
        w.declare(json!({"tenant": "pair", "name": format!("c-{i}")}))
            .await;
    }
    let other = Ctx::new(w.pool.clone(), w.ctx.aws.clone(), settings());
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
