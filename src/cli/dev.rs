//! Dev mode: a working service on the local Postgres and the embedded AWS simulator in one
//! command, with a fresh admin key and a printed journey to try.

use anyhow::Context;

use super::DevArgs;
use super::commands::{create_key, serve};
use crate::aws::{self, Aws};
use crate::db;
use crate::domain::api_key::Scope;
use crate::domain::event_routing::DEFAULT_RULE_NAME;
use crate::events;
use crate::playback_keys::{KeySource, source};

/// The queue dev mode routes the embedded simulator's IVS events to.
const DEV_EVENTS_QUEUE: &str = "ivs-provisioner-dev-events";

/// Where dev mode keeps its generated signing key (in the simulator's SSM).
const DEV_SIGNING_KEY_PARAMETER: &str = "/ivs-provisioner/dev/playback-signing-key";

/// Dev mode: a working service on the local Postgres and the embedded AWS simulator in one
/// command, with a key to try it.
pub async fn run(dev: DevArgs) -> anyhow::Result<()> {
    let mut args = dev.serve;
    // A local receiver (http on 127.0.0.1) is what a newcomer points webhooks at.
    args.webhooks.webhook_allow_private = true;
    args.webhooks.webhook_allow_insecure = true;
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
    let aws = Aws::for_local_endpoint(&endpoint, "us-east-1", &args.reconciler.rates)
        .await
        .with_timeouts(&args.reconciler.timeouts);
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
    // The embedded simulator emits IVS's events: route them to a queue and read it, so the
    // journey shows broadcasts and recordings (unless a queue is configured already).
    let broadcasts = simulator.is_some() && args.events.ivs_events_queue_url.is_none();
    if broadcasts {
        let report = events::setup(&aws, DEV_EVENTS_QUEUE, DEFAULT_RULE_NAME)
            .await
            .context("routing the simulator's IVS events to a queue")?;
        args.events.ivs_events_queue_url = Some(report.queue_url);
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
    let guide = move |addr| print!("{}", dev_guide(addr, &endpoint, &key, broadcasts));
    let served = serve(args, Some(aws), Some(Box::new(guide))).await;
    drop(simulator);
    served
}

async fn reset_for_fresh_simulator(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    db::channels::reset_for_fresh_simulator(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

fn dev_guide(
    addr: std::net::SocketAddr,
    aws_endpoint: &str,
    key: &str,
    broadcasts: bool,
) -> String {
    // The simulator serves IVS Chat's messaging WebSocket at its root, as AWS does at
    // wss://edge.ivschat.<region>.amazonaws.com.
    let chat_ws = format!("{}/", aws_endpoint.replacen("http", "ws", 1));
    let broadcast = if broadcasts {
        broadcast_guide(aws_endpoint)
    } else {
        String::new()
    };
    format!(
        r#"
ivs-provisioner dev mode is running on http://{addr}
API reference: http://{addr}/docs      OpenAPI: http://{addr}/openapi.json
Operator console: http://{addr}/console  (sign in with the API key below)
AWS simulator: {aws_endpoint}  (state: curl {aws_endpoint}/_sim/state)

A new admin API key (shown once; each start makes a new one):
  export IVSP_KEY={key}
  export IVSP=http://{addr}

Try the whole journey (copy-paste line by line):
  # 1. declare a private, recorded channel with a chat room: 202 (the same request again: 200, same channel)
  ID=$(curl -s -X POST $IVSP/v1/channels -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/json' -d '{{"tenant":"acme","name":"yoga-101","authorized":true,"recording":{{"s3_bucket_name":"acme-recordings"}},"chat":{{"enabled":true}}}}' | sed -E 's/^[{{]"id":"([^"]+)".*/\1/'); echo "channel $ID"
  # 2. wait until the reconciler has made it in IVS and IVS Chat (seconds), then read it: outputs, live status
  until curl -s $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY" | grep -q '"phase":"ready"'; do sleep 1; done
  curl -s $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY"; echo
  # 3. mint a playback token for a member (playback_url already carries ?token=)
  curl -s -X POST $IVSP/v1/channels/$ID/playback-tokens -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/json' -d '{{"viewer_id":"member-42","ttl_seconds":300}}'; echo
  # 4. mint a chat token for the member (one IVS Chat call; their chat client connects to {chat_ws} with
  #    the token as its WebSocket sub-protocol), and tell the class's chat it starts soon (audited)
  curl -s -X POST $IVSP/v1/channels/$ID/chat-tokens -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/json' -d '{{"user_id":"member-42","capabilities":["SEND_MESSAGE"]}}'; echo
  curl -s -X POST $IVSP/v1/channels/$ID/chat/events -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/json' -d '{{"event_name":"class_starts_soon","attributes":{{"minutes":"5"}}}}'; echo
  # 5. read the stream key for the broadcaster (also in SSM: /live/acme/yoga-101/stream-key)
  curl -s $IVSP/v1/channels/$ID/stream-key -H "Authorization: Bearer $IVSP_KEY"; echo
  # 6. change it (JSON merge patch) and read its audit trail
  curl -s -X PATCH $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/merge-patch+json' -d '{{"latency_mode":"NORMAL"}}'; echo
  curl -s $IVSP/v1/channels/$ID/events -H "Authorization: Bearer $IVSP_KEY"; echo
{broadcast}  # 7. delete it (202; the reconciler removes it, and its chat room, from IVS, IVS Chat and SSM)
  curl -s -X DELETE $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY"; echo

Webhooks (do this before step 1 to hear the whole journey):
  # register an endpoint for tenant acme; the answer shows its secret (whsec_...) this once
  curl -s -X POST $IVSP/v1/webhook-endpoints -H "Authorization: Bearer $IVSP_KEY" -H 'Content-Type: application/json' -d '{{"url":"http://127.0.0.1:9000/hooks","tenant":"acme"}}'; echo
  # in another terminal: pip install standardwebhooks==1.1.0, export WHSEC=<the secret>, then run this
  # three-line receiver (save as receiver.py; python3 receiver.py): it verifies each signature, prints the event
      from http.server import BaseHTTPRequestHandler as B, HTTPServer; import os, standardwebhooks
      class H(B): do_POST = lambda s: (print(standardwebhooks.Webhook(os.environ["WHSEC"]).verify(s.rfile.read(int(s.headers["content-length"])), dict(s.headers))), s.send_response(204), s.end_headers())
      HTTPServer(("127.0.0.1", 9000), H).serve_forever()
  # what was sent, each attempt's status and answer (replace <endpoint id>):
  #   curl -s $IVSP/v1/webhook-endpoints/<endpoint id>/deliveries -H "Authorization: Bearer $IVSP_KEY"

Press Ctrl-C to stop.
"#
    )
}

/// The journey's broadcast step: the simulator plays an encoder and IVS's recorder, its events
/// reach the service through EventBridge and SQS, and the session and recording appear.
fn broadcast_guide(aws_endpoint: &str) -> String {
    format!(
        r#"  # 6b. broadcast for a moment (the simulator plays the encoder; IVS's events arrive through EventBridge and SQS), then list the broadcast and its recording
  export ARN=$(curl -s $IVSP/v1/channels/$ID -H "Authorization: Bearer $IVSP_KEY" | sed -E 's/.*"channel_arn":"([^"]+)".*/\1/')
  curl -s -X POST {aws_endpoint}/_sim/broadcast/start -H 'Content-Type: application/json' -d "{{\"channelArn\":\"$ARN\"}}"; echo
  curl -s -X POST {aws_endpoint}/_sim/broadcast/stop -H 'Content-Type: application/json' -d "{{\"channelArn\":\"$ARN\"}}"; echo
  until curl -s $IVSP/v1/channels/$ID/recordings -H "Authorization: Bearer $IVSP_KEY" | grep -q '"status":"ready"'; do sleep 1; done
  curl -s $IVSP/v1/channels/$ID/sessions -H "Authorization: Bearer $IVSP_KEY"; echo
  curl -s $IVSP/v1/channels/$ID/recordings -H "Authorization: Bearer $IVSP_KEY"; echo
"#
    )
}
