//! What each subcommand does: serve, dev, migrate, openapi and api-key management.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::auth::{self, Scope};
use tokio_util::sync::CancellationToken;

use crate::aws;
use crate::aws::Aws;
use crate::cli::{ApiKeyCommand, Command, DevArgs, PlaybackKeyCommand, ServeArgs, WorkerArgs};
use crate::db;
use crate::domain::rules;
use crate::playback_keys::{KeyRing, KeySource, lifecycle, source};
use crate::reconciler;
use crate::startup::{AppState, Application, HttpSettings, shutdown_signal};
use crate::tokens::Tokens;

/// Where dev mode keeps its generated signing key (in the simulator's SSM).
const DEV_SIGNING_KEY_PARAMETER: &str = "/ivs-provisioner/dev/playback-signing-key";

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
        Command::PlaybackKey(command) => playback_key(command).await,
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
    let aws = match aws {
        Some(aws) => aws,
        None => api_aws(&args).await?,
    };
    let ring = Arc::new(KeyRing::new(args.tokens.source()?));
    ring.register(&pool, &aws)
        .await
        .context("loading the playback signing key")?;
    let tokens = Tokens::new(ring, args.tokens.limits());
    // Where the reconciler runs, the managed keys are maintained in IVS too.
    let maintain_keys = (!args.no_reconciler).then(|| args.tokens.max_ttl());
    let state = AppState::new(
        pool.clone(),
        HttpSettings::from(&args),
        aws.clone(),
        tokens,
        maintain_keys,
        Duration::from_secs(args.tokens.playback_key_check_secs.max(1)),
    );
    let app = Application::build(args.bind, state).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, "serving the API");
    let stop = CancellationToken::new();
    let workers = if args.no_reconciler {
        None
    } else {
        let ctx = reconciler::Ctx::new(pool, aws, reconciler::Settings::from(&args.reconciler));
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

/// The API's AWS clients. An API-only process (no reconciler) may run without an AWS region:
/// the endpoints that call AWS then answer with AWS's error, everything else works.
async fn api_aws(args: &ServeArgs) -> anyhow::Result<Aws> {
    match Aws::from_env(&args.reconciler.rates).await {
        Ok(aws) => Ok(aws),
        Err(error) if args.no_reconciler => {
            tracing::warn!(%error, "no AWS configuration; stream keys, revocations and key rotation will fail");
            let config = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build();
            Ok(Aws::from_config(&config, &args.reconciler.rates))
        }
        Err(error) => Err(error),
    }
}

/// Reconciler workers alone, until SIGTERM/SIGINT.
async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let pool = db::connect(&args.database).await?;
    let aws = Aws::from_env(&args.reconciler.rates).await?;
    let ctx = reconciler::Ctx::new(
        pool.clone(),
        aws.clone(),
        reconciler::Settings::from(&args.reconciler),
    );
    let stop = CancellationToken::new();
    let workers = tokio::spawn(reconciler::run(ctx, stop.clone()));
    tokio::spawn(lifecycle::run(
        pool,
        aws,
        None,
        Arc::new(tokio::sync::Notify::new()),
        Some(args.tokens.max_ttl()),
        Duration::from_secs(args.tokens.playback_key_check_secs.max(1)),
        stop.clone(),
    ));
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
    if args.tokens.source()? == KeySource::None {
        // Dev mode signs tokens out of the box: a generated key, kept in the simulator's SSM so
        // that rotation works as in production.
        let name = DEV_SIGNING_KEY_PARAMETER.to_owned();
        if KeySource::Ssm(name.clone())
            .load_current(&aws)
            .await
            .is_err()
        {
            source::store_new(&aws, &name, false).await?;
        }
        args.tokens.playback_signing_key_ssm_parameter = Some(name);
    }
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
API reference: http://{addr}/docs      OpenAPI: http://{addr}/openapi.json
AWS simulator: {aws_endpoint}  (state: curl {aws_endpoint}/_sim/state)

A new admin API key (shown once; each start makes a new one):
  export IVSP_KEY={key}
  export IVSP=http://{addr}

Try the whole journey (copy-paste line by line):
  # 1. declare a private, recorded channel: 202 (the same request again: 200, same channel)
  ID=$(curl -s -X POST $IVSP/v1/channels -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/json' -d '{{"tenant":"acme","name":"yoga-101","authorized":true,"recording":{{"s3_bucket_name":"acme-recordings"}}}}' | sed -E 's/^[{{]"id":"([^"]+)".*/\1/'); echo "channel $ID"
  # 2. wait until the reconciler has made it in IVS (seconds), then read it: outputs, live status
  until curl -s $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY" | grep -q '"phase":"ready"'; do sleep 1; done
  curl -s $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY"; echo
  # 3. mint a playback token for a member (playback_url already carries ?token=)
  curl -s -X POST $IVSP/v1/channels/$ID/playback-tokens -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/json' -d '{{"viewer_id":"member-42","ttl_seconds":300}}'; echo
  # 4. read the stream key for the broadcaster (also in SSM: /live/acme/yoga-101/stream-key)
  curl -s $IVSP/v1/channels/$ID/stream-key -H "Authorization: Bearer $IVSP_KEY"; echo
  # 5. change it (JSON merge patch) and read its audit trail
  curl -s -X PATCH $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/merge-patch+json' -d '{{"latency_mode":"NORMAL"}}'; echo
  curl -s $IVSP/v1/channels/$ID/events -H "Authorization: Bearer $IVSP_KEY"; echo
  # 6. delete it (202; the reconciler removes it from IVS and SSM)
  curl -s -X DELETE $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY"; echo

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

async fn playback_key(command: PlaybackKeyCommand) -> anyhow::Result<()> {
    match command {
        PlaybackKeyCommand::Init { ssm_parameter } => {
            let aws = Aws::from_env(&aws::RateSettings::default()).await?;
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
                    key.source,
                    key.state,
                    key.created_at.to_rfc3339(),
                    key.delete_after
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "-".into()),
                );
            }
        }
        PlaybackKeyCommand::Rotate { database, tokens } => {
            let pool = db::connect(&database).await?;
            let aws = Aws::from_env(&aws::RateSettings::default()).await?;
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
