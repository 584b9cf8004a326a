//! Viewer revocation and stream-key custody against the simulator, and the guarantee that no
//! response (other than the stream-key read itself) and no log line carries a secret.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use aws_sim::FailMode;
use ivs_provisioner::domain::api_key::Scope;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Reply, TestApp, channel, id_of, merged};
use crate::tokens::{mint, ready_private_channel};

fn stream_keys_of(app: &TestApp, arn: &str) -> Vec<String> {
    app.sim.simulator.dump()["streamKeys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["channelArn"] == arn)
        .map(|k| k["value"].as_str().unwrap().to_owned())
        .collect()
}

async fn ssm_stream_key(app: &TestApp, tenant: &str, name: &str) -> String {
    app.raw_ssm()
        .await
        .get_parameter()
        .name(format!("/live/{tenant}/{name}/stream-key"))
        .with_decryption(true)
        .send()
        .await
        .expect("the stream-key parameter")
        .parameter
        .and_then(|p| p.value)
        .unwrap()
}

async fn channel_arn(app: &TestApp, admin: &str, id: &str) -> String {
    let channel = app.get(&format!("/v1/channels/{id}"), admin).await.json();
    channel["status"]["outputs"]["channel_arn"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn event_kinds(app: &TestApp, admin: &str, id: &str) -> Vec<String> {
    app.events(admin, id)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_revocation_reaches_ivs_with_its_arguments_and_is_recorded() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;
    let arn = channel_arn(&app, &admin, &id).await;
    let path = format!("/v1/channels/{id}/viewer-revocations");

    let reply = app
        .post(&path, &admin, &json!({"viewer_id": "member-4711", "viewer_session_versions_less_than_or_equal_to": 5}))
        .await;

    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let revocations = app.sim.simulator.dump()["revocations"].clone();
    assert_eq!(revocations.as_array().unwrap().len(), 1, "{revocations}");
    assert_eq!(revocations[0]["channelArn"], arn);
    assert_eq!(revocations[0]["viewerId"], "member-4711");
    assert_eq!(revocations[0]["viewerSessionVersionsLessThanOrEqualTo"], 5);
    assert_eq!(revocations[0]["batch"], false);
    let events = app.events(&admin, &id).await;
    let revoked = events
        .iter()
        .find(|e| e["kind"] == "viewer_session_revoked")
        .unwrap();
    assert_eq!(revoked["details"]["viewer_id"], "member-4711");

    let bad = app
        .post(
            &path,
            &admin,
            &json!({"viewer_id": "", "viewer_session_versions_less_than_or_equal_to": -1}),
        )
        .await;
    bad.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.error_fields(),
        [
            "/viewer_id",
            "/viewer_session_versions_less_than_or_equal_to"
        ]
    );
    let public = id_of(&app.create_channel(&admin, &channel("acme", "open")).await);
    app.post(
        &format!("/v1/channels/{public}/viewer-revocations"),
        &admin,
        &json!({"viewer_id": "v"}),
    )
    .await
    .problem(StatusCode::CONFLICT);
    assert_eq!(
        app.sim.simulator.dump()["revocations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_stream_key_is_read_from_ivs_and_rotation_replaces_it_in_ivs_and_ssm() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = id_of(&app.create_channel(&admin, &channel("acme", "yoga")).await);
    app.reconcile().await;
    let arn = channel_arn(&app, &admin, &id).await;
    let broadcaster = app.key(&[Scope::StreamKeysRead], Some("acme")).await;
    let path = format!("/v1/channels/{id}/stream-key");

    let read = app.get(&path, &broadcaster).await;

    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let old = read.json()["stream_key"].as_str().unwrap().to_owned();
    assert_eq!(stream_keys_of(&app, &arn), std::slice::from_ref(&old));
    assert_eq!(ssm_stream_key(&app, "acme", "yoga").await, old);
    assert!(
        read.json()["ingest_url"]
            .as_str()
            .unwrap()
            .starts_with("rtmps://")
    );
    let reader = app.key(&[Scope::ChannelsRead], None).await;
    app.get(&path, &reader).await.problem(StatusCode::FORBIDDEN);

    let rotate = app
        .post(&format!("{path}/rotate"), &admin, &json!({}))
        .await;
    assert_eq!(rotate.status, StatusCode::ACCEPTED, "{}", rotate.text);
    assert_eq!(rotate.json()["status"]["phase"], "updating");
    app.reconcile().await;

    let new = app.get(&path, &broadcaster).await.json()["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new, old);
    assert_eq!(
        stream_keys_of(&app, &arn),
        std::slice::from_ref(&new),
        "exactly one key"
    );
    assert_eq!(ssm_stream_key(&app, "acme", "yoga").await, new);
    let kinds = event_kinds(&app, &admin, &id).await;
    assert!(
        kinds.contains(&"stream_key_rotation_requested".to_owned()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"stream_key_rotated".to_owned()),
        "{kinds:?}"
    );
    let channel = app.get(&format!("/v1/channels/{id}"), &admin).await.json();
    assert_eq!(channel["status"]["phase"], "ready");
}

#[tokio::test]
async fn a_crash_between_delete_and_create_is_repaired_by_the_reconciler() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = id_of(&app.create_channel(&admin, &channel("acme", "yoga")).await);
    app.reconcile().await;
    let arn = channel_arn(&app, &admin, &id).await;
    let old = stream_keys_of(&app, &arn);
    app.sim.simulator.fail_next(
        "CreateStreamKey",
        1,
        "InternalServerException",
        FailMode::Before,
    );

    app.post(
        &format!("/v1/channels/{id}/stream-key/rotate"),
        &admin,
        &json!({}),
    )
    .await;
    app.reconcile().await;

    assert_eq!(
        app.sim.simulator.calls_of("CreateStreamKey"),
        2,
        "failed, then retried"
    );
    let keys = stream_keys_of(&app, &arn);
    assert_eq!(keys.len(), 1, "never left keyless, never two");
    assert_ne!(keys, old);
    assert_eq!(ssm_stream_key(&app, "acme", "yoga").await, keys[0]);
}

/// Everything the service logs, from every test in this binary, at trace level for its own code.
pub(crate) fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("info,ivs_provisioner=trace,tower_http=trace,aws_sim=debug")
            .with_writer(move || Sink(sink.clone()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the first subscriber");
        buffer
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every secret the simulator holds: stream keys (all of them, rotated ones too) and every
/// version of every SecureString (the signing keys, as PEM lines long enough to be unique).
fn secrets(app: &TestApp) -> Vec<String> {
    let dump = app.sim.simulator.dump();
    let mut found: Vec<String> = dump["streamKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["value"].as_str().unwrap().to_owned())
        .collect();
    for parameter in dump["parameters"].as_array().unwrap() {
        for version in parameter["versions"].as_array().into_iter().flatten() {
            let value = version["value"].as_str().unwrap_or_default();
            if value.contains("PRIVATE KEY") {
                found.extend(
                    value
                        .lines()
                        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                        .map(str::to_owned),
                );
            } else if value.starts_with("sk_") {
                found.push(value.to_owned());
            }
        }
    }
    found
}

#[tokio::test]
async fn no_response_and_no_log_line_carries_a_stream_key_or_a_private_key() {
    let logs = captured_logs();
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let mut replies: Vec<Reply> = Vec::new();
    let private = ready_private_channel(&app, &admin, "acme", "yoga").await;
    let body = merged(
        &channel("acme", "open"),
        &json!({"recording": {"s3_bucket_name": "rec"}}),
    );
    let public = id_of(&app.create_channel(&admin, &body).await);
    app.reconcile().await;
    let mut old_stream_keys = Vec::new();
    for id in [&private, &public] {
        replies.push(app.get(&format!("/v1/channels/{id}"), &admin).await);
        replies.push(mint(&app, &admin, id, &json!({"viewer_id": "v1"})).await);
        replies.push(
            app.post(
                &format!("/v1/channels/{id}/stream-key/rotate"),
                &admin,
                &json!({}),
            )
            .await,
        );
        // The one response allowed to carry a stream key; not searched.
        let read = app
            .get(&format!("/v1/channels/{id}/stream-key"), &admin)
            .await;
        old_stream_keys.push(read.json()["stream_key"].as_str().unwrap().to_owned());
    }
    app.reconcile().await;
    replies.push(
        app.post("/v1/playback-keys/rotate", &admin, &json!({}))
            .await,
    );
    // Deleting the channels removes their keys from the simulator: collect them first.
    let mut secrets = secrets(&app);
    replies.push(app.get("/v1/playback-keys", &admin).await);
    replies.push(mint(&app, &admin, &private, &json!({})).await);
    replies.push(
        app.post(
            &format!("/v1/channels/{private}/viewer-revocations"),
            &admin,
            &json!({"viewer_id": "v1"}),
        )
        .await,
    );
    replies.push(app.get("/v1/channels?include_deleted=true", &admin).await);
    for id in [&private, &public] {
        replies.push(app.get(&format!("/v1/channels/{id}/events"), &admin).await);
        replies.push(app.delete(&format!("/v1/channels/{id}"), &admin).await);
    }
    app.reconcile().await;
    let database: Vec<String> = sqlx::query_scalar(
        "select row_to_json(t)::text from (select * from channels) t
         union all select row_to_json(t)::text from (select * from channel_events) t
         union all select row_to_json(t)::text from (select * from playback_keys) t",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();

    secrets.extend(old_stream_keys);
    assert!(
        secrets.iter().filter(|s| s.starts_with("sk_")).count() >= 4,
        "{secrets:?}"
    );
    assert!(
        secrets.iter().any(|s| !s.starts_with("sk_")),
        "private keys found"
    );
    let log_text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        log_text.contains("playback signing key"),
        "the logs were captured"
    );
    let haystacks = [
        ("logs", log_text),
        (
            "responses",
            replies
                .iter()
                .map(|r| r.text.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        ("the database", database.join("\n")),
    ];
    for (place, text) in &haystacks {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret is in {place}: {secret}"
            );
        }
    }
}
