//! IVS event intake benchmark: the embedded simulator's SQS queue (set up by `events setup`),
//! 100 channels, and the intake engine as `serve` runs it.
//!
//! Phase 1 (capacity): N IVS events (stream starts and ends, recording ends) sent into the queue
//! first, then the intake started; events/s = N / (time until every one is stored, hence
//! visible in the API). Phase 2 (lag): events sent at a steady rate while the intake runs, each
//! stamped with its send time as its event time; the lag is from that time to the moment the
//! bench sees its fact stored (sampled every 10 ms, so up to 10 ms late).
//!
//! Usage: intake_bench <database url> [events] [steady rate per s] [steady seconds]
//! The database is created if missing and its broadcast tables emptied first.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use ivs_provisioner::aws::{Aws, RateSettings};
use ivs_provisioner::db;
use ivs_provisioner::domain::event_routing::DEFAULT_RULE_NAME;
use ivs_provisioner::events;
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

const CHANNELS: usize = 100;

fn event(n: usize, at: chrono::DateTime<Utc>) -> String {
    let channel = n % CHANNELS;
    let stream = n / 3;
    let time = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let detail = match n % 3 {
        0 => json!({"event_name": "Stream Start", "stream_id": format!("st-{stream}")}),
        1 => json!({"event_name": "Stream End", "stream_id": format!("st-{stream}")}),
        _ => json!({"recording_status": "Recording End", "stream_id": format!("st-{stream}"),
                    "recording_s3_bucket_name": "bench", "recording_duration_ms": 60000,
                    "recording_s3_key_prefix": format!("ivs/v1/1/c{channel}/2026/12/2/10/0/rec-{stream}")}),
    };
    let detail_type = if n % 3 == 2 {
        "IVS Recording State Change"
    } else {
        "IVS Stream State Change"
    };
    json!({"version": "0", "id": format!("bench-{n}"), "detail-type": detail_type,
           "source": "aws.ivs", "account": "1", "time": time, "region": "us-east-1",
           "resources": [format!("arn:aws:ivs:us-east-1:1:channel/c{channel}")], "detail": detail})
    .to_string()
}

/// Sends each body as its own message, 16 at once (the simulator has no SendMessageBatch).
async fn send_all(sqs: &aws_sdk_sqs::Client, queue: &str, bodies: Vec<String>) {
    let mut sends = tokio::task::JoinSet::new();
    for body in bodies {
        if sends.len() >= 16 {
            sends.join_next().await.unwrap().unwrap();
        }
        let request = sqs.send_message().queue_url(queue).message_body(body);
        sends.spawn(async move { request.send().await.map(drop).unwrap() });
    }
    while let Some(sent) = sends.join_next().await {
        sent.unwrap();
    }
}

async fn stored(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from ivs_events")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: intake_bench <database url> [events] [rate] [secs]");
    let total: usize = args.next().map_or(6000, |n| n.parse().unwrap());
    let rate: usize = args.next().map_or(100, |n| n.parse().unwrap());
    let secs: usize = args.next().map_or(10, |n| n.parse().unwrap());

    db::create_if_missing(&url).await.unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect(&url)
        .await
        .unwrap();
    db::migrate(&pool).await.unwrap();
    sqlx::raw_sql(
        "truncate ivs_events, stream_sessions, recordings, ivs_event_rejects, webhook_events cascade;
         delete from channels where name like 'bench-%'",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into channels (id, tenant, name, spec, phase, outputs)
         select gen_random_uuid(), 'bench', 'bench-' || c, '{}'::jsonb, 'ready',
                jsonb_build_object('channel_arn', 'arn:aws:ivs:us-east-1:1:channel/c' || c)
           from generate_series(0, $1 - 1) c",
    )
    .bind(CHANNELS as i32)
    .execute(&pool)
    .await
    .unwrap();

    let mut config = aws_sim::SimConfig::for_tests();
    config.rates.enabled = false;
    let sim = aws_sim::spawn(config).await.unwrap();
    let aws =
        Aws::for_local_endpoint(&sim.endpoint(), "us-east-1", &RateSettings::unlimited()).await;
    let queue = events::setup(&aws, "bench-events", DEFAULT_RULE_NAME)
        .await
        .unwrap()
        .queue_url;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(sim.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "b", "b", None, None, "b",
        ))
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let settings = events::Settings {
        queue_url: queue.clone(),
        pollers: std::env::var("IVS_EVENTS_POLLERS").map_or(2, |n| n.parse().unwrap()),
        concurrency: std::env::var("IVS_EVENTS_CONCURRENCY").map_or(4, |n| n.parse().unwrap()),
        wait: Duration::from_secs(1),
        visibility: Duration::from_secs(60),
        retention: Duration::from_secs(86_400),
    };
    println!(
        "pollers {}, concurrency {}, {CHANNELS} channels",
        settings.pollers, settings.concurrency
    );

    // Phase 1: a backlog of `total` events, then the intake drains it.
    let now = Utc::now();
    send_all(&sqs, &queue, (0..total).map(|n| event(n, now)).collect()).await;
    let stop = CancellationToken::new();
    let ctx = events::Ctx {
        pool: pool.clone(),
        aws: aws.clone(),
        settings,
    };
    let started = Instant::now();
    let intake = tokio::spawn(events::run(ctx, stop.clone()));
    while stored(&pool).await < total as i64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    println!(
        "capacity: {total} events stored in {:.2} s = {:.0} events/s",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );

    // Phase 2: a steady rate; lag from the event's time to the moment it is seen stored.
    let steady = rate * secs;
    let first = total;
    // Event times carry milliseconds: look from a second earlier, and keep only phase 2's ids.
    let phase2 = Utc::now() - chrono::Duration::seconds(1);
    let watcher = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut seen = Vec::with_capacity(steady);
            let mut known = std::collections::HashSet::new();
            while seen.len() < steady {
                let rows: Vec<(String, chrono::DateTime<Utc>)> =
                    sqlx::query_as("select id, event_time from ivs_events where event_time >= $1")
                        .bind(phase2)
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                let at = Utc::now();
                for (id, time) in rows {
                    let n: usize = id.trim_start_matches("bench-").parse().unwrap_or(0);
                    if n >= first && known.insert(n) {
                        seen.push((at - time).num_microseconds().unwrap_or(0) as f64 / 1e6);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        })
    };
    let tick = Duration::from_secs_f64(1.0 / rate as f64);
    let mut next = tokio::time::Instant::now();
    for n in first..first + steady {
        send_all(&sqs, &queue, vec![event(n, Utc::now())]).await;
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    let mut lags = watcher.await.unwrap();
    lags.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "steady {rate}/s for {secs} s: lag p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&lags, 0.5) * 1e3,
        percentile(&lags, 0.95) * 1e3,
        percentile(&lags, 0.99) * 1e3,
        lags.last().copied().unwrap_or(0.0) * 1e3
    );
    stop.cancel();
    let _ = intake.await;
}
