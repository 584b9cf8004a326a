//! IVS Chat in the simulator: CreateChatToken throughput through the real `aws-sdk-ivschat`
//! (rates off), then one room with `members` WebSocket clients while one of them sends
//! `messages` at the room's highest rate (100/s): how long each message takes to reach every
//! member (p50/p99 over all deliveries).
//!
//! `cargo run -p aws-sim --release --example chat -- [members] [messages] [token-seconds]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ivschat::types::ChatTokenCapability;
use aws_sim::SimConfig;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let members: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let messages: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let token_seconds: u64 = args.next().map_or(Ok(3), |a| a.parse())?;
    let running = aws_sim::spawn(SimConfig::for_tests()).await?;
    let client = aws_sdk_ivschat::Client::from_conf(
        aws_sdk_ivschat::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "bench"))
            .endpoint_url(running.endpoint())
            .build(),
    );
    let room = client
        .create_room()
        .maximum_message_rate_per_second(100)
        .send()
        .await?
        .arn
        .unwrap_or_default();

    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(token_seconds);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (client, done, room) = (client.clone(), done.clone(), room.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let token = client
                        .create_chat_token()
                        .room_identifier(&room)
                        .user_id("u");
                    if token.send().await.is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let total = done.load(Ordering::Relaxed);
    println!(
        "CreateChatToken: {total} in {token_seconds}s with 32 tasks = {:.0} tokens/s",
        total as f64 / token_seconds as f64
    );

    let mut sockets = Vec::new();
    for i in 0..members {
        let token = client
            .create_chat_token()
            .room_identifier(&room)
            .user_id(format!("member-{i}"))
            .capabilities(ChatTokenCapability::SendMessage)
            .send()
            .await?
            .token
            .unwrap_or_default();
        let mut request = format!("ws://{}/", running.addr).into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&token)?);
        sockets.push(tokio_tungstenite::connect_async(request).await?.0);
    }
    let mut sender = sockets.remove(0);
    let start = Instant::now();
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(messages);
                while latencies.len() < messages {
                    let Some(Ok(Message::Text(text))) = socket.next().await else {
                        break;
                    };
                    let frame: serde_json::Value = serde_json::from_str(text.as_str())?;
                    let sent: f64 = frame["Content"].as_str().unwrap_or("0").parse()?;
                    latencies.push(start.elapsed().as_secs_f64() - sent);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    for _ in 0..messages {
        ticker.tick().await;
        let content = format!("{:.6}", start.elapsed().as_secs_f64());
        let frame = serde_json::json!({ "Action": "SEND_MESSAGE", "Content": content });
        sender.send(Message::Text(frame.to_string().into())).await?;
    }
    let mut all = Vec::new();
    for receiver in receivers {
        all.extend(receiver.await??);
    }
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize] * 1000.0;
    println!(
        "fan-out: {messages} messages at 100/s to {} members = {} deliveries, p50 {:.2} ms, p99 {:.2} ms",
        members - 1,
        all.len(),
        at(0.5),
        at(0.99)
    );
    running.shutdown().await;
    Ok(())
}
