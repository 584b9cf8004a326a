//! What each subcommand does: serve, worker, migrate, openapi, api-key and playback-key
//! management, events setup. Dev mode has a module of its own.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use super::{
    ApiKeyCommand, Command, EventsCommand, PlaybackKeyCommand, ServeArgs, WorkerArgs, dev, wiring,
};
use crate::api::{AppState, Application, HttpSettings, shutdown_signal};
use crate::aws::{self, Aws};
use crate::console;
use crate::db;
use crate::domain::api_key::{Scope, generate_key};
use crate::domain::rules;
use crate::events;
use crate::playback_keys::{KeyRing, Tokens, lifecycle, source};
use crate::reconciler;
use crate::webhooks;

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args, None, None).await,
        Command::Dev(args) => dev::run(args).await,
        Command::Worker(args) => worker(args).await,
        Command::Migrate(database) => {
            let pool = db::connect(&database).await?;
            db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => {
            print!("{}", crate::api::openapi_json());
            Ok(())
        }
        Command::ApiKey(command) => api_key(command).await,
        Command::PlaybackKey(command) => playback_key(command).await,
        Command::Events(command) => events_command(command).await,
    }
}

/// Serves the API; `on_ready` runs once the listener is bound (dev mode prints its guide there).
/// `aws` overrides the SDK's environment (dev mode's simulator).
pub(super) async fn serve(
    args: ServeArgs,
    aws: Option<Aws>,
    on_ready: Option<Box<dyn FnOnce(std::net::SocketAddr) + Send>>,
) -> anyhow::Result<()> {
    args.tokens.check()?;
    args.limits.check()?;
    args.webhooks.check()?;
    let concurrency = (!args.no_reconciler).then_some(args.reconciler.reconciler_concurrency);
    args.database.check_pool(true, concurrency)?;
    let pool = db::connect(&args.database).await?;
    if !args.skip_migrations {
        db::migrate(&pool).await?;
    }
    let aws = match aws {
        Some(aws) => aws,
        None => api_aws(&args).await?,
    };
    let ring = Arc::new(KeyRing::new(args.tokens.source()?));
    ring.register(&pool, &aws)
        .await
        .context("loading the playback signing key")?;
    let tokens = Tokens::new(ring, args.tokens.limits());
    let console = console_routes(&args, &pool, &aws, &tokens);
    // Where the reconciler runs, the managed keys are maintained in IVS too.
    let maintain_keys = (!args.no_reconciler).then(|| args.tokens.max_ttl());
    let state = AppState::new(
        pool.clone(),
        HttpSettings::from(&args),
        aws.for_requests(),
        tokens,
        maintain_keys,
        args.tokens.key_check(),
    )
    .with_webhook_policy(args.webhooks.policy());
    let app = Application::build_with(args.bind, state, console).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, "serving the API");
    let stop = CancellationToken::new();
    let workers = if args.no_reconciler {
        None
    } else {
        let ctx = reconciler_ctx(&pool, &aws, &args.reconciler);
        Some(tokio::spawn(reconciler::run(ctx, stop.clone())))
    };
    let deliveries = start_webhooks(&pool, &args.webhooks, &stop)?;
    let intake = start_events(&pool, &aws, &args.events, &stop);
    start_sweep(&pool, &aws, &args.sweep, &stop);
    if let Some(on_ready) = on_ready {
        on_ready(addr);
    }
    let served = app.run_until_stopped(shutdown_signal()).await;
    stop.cancel();
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let started = std::time::Instant::now();
    if let Some(workers) = workers {
        finish_within(workers, grace).await;
    }
    if let Some(deliveries) = deliveries {
        finish_within(deliveries, grace.saturating_sub(started.elapsed())).await;
    }
    if let Some(intake) = intake {
        finish_within(intake, grace.saturating_sub(started.elapsed())).await;
    }
    served
}

/// The operator console's routes (none when `CONSOLE_DISABLED`), served beside the API.
fn console_routes(
    args: &ServeArgs,
    pool: &sqlx::PgPool,
    aws: &Aws,
    tokens: &Arc<Tokens>,
) -> axum::Router<AppState> {
    if args.console.console_disabled {
        return axum::Router::new();
    }
    let settings = console::ConsoleSettings::from(&args.console);
    let state =
        console::ConsoleState::new(pool.clone(), aws.for_requests(), tokens.clone(), settings);
    console::router(state)
}

/// The IVS event intake, when a queue is configured.
fn start_events(
    pool: &sqlx::PgPool,
    aws: &Aws,
    args: &events::EventArgs,
    stop: &CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let settings = args.settings()?;
    let ctx = events::Ctx {
        pool: pool.clone(),
        aws: aws.clone(),
        settings,
    };
    Some(tokio::spawn(events::run(ctx, stop.clone())))
}

/// The gap-filling sweep of sessions and recordings, with or without intake; it ends with `stop`.
fn start_sweep(
    pool: &sqlx::PgPool,
    aws: &Aws,
    args: &events::sweep::SweepArgs,
    stop: &CancellationToken,
) {
    let ctx = args.ctx(pool.clone(), aws.clone());
    tokio::spawn(events::sweep::run_periodically(
        ctx,
        args.interval(),
        stop.clone(),
    ));
}

async fn events_command(command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::Setup {
            queue_name,
            rule_name,
        } => {
            let aws = Aws::from_env(
                &aws::RateSettings::default(),
                &aws::TimeoutSettings::default(),
            )
            .await?;
            let report = events::setup(&aws, &queue_name, &rule_name).await?;
            if report.changed.is_empty() {
                println!("already set up: nothing changed");
            } else {
                println!("set up: {}", report.changed.join(", "));
            }
            println!("rule:  {}", report.rule_arn);
            println!("queue: {}", report.queue_arn);
            println!("start the service with IVS_EVENTS_QUEUE_URL set to the queue URL:");
            println!("{}", report.queue_url);
        }
    }
    Ok(())
}

/// Webhook delivery workers, unless this process is told not to run them.
fn start_webhooks(
    pool: &sqlx::PgPool,
    args: &webhooks::WebhookArgs,
    stop: &CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if args.webhook_delivery_disabled {
        return Ok(None);
    }
    let ctx = webhooks::Ctx::new(pool.clone(), webhooks::Settings::from(args))?;
    Ok(Some(tokio::spawn(webhooks::run(ctx, stop.clone()))))
}

/// Lets the reconciler (or webhook delivery) finish its current steps, but never longer than
/// the grace period: a step stuck on a silent AWS call must not keep the process from exiting.
async fn finish_within(workers: tokio::task::JoinHandle<()>, grace: Duration) {
    if tokio::time::timeout(grace, workers).await.is_err() {
        tracing::warn!(
            ?grace,
            "reconciler steps still running at the end of the shutdown grace period; exiting"
        );
    }
}

/// The API's AWS clients. An API-only process (no reconciler) may run without an AWS region:
/// the endpoints that call AWS then answer with AWS's error, everything else works.
async fn api_aws(args: &ServeArgs) -> anyhow::Result<Aws> {
    match Aws::from_env(&args.reconciler.rates, &args.reconciler.timeouts).await {
        Ok(aws) => Ok(aws),
        Err(error) if args.no_reconciler => {
            tracing::warn!(%error, "no AWS configuration; stream keys, revocations and key rotation will fail");
            let config = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build();
            Ok(Aws::from_config(&config, &args.reconciler.rates)
                .with_timeouts(&args.reconciler.timeouts))
        }
        Err(error) => Err(error),
    }
}

/// The reconciler's context, wired to the playback-key engine for the managed key.
fn reconciler_ctx(
    pool: &sqlx::PgPool,
    aws: &Aws,
    args: &reconciler::ReconcilerArgs,
) -> reconciler::Ctx {
    let managed_key = wiring::managed_key(pool.clone(), aws.clone());
    reconciler::Ctx::new(
        pool.clone(),
        aws.clone(),
        reconciler::Settings::from(args),
        managed_key,
    )
}

/// Reconciler workers alone, until SIGTERM/SIGINT.
async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    args.tokens.check()?;
    args.webhooks.check()?;
    args.database
        .check_pool(false, Some(args.reconciler.reconciler_concurrency))?;
    // As `serve` does when it binds (Application::build): Postgres and AWS connections are files.
    crate::api::open_files::raise_to_hard_limit();
    let pool = db::connect(&args.database).await?;
    let aws = Aws::from_env(&args.reconciler.rates, &args.reconciler.timeouts).await?;
    let ctx = reconciler_ctx(&pool, &aws, &args.reconciler);
    let stop = CancellationToken::new();
    let workers = tokio::spawn(reconciler::run(ctx, stop.clone()));
    let deliveries = start_webhooks(&pool, &args.webhooks, &stop)?;
    let intake = start_events(&pool, &aws, &args.events, &stop);
    start_sweep(&pool, &aws, &args.sweep, &stop);
    tokio::spawn(lifecycle::run(
        pool,
        aws,
        None,
        Arc::new(tokio::sync::Notify::new()),
        Some(args.tokens.max_ttl()),
        args.tokens.key_check(),
        stop.clone(),
    ));
    shutdown_signal().await;
    stop.cancel();
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let started = std::time::Instant::now();
    finish_within(workers, grace).await;
    if let Some(deliveries) = deliveries {
        finish_within(deliveries, grace.saturating_sub(started.elapsed())).await;
    }
    if let Some(intake) = intake {
        finish_within(intake, grace.saturating_sub(started.elapsed())).await;
    }
    Ok(())
}

pub(super) async fn create_key(
    pool: &sqlx::PgPool,
    name: &str,
    scopes: &[Scope],
    tenant: Option<&str>,
) -> anyhow::Result<String> {
    if let Err(message) = rules::identifier(name, "the key name", 128) {
        bail!("{message}");
    }
    if let Some(Err(message)) = tenant.map(|t| rules::identifier(t, "tenant", 64)) {
        bail!("{message}");
    }
    let key = generate_key();
    let scopes: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
    let new = db::api_keys::NewApiKey {
        name,
        hash: &key.hash,
        prefix: &key.prefix,
        scopes: &scopes,
        tenant,
    };
    match db::api_keys::insert(pool, new).await? {
        Some(_) => Ok(key.secret),
        None => bail!(
            "an active API key named '{name}' already exists; revoke it first or pick another name"
        ),
    }
}

async fn api_key(command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create {
            database,
            name,
            scopes,
            tenant,
        } => {
            let pool = db::connect(&database).await?;
            let secret = create_key(&pool, &name, &scopes, tenant.as_deref()).await?;
            let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            println!("created API key '{name}' with scopes {}", scopes.join(", "));
            if let Some(tenant) = tenant {
                println!("bound to tenant '{tenant}'");
            }
            println!("store it now: it is shown only once");
            println!("{secret}");
        }
        ApiKeyCommand::List { database } => {
            let pool = db::connect(&database).await?;
            println!(
                "{:<24} {:<12} {:<40} {:<16} {:<25} revoked",
                "name", "prefix", "scopes", "tenant", "created"
            );
            for key in db::api_keys::list(&pool).await? {
                println!(
                    "{:<24} {:<12} {:<40} {:<16} {:<25} {}",
                    key.name,
                    key.key_prefix,
                    key.scopes.join(","),
                    key.tenant.as_deref().unwrap_or("-"),
                    key.created_at.to_rfc3339(),
                    key.revoked_at
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "-".into()),
                );
            }
        }
        ApiKeyCommand::Revoke { database, name } => {
            let pool = db::connect(&database).await?;
            if !db::api_keys::revoke(&pool, &name)
                .await
                .context("revoking the key")?
            {
                bail!("no active API key named '{name}'");
            }
            println!("revoked API key '{name}'");
        }
    }
    Ok(())
}

async fn playback_key(command: PlaybackKeyCommand) -> anyhow::Result<()> {
    match command {
        PlaybackKeyCommand::Init { ssm_parameter } => {
            let aws = Aws::from_env(
                &aws::RateSettings::default(),
                &aws::TimeoutSettings::default(),
            )
            .await?;
            let loaded = source::store_new(&aws, &ssm_parameter, false).await?;
            println!(
                "stored a new P-384 signing key in the SecureString parameter {ssm_parameter}"
            );
            println!("fingerprint: {}", loaded.key.fingerprint);
            print!("{}", loaded.key.public_key_pem);
            println!(
                "start the service with PLAYBACK_SIGNING_KEY_SSM_PARAMETER={ssm_parameter}; it imports the public key into IVS"
            );
        }
        PlaybackKeyCommand::List { database } => {
            let pool = db::connect(&database).await?;
            println!(
                "{:<18} {:<8} {:<10} {:<26} delete after",
                "fingerprint", "source", "state", "created"
            );
            for key in db::playback_keys::list(&pool).await? {
                println!(
                    "{:<18} {:<8} {:<10} {:<26} {}",
                    &key.fingerprint[..16],
                    key.source.as_str(),
                    key.state.as_str(),
                    key.created_at.to_rfc3339(),
                    key.delete_after
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "-".into()),
                );
            }
        }
        PlaybackKeyCommand::Rotate { database, tokens } => {
            let pool = db::connect(&database).await?;
            let aws = Aws::from_env(
                &aws::RateSettings::default(),
                &aws::TimeoutSettings::default(),
            )
            .await?;
            let ring = KeyRing::new(tokens.source()?);
            let row = lifecycle::rotate(&pool, &aws, &ring, tokens.max_ttl())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "rotated: now signing with {} ({}); the previous key is deleted from IVS after {} s",
                row.fingerprint,
                row.arn.unwrap_or_default(),
                tokens.max_ttl().as_secs()
            );
        }
    }
    Ok(())
}
