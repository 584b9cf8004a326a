//! Shared test helpers: a spawned simulator, SDK clients pointed at any endpoint, and a moto
//! server started from the project's virtualenv.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ivs::config::retry::RetryConfig;
use aws_sdk_ivs::config::{BehaviorVersion, Credentials, Region};
use aws_sim::{RunningSim, SimConfig};

pub const REGION: &str = "us-east-1";

/// Retries as in production (3 attempts) but with millisecond backoff, so tests stay fast.
pub fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

pub fn ivs_client(endpoint: &str, retry: RetryConfig) -> aws_sdk_ivs::Client {
    let config = aws_sdk_ivs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(retry)
        .build();
    aws_sdk_ivs::Client::from_conf(config)
}

pub fn ssm_client(endpoint: &str, retry: RetryConfig) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(retry)
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(fast_retries())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

pub fn events_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(fast_retries())
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

/// S3 path-style (`/bucket/key`), as the simulator and moto serve it on one host.
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .retry_config(fast_retries())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The queue policy EventBridge needs to deliver to `queue_arn` (any rule of the account).
pub fn events_queue_policy(queue_arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "events",
            "Effect": "Allow",
            "Principal": { "Service": "events.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        }],
    })
    .to_string()
}

/// A running simulator and clients for it.
pub struct Sim {
    pub running: RunningSim,
    pub ivs: aws_sdk_ivs::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Sim {
    pub async fn start(config: SimConfig) -> Self {
        let running = aws_sim::spawn(config).await.expect("simulator starts");
        let endpoint = running.endpoint();
        Self {
            ivs: ivs_client(&endpoint, fast_retries()),
            ssm: ssm_client(&endpoint, fast_retries()),
            running,
        }
    }

    pub async fn for_tests() -> Self {
        Self::start(SimConfig::for_tests()).await
    }

    pub fn sim(&self) -> &aws_sim::Simulator {
        &self.running.simulator
    }

    pub fn endpoint(&self) -> String {
        self.running.endpoint()
    }
}

/// The error code the SDK parsed (`ProvideErrorMetadata::code`), for any SDK error.
pub fn code<E, R>(err: &aws_sdk_ivs::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_ivs::error::ProvideErrorMetadata,
{
    match err {
        aws_sdk_ivs::error::SdkError::ServiceError(service) => {
            service.err().code().map(str::to_owned)
        }
        _ => None,
    }
}

/// The HTTP status of a service error.
pub fn status<E>(
    err: &aws_sdk_ivs::error::SdkError<E, aws_sdk_ivs::config::http::HttpResponse>,
) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project's test virtualenv (`IVS_TEST_VENV`, default `<repo>/.venv`).
pub fn venv() -> PathBuf {
    std::env::var_os("IVS_TEST_VENV").map_or_else(|| repo_root().join(".venv"), PathBuf::from)
}

pub fn venv_bin(name: &str) -> PathBuf {
    let path = venv().join("bin").join(name);
    assert!(
        path.exists(),
        "{} not found: the moto/boto3 tests need the project's virtualenv. Run scripts/test.sh (it creates .venv from \
         scripts/requirements-test.txt) or set IVS_TEST_VENV to a venv with moto[server]==5.2.5.",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A moto server child process, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "moto_server failed to start ({err}); run scripts/test.sh to create the venv"
                )
            });
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_ready().await;
        moto
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let probe = http
                .get(format!("{}/moto-api/", self.endpoint))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "moto_server did not answer GET /moto-api/ within 30 s; run scripts/test.sh to (re)create the venv"
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
