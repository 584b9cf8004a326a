//! Webhook delivery benchmark (driven by scripts/bench-webhooks.sh): a receiver on 127.0.0.1
//! answering 204, one endpoint, the delivery engine's loop as `serve` runs it, and events written
//! into the outbox as state changes write them (one statement each, eight writers at once).
//!
//! Phase 1 (state changes to deliveries): N events written as fast as the writers go while the
//! engine drains them; deliveries/s = N / (last delivery - first write). Phase 2 (the engine's
//! own capacity): N events written with the engine stopped (a receiver that was away), then the
//! time to drain that backlog. Phase 3 (latency): events at a steady rate. Latency is the time
//! from each event's write (its payload timestamp) to its arrival at the receiver.
//!
//! Usage: webhook_bench <database url> [events] [steady rate per s] [steady seconds]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ivs_provisioner::db;
use ivs_provisioner::domain::webhook::{self, UrlPolicy, WebhookEventType};
use ivs_provisioner::webhooks::{self, Settings};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

type Arrivals = Arc<Mutex<Vec<(DateTime<Utc>, DateTime<Utc>)>>>;

async fn receive(State(arrivals): State<Arrivals>, body: Bytes) -> StatusCode {
    let now = Utc::now();
    let written = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["timestamp"].as_str()?.parse::<DateTime<Utc>>().ok())
        .unwrap_or(now);
    arrivals.lock().unwrap().push((written, now));
    StatusCode::NO_CONTENT
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn report(name: &str, arrivals: &[(DateTime<Utc>, DateTime<Utc>)]) {
    let mut lags: Vec<f64> = arrivals
        .iter()
        .map(|(written, at)| (*at - *written).num_microseconds().unwrap_or(0) as f64 / 1e6)
        .collect();
    lags.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name}: state change to delivery p50 {:.3} s, p95 {:.3} s, p99 {:.3} s, max {:.3} s",
        percentile(&lags, 0.50),
        percentile(&lags, 0.95),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or_default()
    );
}

async fn write_events(pool: &sqlx::PgPool, count: usize, writers: usize, pace: Option<Duration>) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (pool, next) = (pool.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= count {
                        return;
                    }
                    if let Some(pace) = pace {
                        let due = started + pace * n as u32;
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let now = Utc::now();
                    let kind = WebhookEventType::ChannelUpdated;
                    let data = json!({"channel_id": Uuid::now_v7(), "tenant": "bench", "n": n});
                    let payload = webhook::payload(kind, now, data);
                    let id = webhook::new_event_id();
                    db::webhooks::insert_event(
                        &pool,
                        &id,
                        kind,
                        Some("bench"),
                        None,
                        &payload,
                        now,
                        None,
                    )
                    .await
                    .expect("write an event");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn wait_for(arrivals: &Arrivals, count: usize) {
    let started = Instant::now();
    while arrivals.lock().unwrap().len() < count {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "deliveries stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: webhook_bench <database url> [events] [rate] [secs]");
    let events: usize = args.get(2).map_or(Ok(10_000), |s| s.parse())?;
    let rate: usize = args.get(3).map_or(Ok(200), |s| s.parse())?;
    let secs: usize = args.get(4).map_or(Ok(10), |s| s.parse())?;
    let pool = PgPoolOptions::new()
        .max_connections(24)
        .connect(url)
        .await?;
    db::migrate(&pool).await?;

    let arrivals: Arrivals = Arc::default();
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver = format!("http://{}/hooks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    db::webhooks::insert_endpoint(
        &pool,
        db::webhooks::NewEndpoint {
            id: Uuid::now_v7(),
            tenant: None,
            url: &receiver,
            description: "bench",
            event_types: &[],
            disabled: false,
            secret: &webhook::generate_secret(),
            created_by: "bench",
        },
    )
    .await?;

    // The defaults of `serve` (WEBHOOK_* settings), everything local allowed.
    let settings = Settings {
        concurrency: 64,
        per_endpoint: 16,
        timeout: Duration::from_secs(10),
        schedule: webhook::DEFAULT_SCHEDULE_SECS
            .iter()
            .map(|s| Duration::from_secs_f64(*s))
            .collect(),
        lease: Duration::from_secs(60),
        poll: Duration::from_secs(5),
        disable_after: Duration::from_secs(3 * 86_400),
        retention: Duration::from_secs(30 * 86_400),
        policy: UrlPolicy::PERMISSIVE,
    };
    let stop = CancellationToken::new();
    let engine = tokio::spawn(webhooks::run(
        webhooks::Ctx::new(pool.clone(), settings.clone())?,
        stop.clone(),
    ));

    let started = Instant::now();
    write_events(&pool, events, 8, None).await;
    let written = started.elapsed();
    wait_for(&arrivals, events).await;
    let drained = started.elapsed();
    println!(
        "phase 1: {events} events written in {:.2} s ({:.0}/s); all delivered after {:.2} s: {:.0} deliveries/s",
        written.as_secs_f64(),
        events as f64 / written.as_secs_f64(),
        drained.as_secs_f64(),
        events as f64 / drained.as_secs_f64()
    );
    report("phase 1 (burst)", &arrivals.lock().unwrap());

    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), engine).await;
    arrivals.lock().unwrap().clear();
    write_events(&pool, events, 8, None).await;
    let stop = CancellationToken::new();
    let started = Instant::now();
    let engine = tokio::spawn(webhooks::run(
        webhooks::Ctx::new(pool.clone(), settings)?,
        stop.clone(),
    ));
    wait_for(&arrivals, events).await;
    let drained = started.elapsed();
    println!(
        "phase 2: a backlog of {events} drained in {:.2} s: {:.0} deliveries/s",
        drained.as_secs_f64(),
        events as f64 / drained.as_secs_f64()
    );

    arrivals.lock().unwrap().clear();
    let steady = rate * secs;
    write_events(&pool, steady, 8, Some(Duration::from_secs(1) / rate as u32)).await;
    wait_for(&arrivals, steady).await;
    report(
        &format!("phase 3 (steady {rate}/s for {secs} s)"),
        &arrivals.lock().unwrap(),
    );
    let duplicates: i64 = sqlx::query_scalar(
        "select count(*) from webhook_deliveries where status <> 'delivered' or attempts <> 1",
    )
    .fetch_one(&pool)
    .await?;
    println!("deliveries not delivered on the first attempt: {duplicates}");
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), engine).await;
    Ok(())
}
