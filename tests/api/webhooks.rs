//! Webhooks end to end: endpoints over the API, events written with the state changes that
//! cause them, the delivery engine posting them to a receiver on 127.0.0.1 (an axum server
//! that records every request), signatures checked by the independent `standardwebhooks`
//! Python package, retries, isolation between tenants, SSRF refusals, replay and validation.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use chrono::{DateTime, Utc};
use ivs_provisioner::api::limits::LimitSettings;
use ivs_provisioner::api::{AppState, Application, HttpSettings};
use ivs_provisioner::domain::api_key::Scope;
use ivs_provisioner::domain::webhook::UrlPolicy;
use ivs_provisioner::playback_keys::{KeyRing, KeySource, Tokens};
use ivs_provisioner::webhooks::{self, Settings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::{LIMITS, SIGNING_KEY_PARAMETER, TestApp, channel, id_of};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    /// When the request arrived, and when it was answered.
    began: DateTime<Utc>,
    at: DateTime<Utc>,
    /// What the receiver answered.
    status: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Ok,
    /// 500 for the first n requests carrying each `webhook-id`, then 204.
    FailFirst(usize),
    /// This status every time.
    Always(u16),
    /// 204 after this many milliseconds (a slow receiver: attempts are in flight for a while).
    Slow(u64),
}

#[derive(Clone)]
struct Receiver {
    log: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
    url: String,
}

impl Receiver {
    async fn start(mode: Mode) -> Receiver {
        let receiver = Receiver {
            log: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
            url: String::new(),
        };
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/hooks"),
            ..receiver
        }
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The requests answered 2xx.
    fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    async fn wait_for(&self, accepted: usize, within: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.accepted();
            if got.len() >= accepted {
                return got;
            }
            assert!(
                started.elapsed() < within,
                "{} of {accepted} deliveries arrived within {within:?}: {:#?}",
                got.len(),
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let began = Utc::now();
    let mode = *receiver.mode.lock().unwrap();
    if let Mode::Slow(ms) = mode {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut log = receiver.log.lock().unwrap();
    let status = match mode {
        Mode::Ok | Mode::Slow(_) => 204,
        Mode::Always(status) => status,
        Mode::FailFirst(n) => {
            if log.iter().filter(|r| r.id == id).count() < n {
                500
            } else {
                204
            }
        }
    };
    log.push(Received {
        id,
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        began,
        at: Utc::now(),
        status,
    });
    AxumStatus::from_u16(status).unwrap()
}

/// Engine settings for tests: quick retries, short timeouts, everything allowed.
fn settings() -> Settings {
    Settings {
        concurrency: 64,
        per_endpoint: 8,
        timeout: Duration::from_secs(2),
        schedule: [0.0, 0.2, 0.3, 0.5, 0.5]
            .map(Duration::from_secs_f64)
            .to_vec(),
        lease: Duration::from_secs(10),
        poll: Duration::from_secs(1),
        disable_after: Duration::from_secs(3 * 86_400),
        retention: Duration::from_secs(30 * 86_400),
        policy: UrlPolicy::PERMISSIVE,
    }
}

/// Runs the delivery engine's loop until the returned token is cancelled.
fn start_engine(app: &TestApp, settings: Settings) -> CancellationToken {
    let stop = CancellationToken::new();
    let ctx = webhooks::Ctx::new(app.pool.clone(), settings).expect("a delivery engine");
    tokio::spawn(webhooks::run(ctx, stop.clone()));
    stop
}

/// Delivers everything due now, once.
async fn deliver_now(app: &TestApp) {
    let ctx = webhooks::Ctx::new(app.pool.clone(), settings()).expect("a delivery engine");
    webhooks::run_once(&ctx).await.expect("a delivery pass");
}

async fn register(app: &TestApp, key: &str, body: Value) -> (String, String) {
    let reply = app.post("/v1/webhook-endpoints", key, &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let body = reply.json();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// A channel declared and reconciled to `ready` (one `channel.ready` event).
async fn ready_channel(app: &TestApp, key: &str, tenant: &str, name: &str) -> String {
    let id = id_of(&app.create_channel(key, &channel(tenant, name)).await);
    app.reconcile().await;
    id
}

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("IVS_TEST_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "no Python virtualenv at {}: run scripts/test.sh (it installs scripts/requirements-test.txt, \
         standardwebhooks included) or set IVS_TEST_VENV",
        venv.display()
    );
    python
}

/// For each message, which of `secrets` the `standardwebhooks` package accepts it with.
fn verified_by(messages: &[Received], secrets: &[&str]) -> Vec<Vec<bool>> {
    let script = r#"
import json, sys
from standardwebhooks import Webhook, WebhookVerificationError
messages, secrets = json.loads(sys.stdin.read()), sys.argv[1:]
result = []
for m in messages:
    headers = {"webhook-id": m["id"], "webhook-timestamp": m["timestamp"], "webhook-signature": m["signature"]}
    row = []
    for secret in secrets:
        try:
            payload = Webhook(secret).verify(m["body"], headers)
            row.append(payload["type"] == json.loads(m["body"])["type"])
        except WebhookVerificationError:
            row.append(False)
    result.append(row)
print(json.dumps(result))
"#;
    let input: Vec<Value> = messages
        .iter()
        .map(|m| json!({"id": m.id, "timestamp": m.timestamp, "signature": m.signature, "body": m.body}))
        .collect();
    let mut child = std::process::Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .args(secrets)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "standardwebhooks: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn standardwebhooks_verifies_every_signature_also_during_a_secret_rotation() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let receiver = Receiver::start(Mode::Ok).await;
    let (endpoint, old_secret) = register(
        &app,
        &admin,
        json!({"url": receiver.url, "tenant": "acme", "description": "booking"}),
    )
    .await;
    assert!(old_secret.starts_with("whsec_"));
    let channel_id = ready_channel(&app, &admin, "acme", "yoga").await;
    deliver_now(&app).await;
    let before = receiver.wait_for(1, Duration::from_secs(10)).await;
    let ready = before[0].json();
    assert_eq!(ready["type"], "channel.ready", "{ready}");
    assert_eq!(ready["data"]["channel_id"], channel_id.as_str());
    assert_eq!(ready["data"]["tenant"], "acme");
    assert_eq!(ready["data"]["name"], "yoga");
    assert_eq!(ready["data"]["phase"], "ready");
    assert!(ready["data"]["outputs"]["playback_url"].is_string());
    assert!(before[0].id.starts_with("msg_"));
    assert!(
        !before[0].body.contains("sk_") && !before[0].body.contains("ivsp_"),
        "no stream key or API key in a payload: {}",
        before[0].body
    );
    // The secret is never shown again.
    let shown = app
        .get(&format!("/v1/webhook-endpoints/{endpoint}"), &admin)
        .await;
    assert!(!shown.text.contains("whsec_"), "{}", shown.text);

    let rotated = app
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new_secret = rotated.json()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    let patched = app
        .patch(
            &format!("/v1/channels/{channel_id}"),
            &admin,
            &json!({"latency_mode": "NORMAL"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::ACCEPTED, "{}", patched.text);
    app.reconcile().await;
    let test = app
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/test"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(test.status, StatusCode::ACCEPTED, "{}", test.text);
    deliver_now(&app).await;
    let all = receiver.wait_for(4, Duration::from_secs(10)).await;
    let types: Vec<String> = all
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "channel.ready",
            "channel.updated",
            "channel.ready",
            "webhook.test"
        ],
        "in the order written"
    );
    let after = &all[1..];
    assert!(after.iter().all(|r| r.signature.split(' ').count() == 2));
    let checks = verified_by(
        &all,
        &[
            &old_secret,
            &new_secret,
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ],
    );
    assert_eq!(
        checks[0],
        [true, false, false],
        "before the rotation: the old secret"
    );
    for row in &checks[1..] {
        assert_eq!(
            row,
            &[true, true, false],
            "during the overlap: both secrets"
        );
    }
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_event_once_under_one_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let receiver = Receiver::start(Mode::FailFirst(2)).await;
    let (endpoint, _) = register(&app, &admin, json!({"url": receiver.url})).await;
    let stop = start_engine(&app, settings());
    for n in 0..5 {
        app.create_channel(&admin, &channel("acme", &format!("class-{n}")))
            .await;
    }
    app.reconcile().await;
    let accepted = receiver.wait_for(5, Duration::from_secs(20)).await;
    stop.cancel();
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in &accepted {
        *per_id.entry(r.id.clone()).or_default() += 1;
    }
    assert_eq!(per_id.len(), 5, "five events: {per_id:?}");
    assert!(
        per_id.values().all(|n| *n == 1),
        "each accepted once: {per_id:?}"
    );
    for id in per_id.keys() {
        let tries: Vec<u16> = receiver
            .received()
            .iter()
            .filter(|r| &r.id == id)
            .map(|r| r.status)
            .collect();
        assert_eq!(
            tries,
            [500, 500, 204],
            "the same webhook-id on every attempt"
        );
    }
    let log = app
        .get(
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries?status=delivered"),
            &admin,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let items = log.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 5);
    let attempts = items[0]["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert_eq!(attempts[0]["http_status"], 500);
    assert_eq!(attempts[2]["http_status"], 204);
    assert!(attempts[0]["duration_ms"].is_number());

    // Metrics: attempts by outcome, deliveries by outcome and type, lag, the outbox depth.
    let metrics = crate::helpers::send(app.request(reqwest::Method::GET, "/metrics")).await;
    for line in [
        r#"webhook_attempts_total{outcome="retrying"}"#,
        r#"webhook_deliveries_total{outcome="delivered",type="channel.ready"}"#,
        "webhook_delivery_lag_seconds_bucket",
        // Gauges read from this test's database at the scrape (the recorder is process-wide).
        "webhook_deliveries_pending ",
        "webhook_oldest_pending_seconds ",
        "webhook_endpoints_disabled ",
    ] {
        assert!(metrics.text.contains(line), "{line} in {}", metrics.text);
    }
}

/// A receiver that accepts connections and never answers.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (format!("http://{addr}/hooks"), task)
}

fn p95(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[((values.len() as f64 * 0.95).ceil() as usize).saturating_sub(1)]
}

#[tokio::test]
async fn a_dead_endpoint_beside_a_healthy_one_does_not_slow_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let healthy = Receiver::start(Mode::Ok).await;
    let (dead_url, _hole) = black_hole().await;
    let (dead, _) = register(&app, &admin, json!({"url": dead_url})).await;
    register(&app, &admin, json!({"url": healthy.url})).await;
    let mut s = settings();
    s.per_endpoint = 4;
    s.timeout = Duration::from_secs(5);
    let stop = start_engine(&app, s);
    let id = id_of(&app.create_channel(&admin, &channel("acme", "busy")).await);
    // 40 state changes (each PATCH writes a channel.updated event with the change).
    let events = 40;
    for n in 0..events {
        let reply = app
            .patch(
                &format!("/v1/channels/{id}"),
                &admin,
                &json!({"tags": {"Round": n.to_string()}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let got = healthy.wait_for(events, Duration::from_secs(20)).await;
    stop.cancel();
    let lags: Vec<f64> = got
        .iter()
        .map(|r| {
            let written: DateTime<Utc> = r.json()["timestamp"].as_str().unwrap().parse().unwrap();
            (r.at - written).num_milliseconds() as f64 / 1000.0
        })
        .collect();
    let p95 = p95(lags.clone());
    eprintln!("healthy endpoint beside a dead one: p95 {p95:.3} s over {events} events");
    assert!(
        p95 <= 1.0,
        "the healthy endpoint's p95 from state change to delivery is {p95:.3} s: {lags:?}"
    );
    // The dead one holds at most its 4 slots; the rest waits, pending.
    let in_flight: i64 = sqlx::query_scalar(
        "select count(*) from webhook_deliveries where endpoint_id = $1::uuid and lease_token is not null",
    )
    .bind(&dead)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(in_flight <= 4, "{in_flight} in flight to the dead endpoint");
}

#[tokio::test]
async fn an_endpoint_hears_only_its_tenant_and_other_tenants_keys_get_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let key_a = app.key(&[Scope::WebhooksManage], Some("tenant-a")).await;
    let key_b = app.key(&[Scope::WebhooksManage], Some("tenant-b")).await;
    let receiver_a = Receiver::start(Mode::Ok).await;
    let receiver_b = Receiver::start(Mode::Ok).await;
    // A tenant-bound key's endpoint is its tenant's without naming it.
    let (endpoint_a, _) = register(&app, &key_a, json!({"url": receiver_a.url})).await;
    let (endpoint_b, _) = register(
        &app,
        &key_b,
        json!({"url": receiver_b.url, "tenant": "tenant-b", "event_types": ["channel.ready"]}),
    )
    .await;
    let other = app
        .post(
            "/v1/webhook-endpoints",
            &key_b,
            &json!({"url": receiver_b.url, "tenant": "tenant-a"}),
        )
        .await;
    other.problem(StatusCode::FORBIDDEN);
    let writer = app.key(&[Scope::WebhooksManage], None).await;
    let everyone = app
        .post(
            "/v1/webhook-endpoints",
            &writer,
            &json!({"url": receiver_b.url}),
        )
        .await;
    everyone.problem(StatusCode::FORBIDDEN);

    ready_channel(&app, &admin, "tenant-a", "a1").await;
    ready_channel(&app, &admin, "tenant-b", "b1").await;
    deliver_now(&app).await;
    let got_a = receiver_a.wait_for(1, Duration::from_secs(10)).await;
    let got_b = receiver_b.wait_for(1, Duration::from_secs(10)).await;
    assert!(
        got_a
            .iter()
            .all(|r| r.json()["data"]["tenant"] == "tenant-a")
    );
    assert!(
        got_b
            .iter()
            .all(|r| r.json()["data"]["tenant"] == "tenant-b")
    );
    assert_eq!(got_a.len(), 1);
    assert_eq!(got_b.len(), 1);

    // Key b cannot read, change, rotate, test, replay or delete endpoint a, nor its deliveries.
    let a = format!("/v1/webhook-endpoints/{endpoint_a}");
    app.get(&a, &key_b).await.problem(StatusCode::NOT_FOUND);
    app.patch(&a, &key_b, &json!({"disabled": true}))
        .await
        .problem(StatusCode::NOT_FOUND);
    for action in ["rotate-secret", "test"] {
        app.post(&format!("{a}/{action}"), &key_b, &json!({}))
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    app.post(
        &format!("{a}/replay"),
        &key_b,
        &json!({"since": "2020-01-01T00:00:00Z"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    for read in ["deliveries", "events"] {
        app.get(&format!("{a}/{read}"), &key_b)
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    let log = app.get(&format!("{a}/deliveries"), &key_a).await;
    let delivery = log.json()["items"][0]["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/v1/webhook-deliveries/{delivery}/retry"),
        &key_b,
        &json!({}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.delete(&a, &key_b).await.problem(StatusCode::NOT_FOUND);
    let listed = app.get("/v1/webhook-endpoints", &key_b).await.json();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [endpoint_b.as_str()]);
    // Admin sees both; key a still has its endpoint.
    let all = app.get("/v1/webhook-endpoints", &admin).await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert_eq!(app.get(&a, &key_a).await.status, StatusCode::OK);
}

/// An app whose webhook policy is the production default: https only, public addresses only.
async fn strict_app(app: &TestApp) -> String {
    let ring = Arc::new(KeyRing::new(KeySource::Ssm(SIGNING_KEY_PARAMETER.into())));
    ring.register(&app.pool, &app.aws).await.unwrap();
    let settings = HttpSettings {
        request_timeout: Duration::from_secs(30),
        max_body_bytes: 64 * 1024,
        shutdown_grace: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(10),
        keep_alive_idle: Duration::from_secs(60),
        max_connections: 64,
        limits: LimitSettings::default(),
    };
    let state = AppState::new(
        app.pool.clone(),
        settings,
        app.aws.clone(),
        Tokens::new(ring, LIMITS),
        None,
        Duration::from_secs(3600),
    );
    let application = Application::build("127.0.0.1:0".parse().unwrap(), state)
        .await
        .unwrap();
    let address = format!("http://{}", application.local_addr());
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    address
}

#[tokio::test]
async fn private_and_metadata_addresses_are_refused_unless_allowed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let strict = strict_app(&app).await;
    let client = crate::helpers::client();
    for url in [
        "https://127.0.0.1/hooks",
        "https://10.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hooks",
        "http://hooks.example.com/plain-http",
    ] {
        let reply = crate::helpers::send(
            client
                .post(format!("{strict}/v1/webhook-endpoints"))
                .bearer_auth(&admin)
                .json(&json!({"url": url})),
        )
        .await;
        let problem = reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), ["/url"], "{url}: {problem}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("WEBHOOK_ALLOW_PRIVATE") || message.contains("WEBHOOK_ALLOW_INSECURE"),
            "{url}: the problem says how to allow it: {message}"
        );
    }
    // Resolved at send time: a name that resolves to loopback is refused after DNS.
    let receiver = Receiver::start(Mode::Ok).await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let (endpoint, _) = register(&app, &admin, json!({"url": by_name})).await;
    app.post(
        &format!("/v1/webhook-endpoints/{endpoint}/test"),
        &admin,
        &json!({}),
    )
    .await;
    let mut strict_engine = settings();
    strict_engine.policy = UrlPolicy::default();
    let ctx = webhooks::Ctx::new(app.pool.clone(), strict_engine).unwrap();
    webhooks::run_once(&ctx).await.unwrap();
    assert!(receiver.received().is_empty(), "nothing reached loopback");
    let log = app
        .get(
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
            &admin,
        )
        .await
        .json();
    let error = log["items"][0]["attempt_log"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.starts_with("refused:") && error.contains("loopback"),
        "the attempt says why: {log}"
    );
}

#[tokio::test]
async fn replay_sends_every_event_since_a_time_again_under_its_id_and_retry_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let receiver = Receiver::start(Mode::Ok).await;
    let (endpoint, _) = register(
        &app,
        &admin,
        json!({"url": receiver.url, "event_types": ["channel.ready", "channel.deleted"]}),
    )
    .await;
    let since = Utc::now();
    let id = ready_channel(&app, &admin, "acme", "replayed").await;
    let reply = app.delete(&format!("/v1/channels/{id}"), &admin).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    app.reconcile().await;
    deliver_now(&app).await;
    let first = receiver.wait_for(2, Duration::from_secs(10)).await;
    let types: Vec<&str> = first
        .iter()
        .map(|r| {
            if r.body.contains("channel.ready") {
                "ready"
            } else {
                "deleted"
            }
        })
        .collect();
    assert_eq!(types, ["ready", "deleted"], "subscribed types only");
    let reply = app
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/replay"),
            &admin,
            &json!({"since": since}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.json()["deliveries"], 2);
    deliver_now(&app).await;
    let all = receiver.wait_for(4, Duration::from_secs(10)).await;
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids[2..], ids[..2], "the same webhook-ids again");

    let log = app
        .get(
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries?limit=1"),
            &admin,
        )
        .await
        .json();
    assert!(log["next_cursor"].is_string(), "paginated: {log}");
    let delivery = log["items"][0]["id"].as_str().unwrap();
    let retried = app
        .post(
            &format!("/v1/webhook-deliveries/{delivery}/retry"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.text);
    assert_eq!(retried.json()["status"], "pending");
    deliver_now(&app).await;
    receiver.wait_for(5, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_a_spent_schedule_fails_the_delivery() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let gone = Receiver::start(Mode::Always(410)).await;
    let failing = Receiver::start(Mode::Always(500)).await;
    let (gone_id, _) = register(&app, &admin, json!({"url": gone.url})).await;
    let (failing_id, _) = register(&app, &admin, json!({"url": failing.url})).await;
    let stop = start_engine(&app, settings());
    ready_channel(&app, &admin, "acme", "c").await;
    let started = Instant::now();
    loop {
        let log = app
            .get(
                &format!("/v1/webhook-endpoints/{failing_id}/deliveries?status=failed"),
                &admin,
            )
            .await
            .json();
        if log["items"].as_array().is_some_and(|i| !i.is_empty()) {
            assert_eq!(log["items"][0]["attempts"], 5, "{log}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let endpoint = app
        .get(&format!("/v1/webhook-endpoints/{gone_id}"), &admin)
        .await
        .json();
    assert_eq!(endpoint["disabled"], true, "{endpoint}");
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{endpoint}"
    );
    assert_eq!(gone.received().len(), 1, "nothing after the 410");
    let failing_endpoint = app
        .get(&format!("/v1/webhook-endpoints/{failing_id}"), &admin)
        .await
        .json();
    assert!(failing_endpoint["failing_since"].is_string());
    assert_eq!(failing_endpoint["disabled"], false, "not yet 3 days");
}

#[tokio::test]
async fn invalid_requests_are_422_naming_every_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let reply = app
        .post(
            "/v1/webhook-endpoints",
            &admin,
            &json!({
                "url": "ftp://user:pw@example.com/",
                "description": "x".repeat(300),
                "event_types": ["channel.ready", "channel.exploded"],
                "tenant": "not a tenant!"
            }),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        ["/url", "/description", "/event_types/1", "/tenant"]
    );
    assert!(reply.text.contains("channel.exploded"), "{}", reply.text);
    let missing = app.post("/v1/webhook-endpoints", &admin, &json!({})).await;
    missing.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.error_fields(), ["/url"]);
    let long = format!("https://example.com/{}", "a".repeat(2048));
    let too_long = app
        .post("/v1/webhook-endpoints", &admin, &json!({"url": long}))
        .await;
    assert_eq!(too_long.error_fields(), ["/url"]);
    let unknown = app
        .post(
            "/v1/webhook-endpoints",
            &admin,
            &json!({"url": "https://example.com/", "secret": "mine"}),
        )
        .await;
    unknown.problem(StatusCode::BAD_REQUEST);

    let (endpoint, _) = register(&app, &admin, json!({"url": "https://example.com/h"})).await;
    let path = format!("/v1/webhook-endpoints/{endpoint}");
    let patch = app
        .patch(
            &path,
            &admin,
            &json!({"tenant": "other", "event_types": ["nope"]}),
        )
        .await;
    patch.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(patch.error_fields(), ["/tenant", "/event_types/0"]);
    let ok = app
        .patch(
            &path,
            &admin,
            &json!({"event_types": ["stream.started"], "disabled": true}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json()["event_types"], json!(["stream.started"]));
    let replay = app
        .post(&format!("{path}/replay"), &admin, &json!({}))
        .await;
    replay.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(replay.error_fields(), ["/since"]);
    let future = app
        .post(
            &format!("{path}/replay"),
            &admin,
            &json!({"since": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(future.error_fields(), ["/since"]);
    app.get("/v1/webhook-endpoints/not-a-uuid", &admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    // Scope: a channels key cannot manage webhooks.
    let reader = app.key(&[Scope::ChannelsRead], None).await;
    app.get("/v1/webhook-endpoints", &reader)
        .await
        .problem(StatusCode::FORBIDDEN);
    let types = app.get("/v1/webhook-event-types", &admin).await.json();
    let emitted: BTreeMap<String, bool> = types["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap().to_owned(),
                t["emitted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(emitted["channel.ready"], "channel.ready is emitted");
    assert!(
        emitted["stream.started"] && emitted["recording.ready"],
        "the broadcast lifecycle is emitted"
    );
    assert!(!emitted["stream.health_changed"], "health changes are not");
    assert_eq!(
        app.delete(&path, &admin).await.status,
        StatusCode::NO_CONTENT
    );
}

/// The real `worker` binary on the test's database and simulator, delivering webhooks with a
/// short lease and quick retries.
fn spawn_worker(app: &TestApp) -> crate::common::KillOnDrop {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ivs-provisioner"))
        .arg("worker")
        .env("DATABASE_URL", &app.database_url)
        .env("AWS_ENDPOINT_URL", app.sim.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("DRIFT_SWEEP_SECS", "0")
        .env("WEBHOOK_ALLOW_PRIVATE", "true")
        .env("WEBHOOK_ALLOW_INSECURE", "true")
        .env("WEBHOOK_TIMEOUT_SECS", "1")
        .env("WEBHOOK_LEASE_SECS", "2")
        .env("WEBHOOK_POLL_SECS", "1")
        .env(
            "WEBHOOK_RETRY_SCHEDULE_SECS",
            "0,0.2,0.2,0.2,0.2,0.2,0.2,0.2",
        )
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the worker binary");
    crate::common::KillOnDrop(child)
}

#[tokio::test]
async fn kill_9_between_commit_and_send_and_mid_send_loses_nothing_and_two_workers_never_overlap() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    // Each answer takes 300 ms, so a kill lands while attempts are in flight.
    let receiver = Receiver::start(Mode::Slow(300)).await;
    // The changes only: the workers' reconciler also makes the channel ready meanwhile.
    register(
        &app,
        &admin,
        json!({"url": receiver.url, "event_types": ["channel.updated"]}),
    )
    .await;
    let id = id_of(&app.create_channel(&admin, &channel("acme", "killed")).await);
    let patch = |n: usize| {
        let path = format!("/v1/channels/{id}");
        let app = &app;
        let admin = &admin;
        async move {
            let body = json!({"tags": {"Round": n.to_string()}});
            let reply = app.patch(&path, admin, &body).await;
            assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        }
    };
    let mut worker = spawn_worker(&app);
    for n in 0..10 {
        patch(n).await;
    }
    // Wait until attempts are in flight, then SIGKILL mid-send.
    let started = Instant::now();
    while receiver.received().is_empty() && started.elapsed() < Duration::from_secs(20) {
        let in_flight: i64 = sqlx::query_scalar(
            "select count(*) from webhook_deliveries where lease_token is not null",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if in_flight > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.kill().expect("SIGKILL the worker");
    worker.wait().unwrap();
    let leased_at_kill: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries where lease_token is not null")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        leased_at_kill > 0,
        "the kill landed while attempts were in flight"
    );
    // Committed while no worker runs: sent by the next ones.
    for n in 10..20 {
        patch(n).await;
    }
    // Two replicas from here on.
    let _a = spawn_worker(&app);
    let _b = spawn_worker(&app);
    let started = Instant::now();
    loop {
        let delivered: i64 = sqlx::query_scalar(
            "select count(*) from webhook_deliveries where status = 'delivered'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if delivered == 20 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{delivered} of 20 delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = receiver.received();
    let mut by_id: BTreeMap<String, Vec<&Received>> = BTreeMap::new();
    for r in &received {
        by_id.entry(r.id.clone()).or_default().push(r);
    }
    assert_eq!(by_id.len(), 20, "every event arrived");
    for (id, tries) in &by_id {
        for pair in tries.windows(2) {
            assert!(
                pair[1].began >= pair[0].at,
                "two attempts of {id} overlapped: {pair:#?}"
            );
        }
    }
    let again = received.len() - by_id.len();
    assert!(
        again as i64 <= leased_at_kill,
        "only deliveries in flight at the kill ({leased_at_kill}) may arrive twice; {again} did"
    );
    eprintln!("in flight at the kill: {leased_at_kill}; arrived twice: {again}");
}

/// The reconciler's context on the test app (its drift sweep is run by hand).
fn reconciler_ctx(app: &TestApp) -> ivs_provisioner::reconciler::Ctx {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        reconciler: ivs_provisioner::reconciler::ReconcilerArgs,
    }
    let defaults = <Defaults as clap::Parser>::parse_from(["test"]);
    ivs_provisioner::reconciler::Ctx::new(
        app.pool.clone(),
        app.aws.clone(),
        ivs_provisioner::reconciler::Settings::from(&defaults.reconciler),
        ivs_provisioner::cli::wiring::managed_key(app.pool.clone(), app.aws.clone()),
    )
}

#[tokio::test]
async fn every_emitted_channel_type_reaches_the_endpoint_with_the_channel_facts() {
    let mut sim = aws_sim::SimConfig::for_tests();
    sim.foreign_buckets = vec!["bucket-in-eu".into()];
    let app = TestApp::spawn_configured(LIMITS, LimitSettings::default(), sim).await;
    let admin = app.admin_key().await;
    let receiver = Receiver::start(Mode::Ok).await;
    register(&app, &admin, json!({"url": receiver.url})).await;
    let id = ready_channel(&app, &admin, "acme", "every").await;
    let rotate = app
        .post(
            &format!("/v1/channels/{id}/stream-key/rotate"),
            &admin,
            &json!({}),
        )
        .await;
    assert!(rotate.status.is_success(), "{}", rotate.text);
    app.reconcile().await;
    // Deleted behind the service's back: the drift sweep finds it (and the reconciler recreates it).
    let arn = app.get(&format!("/v1/channels/{id}"), &admin).await.json()["status"]["outputs"]
        ["channel_arn"]
        .as_str()
        .unwrap()
        .to_owned();
    app.raw_ivs()
        .await
        .delete_channel()
        .arn(&arn)
        .send()
        .await
        .unwrap();
    ivs_provisioner::reconciler::drift::sweep(&reconciler_ctx(&app))
        .await
        .expect("a drift sweep");
    app.reconcile().await;
    app.delete(&format!("/v1/channels/{id}"), &admin).await;
    app.reconcile().await;
    let failed = app
        .create_channel(
            &admin,
            &json!({"tenant": "acme", "name": "nobucket", "recording": {"s3_bucket_name": "bucket-in-eu"}}),
        )
        .await;
    app.reconcile().await;
    deliver_now(&app).await;
    let got = receiver.wait_for(7, Duration::from_secs(10)).await;
    let types: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "channel.ready",
        "stream_key.rotated",
        "channel.drift_detected",
        "channel.deleted",
        "channel.failed",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} in {types:?}"
        );
    }
    let body = |kind: &str| {
        got.iter()
            .map(Received::json)
            .find(|b| b["type"] == kind)
            .unwrap()
    };
    let fail = body("channel.failed");
    assert_eq!(fail["data"]["channel_id"], id_of(&failed).as_str());
    assert_eq!(fail["data"]["phase"], "failed");
    assert_eq!(fail["data"]["code"], "RecordingConfigurationCreateFailed");
    assert_eq!(body("channel.deleted")["data"]["phase"], "deleted");
    assert_eq!(
        body("channel.drift_detected")["data"]["kind"],
        "deleted_out_of_band"
    );
    for r in &got {
        assert!(!r.body.contains("\"stream_key\""), "{}", r.body);
    }
}

#[tokio::test]
async fn an_endpoint_failing_everything_long_enough_is_disabled_and_old_deliveries_are_pruned() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let failing = Receiver::start(Mode::Always(500)).await;
    let (endpoint, _) = register(&app, &admin, json!({"url": failing.url})).await;
    let mut s = settings();
    // The 3-day rule, shortened: failing for 1 s disables it.
    s.disable_after = Duration::from_secs(1);
    s.schedule = [0.0, 1.5, 1.5].map(Duration::from_secs_f64).to_vec();
    let stop = start_engine(&app, s);
    ready_channel(&app, &admin, "acme", "down").await;
    let path = format!("/v1/webhook-endpoints/{endpoint}");
    let started = Instant::now();
    let disabled = loop {
        let body = app.get(&path, &admin).await.json();
        if body["disabled"] == true {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.cancel();
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("every delivery failed"),
        "{disabled}"
    );
    let trail = app.get(&format!("{path}/events"), &admin).await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.text);
    let trail = trail.json();
    let kinds: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "disabled"], "{trail}");
    assert_eq!(trail["items"][1]["actor"], "webhook-delivery");
    let metrics = crate::helpers::send(app.request(reqwest::Method::GET, "/metrics")).await;
    assert!(
        metrics
            .text
            .contains(r#"webhook_endpoints_disabled_total{reason="failing"}"#),
        "{}",
        metrics.text
    );
    // Retention: finished deliveries older than it go, with their events; pending ones stay.
    sqlx::query(
        "update webhook_deliveries set status = 'failed', created_at = now() - interval '31 days'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("update webhook_events set created_at = now() - interval '31 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    let retention = Duration::from_secs(30 * 86_400);
    let pruned = ivs_provisioner::db::webhooks::prune(&app.pool, retention, 500)
        .await
        .unwrap();
    assert_eq!(pruned, 2, "one delivery and its event");
    let left: i64 = sqlx::query_scalar("select count(*) from webhook_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_documented_request_limits_are_the_validated_ones() {
    use ivs_provisioner::api::webhooks::{MAX_DESCRIPTION_CHARS, MAX_EVENT_TYPES};
    use ivs_provisioner::domain::webhook::MAX_URL_CHARS;
    let doc: Value = serde_json::from_str(&ivs_provisioner::api::openapi_json()).unwrap();
    let request = &doc["components"]["schemas"]["WebhookEndpointRequest"]["properties"];
    assert_eq!(request["url"]["maxLength"], MAX_URL_CHARS);
    assert_eq!(request["description"]["maxLength"], MAX_DESCRIPTION_CHARS);
    assert_eq!(request["event_types"]["maxItems"], MAX_EVENT_TYPES);
    let tenant = ivs_provisioner::domain::channel::MAX_TENANT_CHARS;
    assert_eq!(request["tenant"]["maxLength"], tenant);
}
