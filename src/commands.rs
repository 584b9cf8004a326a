//! What each subcommand does: serve, dev, migrate, openapi and api-key management.

use std::sync::Arc;

use anyhow::{Context, bail};

use crate::auth::{self, Scope};
use tokio_util::sync::CancellationToken;

use crate::aws;
use crate::aws::Aws;
use crate::cli::{ApiKeyCommand, Command, DevArgs, ServeArgs, WorkerArgs};
use crate::db;
use crate::domain::rules;
use crate::reconciler::{self, ReconcilerArgs};
use crate::startup::{AppState, Application, HttpSettings, shutdown_signal};

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args, None, None).await,
        Command::Dev(args) => dev(args).await,
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
    }
}

/// Serves the API; `on_ready` runs once the listener is bound (dev mode prints its guide there).
/// `aws` overrides the SDK's environment (dev mode's simulator).
async fn serve(
    args: ServeArgs,
    aws: Option<Aws>,
    on_ready: Option<Box<dyn FnOnce(std::net::SocketAddr) + Send>>,
) -> anyhow::Result<()> {
    let pool = db::connect(&args.database).await?;
    if !args.skip_migrations {
        db::migrate(&pool).await?;
    }
    let state = AppState {
        pool: pool.clone(),
        settings: Arc::new(HttpSettings::from(&args)),
    };
    let app = Application::build(args.bind, state).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, "serving the API");
    let stop = CancellationToken::new();
    let workers = if args.no_reconciler {
        None
    } else {
        let ctx = match aws {
            Some(aws) => {
                reconciler::Ctx::new(pool, aws, reconciler::Settings::from(&args.reconciler))
            }
            None => reconciler_ctx(pool, &args.reconciler).await?,
        };
        Some(tokio::spawn(reconciler::run(ctx, stop.clone())))
    };
    if let Some(on_ready) = on_ready {
        on_ready(addr);
    }
    let served = app.run_until_stopped(shutdown_signal()).await;
    stop.cancel();
    if let Some(workers) = workers {
        let _ = workers.await;
    }
    served
}

async fn reconciler_ctx(
    pool: sqlx::PgPool,
    args: &ReconcilerArgs,
) -> anyhow::Result<reconciler::Ctx> {
    let aws = Aws::from_env(&args.rates).await?;
    Ok(reconciler::Ctx::new(
        pool,
        aws,
        reconciler::Settings::from(args),
    ))
}

/// Reconciler workers alone, until SIGTERM/SIGINT.
async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let pool = db::connect(&args.database).await?;
    let ctx = reconciler_ctx(pool, &args.reconciler).await?;
    let stop = CancellationToken::new();
    let workers = tokio::spawn(reconciler::run(ctx, stop.clone()));
    shutdown_signal().await;
    stop.cancel();
    workers.await.context("reconciler task")
}

/// Dev mode: a working service on the local Postgres and the embedded AWS simulator in one
/// command, with a key to try it.
async fn dev(dev: DevArgs) -> anyhow::Result<()> {
    let mut args = dev.serve;
    if dev.unlimited_rates {
        args.reconciler.rates = aws::RateSettings::unlimited();
    }
    let (endpoint, simulator) = match dev.aws_endpoint {
        Some(endpoint) => (endpoint, None),
        None => {
            let mut config = aws_sim::SimConfig::default();
            config.rates.enabled = !dev.unlimited_rates;
            let sim = aws_sim::spawn(config)
                .await
                .context("starting the embedded AWS simulator")?;
            (sim.endpoint(), Some(sim))
        }
    };
    tracing::info!(%endpoint, "AWS calls go to the simulator");
    let aws = Aws::for_local_endpoint(&endpoint, "us-east-1", &args.reconciler.rates).await;
    if db::create_if_missing(&args.database.database_url).await? {
        tracing::info!(
            "created the database {}",
            db::redact(&args.database.database_url)
        );
    }
    let pool = db::connect(&args.database).await?;
    db::migrate(&pool).await?;
    if simulator.is_some() {
        // The embedded simulator starts empty each time: provision every live channel anew.
        reset_for_fresh_simulator(&pool).await?;
    }
    // One dev key at a time: each start replaces the previous one.
    db::api_keys::revoke(&pool, "dev-admin").await?;
    let key = create_key(&pool, "dev-admin", &[Scope::Admin], None).await?;
    drop(pool);
    let guide = move |addr| print!("{}", dev_guide(addr, &endpoint, &key));
    let served = serve(args, Some(aws), Some(Box::new(guide))).await;
    drop(simulator);
    served
}

async fn reset_for_fresh_simulator(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("delete from recording_configurations")
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from playback_keys")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "update channels set outputs = '{}', observed_generation = 0, attempts = 0, next_attempt_at = now(),
                phase = case when phase = 'deleting' then 'deleting' else 'pending' end
          where deleted_at is null",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

fn dev_guide(addr: std::net::SocketAddr, aws_endpoint: &str, key: &str) -> String {
    format!(
        r#"
ivs-provisioner dev mode is running on http://{addr}
API reference: http://{addr}/docs      OpenAPI: http://{addr}/openapi.json\nAWS simulator: {aws_endpoint}  (state: curl {aws_endpoint}/_sim/state)

A new admin API key (shown once; each start makes a new one):
  export IVSP_KEY={key}
  export IVSP=http://{addr}

Try it:
  # declare a channel (202; the same request again returns 200 and the same channel)
  curl -s -X POST $IVSP/v1/channels -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/json' \
    -d '{{"tenant":"acme","name":"yoga-101","authorized":true,"recording":{{"s3_bucket_name":"acme-recordings"}}}}'
  # watch it become ready (the reconciler creates it in the simulator within seconds)
  curl -s "$IVSP/v1/channels?tenant=acme" -H "Authorization: Bearer $IVSP_KEY" | grep -o '"phase":"[a-z]*"'
  # list channels (outputs: ARN, ingest endpoint, playback URL, recording configuration ARN)
  curl -s "$IVSP/v1/channels?tenant=acme" -H "Authorization: Bearer $IVSP_KEY"
  # change it (JSON merge patch); use the id from the create response
  ID=$(curl -s "$IVSP/v1/channels?tenant=acme&name_prefix=yoga-101" -H "Authorization: Bearer $IVSP_KEY" | sed -E 's/.*"items":\[\{{"id":"([^"]+)".*/\1/')
  curl -s -X PATCH $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/merge-patch+json' \
    -d '{{"latency_mode":"NORMAL"}}'
  # its audit trail
  curl -s $IVSP/v1/channels/$ID/events -H "Authorization: Bearer $IVSP_KEY"
  # delete it
  curl -s -X DELETE $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY"

Press Ctrl-C to stop.
"#
    )
}

async fn create_key(
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
    let key = auth::generate_key();
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
