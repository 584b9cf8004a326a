//! The command line: every subcommand and setting. Each option is also an environment variable,
//! shown in `--help`, so containers and scripts configure the service the same way.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

use crate::api::limits::LimitArgs;
use crate::console::ConsoleArgs;
use crate::db::DatabaseArgs;
use crate::domain::api_key::Scope;
use crate::events::EventArgs;
use crate::events::sweep::SweepArgs;
use crate::playback_keys::TokenArgs;
use crate::reconciler::ReconcilerArgs;
pub use crate::telemetry::{LogArgs, LogFormat};
use crate::webhooks::WebhookArgs;

pub mod commands;
mod dev;
pub mod wiring;

#[derive(Debug, Parser)]
#[command(
    name = "ivs-provisioner",
    version,
    about = "Provisions Amazon IVS channels for booking systems"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations (unless --skip-migrations) and serve the API.
    Serve(ServeArgs),
    /// For a newcomer: create the database if missing, migrate, start the embedded AWS simulator,
    /// print an admin key and examples, serve.
    Dev(DevArgs),
    /// Run only the reconciler (no API), e.g. as extra replicas for scaling out.
    Worker(WorkerArgs),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Create, list and rotate the managed playback signing key.
    #[command(subcommand)]
    PlaybackKey(PlaybackKeyCommand),
    /// Route IVS's events to the service (EventBridge rule → SQS queue).
    #[command(subcommand)]
    Events(EventsCommand),
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Create the SQS queue, its policy for EventBridge, the rule matching IVS's channel events
    /// and its target, or leave them as they are when they are already right; prints the queue
    /// URL on the last line (set it as IVS_EVENTS_QUEUE_URL). Uses the AWS environment (region,
    /// credentials, AWS_ENDPOINT_URL).
    Setup {
        /// The queue's name.
        #[arg(long)]
        queue_name: String,
        /// The EventBridge rule's name (on the default bus).
        #[arg(long, default_value = crate::domain::event_routing::DEFAULT_RULE_NAME)]
        rule_name: String,
    },
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long = "bind", env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Do not run migrations at start-up (run `ivs-provisioner migrate` separately).
    #[arg(long, env = "SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
    /// Seconds a request may take before it is answered with 503.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_body_bytes: u32,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
    /// Seconds a connection may take to send a complete request head (from connecting, or from
    /// the first byte of a later request); slower connections are closed.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_header_read_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit idle between requests (or stall while its response
    /// is written) before it is closed. Keep it above a load balancer's idle timeout (ALB: 60 s),
    /// so the balancer, not the service, closes idle connections and never reuses a closing one.
    #[arg(long, env = "HTTP_KEEP_ALIVE_IDLE_SECS", default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_keep_alive_idle_secs: u64,
    /// Most HTTP connections open at once; further clients wait in the listen backlog. Lowered at
    /// start-up to leave 128 of the open-files limit for Postgres, AWS and the process.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub http_max_connections: u32,
    /// Serve the API without running reconciler workers in this process.
    #[arg(long, env = "RECONCILER_DISABLED")]
    pub no_reconciler: bool,
    #[command(flatten)]
    pub reconciler: ReconcilerArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub events: EventArgs,
    #[command(flatten)]
    pub sweep: SweepArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DevArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Use this AWS endpoint (an external `aws-sim` or moto) instead of the embedded simulator.
    #[arg(long, env = "DEV_AWS_ENDPOINT")]
    pub aws_endpoint: Option<String>,
    /// Lift the embedded simulator's IVS/SSM rate limits and the client's own (fast local runs).
    #[arg(long, env = "DEV_UNLIMITED_RATES")]
    pub unlimited_rates: bool,
}

#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Seconds to let reconcile steps finish after SIGTERM/SIGINT.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
    #[command(flatten)]
    pub reconciler: ReconcilerArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub events: EventArgs,
    #[command(flatten)]
    pub sweep: SweepArgs,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key; the key alone is printed on the last line of stdout.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// A unique name for the key (shown in the audit trail).
        #[arg(long)]
        name: String,
        /// A scope to grant; repeat for several.
        #[arg(long = "scope", required = true, value_enum)]
        scopes: Vec<Scope>,
        /// Bind the key to one tenant: it then sees and touches only that tenant's channels.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke the active key with this name; it stops working at once.
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlaybackKeyCommand {
    /// Generate a P-384 signing key and store it in a new SSM SecureString parameter (refused if
    /// the parameter exists). Prints only its fingerprint and public key. Uses the AWS
    /// environment (region, credentials, AWS_ENDPOINT_URL).
    Init {
        /// The SSM parameter name, e.g. /ivs-provisioner/playback-signing-key.
        #[arg(long, env = "PLAYBACK_SIGNING_KEY_SSM_PARAMETER")]
        ssm_parameter: String,
    },
    /// List the playback keys the service knows (public halves only).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Rotate the managed signing key now (as `POST /v1/playback-keys/rotate`).
    Rotate {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        tokens: TokenArgs,
    },
}

impl From<&ServeArgs> for crate::api::HttpSettings {
    fn from(args: &ServeArgs) -> Self {
        crate::api::HttpSettings {
            request_timeout: std::time::Duration::from_secs(args.request_timeout_secs),
            max_body_bytes: args.max_body_bytes as usize,
            shutdown_grace: std::time::Duration::from_secs(args.shutdown_grace_secs),
            header_read_timeout: std::time::Duration::from_secs(args.http_header_read_timeout_secs),
            keep_alive_idle: std::time::Duration::from_secs(args.http_keep_alive_idle_secs),
            max_connections: args.http_max_connections as usize,
            limits: args.limits.settings(),
        }
    }
}
