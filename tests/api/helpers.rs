//! The test harness: a fresh database per test, the real application on port 0, and typed
//! helpers to call it over HTTP. Every test module builds on [`TestApp::spawn`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sim::{RunningSim, SimConfig};
use ivs_provisioner::api::error::PROBLEM_JSON;
use ivs_provisioner::api::limits::LimitSettings;
use ivs_provisioner::api::{AppState, Application, HttpSettings};
use ivs_provisioner::aws::{Aws, RateSettings};
use ivs_provisioner::cli::wiring;
use ivs_provisioner::console;
use ivs_provisioner::db;
use ivs_provisioner::domain::api_key::{self, Scope};
use ivs_provisioner::playback_keys::Tokens;
use ivs_provisioner::playback_keys::{KeyRing, KeySource, source};
use ivs_provisioner::reconciler::{self, Ctx, Settings};
use ivs_provisioner::tokens::TokenLimits;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::oneshot;

use crate::common::TestDatabase;

/// The body limit the test app runs with.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The committed OpenAPI document.
pub const OPENAPI_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

/// The SSM parameter holding the test app's managed signing key (in its simulator).
pub const SIGNING_KEY_PARAMETER: &str = "/test/playback-signing-key";

/// Token limits of the test app unless a test asks for others.
pub const LIMITS: TokenLimits = TokenLimits {
    default_ttl_secs: 300,
    max_ttl_secs: 3600,
};

/// A running application on its own, freshly migrated database, with its own AWS simulator
/// and a managed signing key in the simulator's SSM.
pub struct TestApp {
    pub sim: RunningSim,
    pub aws: Aws,
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub pool: PgPool,
    /// The URL of this test's database (for the CLI tests).
    pub database_url: String,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    keys: AtomicUsize,
    /// Last, so that it is dropped after every other field: the database goes once the rest of
    /// the app (simulator, client) is gone.
    _database: TestDatabase,
}

impl TestApp {
    /// Creates `ivsp_test_<uuid>`, migrates it and serves the application on port 0; the
    /// database is dropped with the app.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(LIMITS).await
    }

    /// [`TestApp::spawn`] with other token limits (a short maximum TTL for rotation tests).
    pub async fn spawn_with(limits: TokenLimits) -> TestApp {
        Self::spawn_configured(limits, LimitSettings::default(), SimConfig::for_tests()).await
    }

    /// [`TestApp::spawn`] with other tenant limits (budgets, account quota) and simulator.
    pub async fn spawn_configured(
        limits: TokenLimits,
        tenant_limits: LimitSettings,
        sim: SimConfig,
    ) -> TestApp {
        Self::spawn_paced(limits, tenant_limits, sim, RateSettings::unlimited()).await
    }

    /// [`TestApp::spawn`] whose AWS calls (the API's and the reconciler's) are paced at `rates`.
    pub async fn spawn_with_rates(rates: RateSettings) -> TestApp {
        let sim = SimConfig::for_tests();
        Self::spawn_paced(LIMITS, LimitSettings::default(), sim, rates).await
    }

    async fn spawn_paced(
        limits: TokenLimits,
        tenant_limits: LimitSettings,
        sim: SimConfig,
        rates: RateSettings,
    ) -> TestApp {
        let database = TestDatabase::new(
            PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10)),
        )
        .await;
        let pool = database.pool.clone();
        let database_url = database.url.clone();
        let sim = aws_sim::spawn(sim).await.expect("start the AWS simulator");
        let aws = Aws::for_local_endpoint(&sim.endpoint(), "us-east-1", &rates).await;
        source::store_new(&aws, SIGNING_KEY_PARAMETER, false)
            .await
            .expect("store a signing key in SSM");
        let ring = Arc::new(KeyRing::new(KeySource::Ssm(SIGNING_KEY_PARAMETER.into())));
        ring.register(&pool, &aws)
            .await
            .expect("register the signing key");
        let tokens = Tokens::new(ring, limits);
        let (address, shutdown) =
            serve_with(pool.clone(), aws.clone(), tokens, tenant_limits).await;
        TestApp {
            sim,
            aws,
            address,
            pool,
            database_url,
            client: client(),
            shutdown: Some(shutdown),
            keys: AtomicUsize::new(0),
            _database: database,
        }
    }

    /// Raw SDK config on the test's simulator, for changes made behind the service's back.
    pub async fn raw_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.sim.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ivs::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .load()
            .await
    }

    pub async fn raw_ivs(&self) -> aws_sdk_ivs::Client {
        aws_sdk_ivs::Client::new(&self.raw_config().await)
    }

    pub async fn raw_ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.raw_config().await)
    }

    /// Runs the reconciler until no channel needs work (retries made due at once).
    pub async fn reconcile(&self) {
        let managed_key = wiring::managed_key(self.pool.clone(), self.aws.clone());
        let ctx = Ctx::new(
            self.pool.clone(),
            self.aws.clone(),
            reconciler_settings(),
            managed_key,
        );
        for _ in 0..30 {
            reconciler::run_once(&ctx).await.expect("a reconciler pass");
            let waiting: i64 = sqlx::query_scalar(
                "select count(*) from channels where phase in ('pending', 'provisioning', 'updating', 'deleting')",
            )
            .fetch_one(&self.pool)
            .await
            .expect("count waiting channels");
            if waiting == 0 {
                return;
            }
            sqlx::query("update channels set next_attempt_at = now() where phase <> 'failed'")
                .execute(&self.pool)
                .await
                .expect("make retries due");
        }
        panic!("the reconciler did not settle");
    }

    /// Creates an API key named `name` and returns its secret.
    pub async fn named_key(&self, name: &str, scopes: &[Scope], tenant: Option<&str>) -> String {
        let key = api_key::generate_key();
        let scopes: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
        db::api_keys::insert(
            &self.pool,
            db::api_keys::NewApiKey {
                name,
                hash: &key.hash,
                prefix: &key.prefix,
                scopes: &scopes,
                tenant,
            },
        )
        .await
        .expect("insert an API key")
        .expect("the key name is free");
        key.secret
    }

    /// Creates an API key with a generated name and returns its secret.
    pub async fn key(&self, scopes: &[Scope], tenant: Option<&str>) -> String {
        let n = self.keys.fetch_add(1, Ordering::Relaxed);
        self.named_key(&format!("key-{n}"), scopes, tenant).await
    }

    /// An admin key, the usual caller of tests that are not about access.
    pub async fn admin_key(&self) -> String {
        self.key(&[Scope::Admin], None).await
    }

    /// A request to `path` with no credentials, for tests that shape it themselves.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        send(self.request(Method::GET, path).bearer_auth(key)).await
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Reply {
        send(self.request(Method::POST, path).bearer_auth(key).json(body)).await
    }

    /// A JSON merge patch (`application/merge-patch+json`).
    pub async fn patch(&self, path: &str, key: &str, body: &Value) -> Reply {
        let body = serde_json::to_vec(body).expect("serialize the patch");
        send(
            self.request(Method::PATCH, path)
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/merge-patch+json")
                .body(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Reply {
        send(self.request(Method::DELETE, path).bearer_auth(key)).await
    }

    /// Declares a channel and returns it, asserting the 202.
    pub async fn create_channel(&self, key: &str, body: &Value) -> Value {
        let reply = self.post("/v1/channels", key, body).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        reply.json()
    }

    /// The events of a channel, every page, in order.
    pub async fn events(&self, key: &str, id: &str) -> Vec<Value> {
        let reply = self.get(&format!("/v1/channels/{id}/events"), key).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Follows `next_cursor` from `path?query` to the end; returns each page's items.
    pub async fn pages(&self, key: &str, path: &str, query: &str) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut url = format!("{path}?{query}");
        loop {
            let reply = self.get(&url, key).await;
            assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.text);
            let body = reply.json();
            pages.push(body["items"].as_array().cloned().expect("items"));
            match body["next_cursor"].as_str() {
                Some(cursor) => url = format!("{path}?{query}&cursor={cursor}"),
                None => return pages,
            }
        }
    }

    /// Marks a channel deleted, as the reconciler does once IVS has let go of it.
    pub async fn mark_deleted(&self, id: &str) {
        sqlx::query(
            "update channels set phase = 'deleted', deleted_at = now() where id = $1::uuid",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .expect("mark a channel deleted");
    }

    /// How many channel rows the database holds for (tenant, name), deleted ones included.
    pub async fn channel_rows(&self, tenant: &str, name: &str) -> i64 {
        sqlx::query_scalar("select count(*) from channels where tenant = $1 and name = $2")
            .bind(tenant)
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .expect("count channels")
    }
}

impl Drop for TestApp {
    /// Stops the server. The fields are dropped after this returns, `_database` last, which drops
    /// the database and waits for that (see `common::drop_database`), failing tests included
    /// (`IVSP_KEEP_FAILED_TEST_DATABASES` keeps theirs for inspection). The server and the
    /// state's background tasks (cache listener, key refresher) still hold pool clones, but they
    /// are not polled again on a current-thread runtime; on a multi-thread one a task may see its
    /// connection end (`with (force)`), which it only logs. Either way the runtime cancels them
    /// as soon as the test returns.
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Serves the application on 127.0.0.1:0 with `pool`; returns its address and the switch that
/// stops it.
/// The reconciler's default settings (from its command-line defaults), with quick retries.
fn reconciler_settings() -> Settings {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        reconciler: reconciler::ReconcilerArgs,
    }
    let defaults = <Defaults as clap::Parser>::parse_from(["test"]);
    let mut settings = Settings::from(&defaults.reconciler);
    settings.max_backoff = Duration::from_secs(1);
    settings.recording_wait = Duration::from_secs(5);
    settings
}

/// Managed keys are maintained by the tests themselves (`lifecycle::maintain`), not by a timer.
pub async fn serve(pool: PgPool, aws: Aws, tokens: Arc<Tokens>) -> (String, oneshot::Sender<()>) {
    serve_with(pool, aws, tokens, LimitSettings::default()).await
}

/// [`serve`] with these tenant limits (the production defaults unless a test says otherwise).
pub async fn serve_with(
    pool: PgPool,
    aws: Aws,
    tokens: Arc<Tokens>,
    limits: LimitSettings,
) -> (String, oneshot::Sender<()>) {
    let settings = HttpSettings {
        request_timeout: Duration::from_secs(30),
        max_body_bytes: MAX_BODY_BYTES,
        shutdown_grace: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(10),
        keep_alive_idle: Duration::from_secs(60),
        max_connections: 1024,
        limits,
    };
    // Webhook tests run their receivers on 127.0.0.1 over http (tests/api/webhooks.rs builds a
    // strict app of its own for the refusals).
    // The console beside the API, as `serve` wires it.
    let console = console::router(console::ConsoleState::new(
        pool.clone(),
        aws.clone(),
        tokens.clone(),
        console::ConsoleSettings::default(),
    ));
    let state = AppState::new(pool, settings, aws, tokens, None, Duration::from_secs(3600))
        .with_webhook_policy(ivs_provisioner::domain::webhook::UrlPolicy::PERMISSIVE);
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("a socket address");
    let application = Application::build_with(bind, state, console)
        .await
        .expect("bind the test server");
    let address = format!("http://{}", application.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    (address, stop)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

pub async fn send(request: RequestBuilder) -> Reply {
    let response = request.send().await.expect("the request reaches the app");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("read the response body");
    Reply {
        status,
        headers,
        text,
    }
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an `application/problem+json` response with this status and returns its body.
    pub fn problem(&self, status: StatusCode) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some(PROBLEM_JSON),
            "errors are problem documents; body: {}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], status.as_u16(), "{body}");
        assert!(
            body["type"].is_string() && body["title"].is_string(),
            "{body}"
        );
        body
    }

    /// The `field` of each entry of a problem's `errors`, in order.
    pub fn error_fields(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A minimal valid channel request.
pub fn channel(tenant: &str, name: &str) -> Value {
    json!({ "tenant": tenant, "name": name })
}

/// A channel request using most fields, for round-trip checks.
pub fn full_channel(tenant: &str, name: &str) -> Value {
    json!({
        "tenant": tenant,
        "name": name,
        "type": "ADVANCED_HD",
        "preset": "CONSTRAINED_BANDWIDTH_DELIVERY",
        "latency_mode": "NORMAL",
        "authorized": true,
        "insecure_ingest": false,
        "playback_public_key_pem": P384_PUBLIC_PEM,
        "recording": {
            "s3_bucket_name": "acme-class-recordings",
            "thumbnail_recording_mode": "INTERVAL",
            "thumbnail_target_interval_seconds": 30,
            "reconnect_window_seconds": 120
        },
        "tags": { "Environment": "test" },
        "delete_after": "2999-01-01T00:00:00Z"
    })
}

/// `base` with the top-level fields of `overrides` merged in (a JSON merge patch).
pub fn merged(base: &Value, overrides: &Value) -> Value {
    let mut out = base.clone();
    json_merge(&mut out, overrides);
    out
}

fn json_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    json_merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

pub const P384_PUBLIC_PEM: &str = include_str!("../fixtures/p384-public.pem");
pub const P256_PUBLIC_PEM: &str = include_str!("../fixtures/p256-public.pem");
pub const RSA_PUBLIC_PEM: &str = include_str!("../fixtures/rsa-public.pem");

/// The `id` of a channel document.
pub fn id_of(channel: &Value) -> String {
    channel["id"]
        .as_str()
        .expect("a channel has an id")
        .to_owned()
}
