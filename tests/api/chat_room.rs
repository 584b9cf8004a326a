//! End to end against the simulator's IVS Chat messaging WebSocket: a token minted through the
//! API admits its holder with exactly its capabilities, moderation through the API reaches the
//! connected members, a burst of token requests is paced below the configured CreateChatToken
//! rate with 429s (never a 5xx) beyond the wait budget, and no chat token reaches a log line.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use ivs_provisioner::aws::RateSettings;
use ivs_provisioner::domain::api_key::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::chat::{chat_token, ready_chat_channel};
use crate::custody::captured_logs;
use crate::helpers::{Reply, TestApp};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for a frame before it fails (a guard against hanging, not a timing).
const PATIENCE: Duration = Duration::from_secs(10);

/// Mints a token through the API for `user_id` with `capabilities`; returns it.
async fn token_for(app: &TestApp, key: &str, id: &str, user_id: &str, caps: &[&str]) -> String {
    let reply = chat_token(
        app,
        key,
        id,
        &json!({"user_id": user_id, "capabilities": caps}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()["token"].as_str().unwrap().to_owned()
}

/// Connects to the simulator's messaging endpoint with the token as the sub-protocol, as IVS
/// Chat's clients do.
async fn connect(app: &TestApp, token: &str) -> Socket {
    let url = app.sim.endpoint().replacen("http", "ws", 1);
    let mut request = format!("{url}/").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", token.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the token admits its holder");
    socket
}

async fn send(socket: &mut Socket, action: Value) {
    socket
        .send(Message::Text(action.to_string().into()))
        .await
        .expect("send a frame");
}

/// The next JSON frame, or `None` once the server has closed the connection.
async fn next_frame(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a frame or the end within the patience");
        match message {
            Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Frames until one satisfies `wanted` (other members' traffic may come first).
async fn frame_where(socket: &mut Socket, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = next_frame(socket)
            .await
            .expect("the connection stays open until the wanted frame");
        if wanted(&frame) {
            return frame;
        }
    }
}

async fn connections(app: &TestApp, room_id: &str) -> Vec<String> {
    let url = format!(
        "{}/_sim/chat/rooms/{room_id}/connections",
        app.sim.endpoint()
    );
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["userId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn room_id(app: &TestApp, admin: &str, id: &str) -> String {
    let channel = app.get(&format!("/v1/channels/{id}"), admin).await.json();
    channel["status"]["outputs"]["chat_room_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_minted_token_admits_its_holder_with_exactly_its_capabilities() {
    let logs = captured_logs();
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_chat_channel(&app, &admin, "acme", "yoga").await;
    let room = room_id(&app, &admin, &id).await;
    let minter = app.key(&[Scope::TokensMint], Some("acme")).await;
    let moderator = app
        .named_key("front-desk", &[Scope::ChatModerate], Some("acme"))
        .await;
    let mut tokens = vec![
        token_for(&app, &minter, &id, "member", &["SEND_MESSAGE"]).await,
        token_for(&app, &minter, &id, "viewer", &[]).await,
    ];
    let mut member = connect(&app, &tokens[0]).await;
    let mut viewer = connect(&app, &tokens[1]).await;

    // A member with SEND_MESSAGE speaks; everyone in the room hears it.
    send(
        &mut member,
        json!({"Action": "SEND_MESSAGE", "RequestId": "m1", "Content": "hello"}),
    )
    .await;
    let heard = frame_where(&mut viewer, |f| f["Type"] == "MESSAGE").await;
    assert_eq!(heard["Content"], "hello");
    assert_eq!(heard["Sender"]["UserId"], "member");
    let message_id = heard["Id"].as_str().unwrap().to_owned();

    // A token without SEND_MESSAGE reads but cannot send.
    send(
        &mut viewer,
        json!({"Action": "SEND_MESSAGE", "RequestId": "v1", "Content": "me too"}),
    )
    .await;
    let refused = frame_where(&mut viewer, |f| f["Type"] == "ERROR").await;
    assert_eq!(refused["ErrorCode"], 403, "{refused}");
    assert_eq!(refused["RequestId"], "v1");

    // SendEvent through the API reaches every connected member.
    let path = format!("/v1/channels/{id}/chat/events");
    let body = json!({"event_name": "class_starts_soon", "attributes": {"minutes": "5"}});
    let sent = app.post(&path, &moderator, &body).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    for socket in [&mut member, &mut viewer] {
        let event = frame_where(socket, |f| f["EventName"] == "class_starts_soon").await;
        assert_eq!(event["Type"], "EVENT");
        assert_eq!(event["Attributes"]["minutes"], "5");
    }

    // DeleteMessage through the API tells the room to unrender the message.
    let path = format!("/v1/channels/{id}/chat/message-deletions");
    let body = json!({"message_id": message_id, "reason": "off topic"});
    let deleted = app.post(&path, &moderator, &body).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    let unrender = frame_where(&mut viewer, |f| f["EventName"] == "aws:DELETE_MESSAGE").await;
    assert_eq!(unrender["Attributes"]["MessageId"], message_id.as_str());

    // DisconnectUser through the API drops the member's connection, and only theirs.
    assert_eq!(connections(&app, &room).await.len(), 2);
    let path = format!("/v1/channels/{id}/chat/disconnections");
    let body = json!({"user_id": "member", "reason": "spam"});
    let dropped = app.post(&path, &moderator, &body).await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.text);
    while next_frame(&mut member).await.is_some() {}
    let told = frame_where(&mut viewer, |f| f["EventName"] == "aws:DISCONNECT_USER").await;
    assert_eq!(told["Attributes"]["UserId"], "member");
    assert_eq!(connections(&app, &room).await, ["viewer"]);

    // A token is accepted once: a reconnect needs a new one.
    let used = tokens[0].clone();
    let url = app.sim.endpoint().replacen("http", "ws", 1);
    let mut again = format!("{url}/").into_client_request().unwrap();
    again
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", used.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(again).await.is_err());
    tokens.push(token_for(&app, &minter, &id, "member", &["SEND_MESSAGE"]).await);
    let mut back = connect(&app, &tokens[2]).await;
    send(
        &mut back,
        json!({"Action": "SEND_MESSAGE", "RequestId": "m2", "Content": "sorry"}),
    )
    .await;
    let heard = frame_where(&mut viewer, |f| f["Type"] == "MESSAGE").await;
    assert_eq!(heard["Content"], "sorry");

    let log_text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(log_text.contains("chat-tokens"), "the logs were captured");
    for token in &tokens {
        assert!(
            !log_text.contains(token.as_str()),
            "a chat token is in the logs"
        );
    }
}

#[tokio::test]
async fn three_hundred_token_requests_in_a_second_are_paced_and_never_fail() {
    // A lower rate and budget than the defaults (200/s, 2 s), so that a second of requests
    // outruns them and the 429s show up; the pacing is the same at any rate.
    const RATE: f64 = 50.0;
    const BUDGET_MS: u64 = 1000;
    let app = TestApp::spawn_with_rates(RateSettings {
        ivschat_token_tps: RATE,
        chat_wait_budget_ms: BUDGET_MS,
        ..RateSettings::unlimited()
    })
    .await;
    let admin = app.admin_key().await;
    let id = ready_chat_channel(&app, &admin, "acme", "yoga").await;
    let calls = || async {
        let url = format!("{}/_sim/calls", app.sim.endpoint());
        let counts: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        counts["ivschat:CreateChatToken"].as_u64().unwrap_or(0)
    };
    let before = calls().await;

    let start = Instant::now();
    let requests = (0..300u64).map(|i| {
        let (app, admin, id) = (&app, &admin, &id);
        async move {
            tokio::time::sleep(Duration::from_micros(i * 1_000_000 / 300)).await;
            let body = json!({"user_id": format!("member-{i}")});
            chat_token(app, admin, id, &body).await
        }
    });
    let replies: Vec<Reply> = futures::future::join_all(requests).await;
    let elapsed = start.elapsed();
    let made = calls().await - before;

    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let limited: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    let other: Vec<String> = replies
        .iter()
        .filter(|r| r.status != StatusCode::OK && r.status != StatusCode::TOO_MANY_REQUESTS)
        .map(|r| format!("{}: {}", r.status, r.text))
        .collect();
    assert!(other.is_empty(), "only tokens and 429s: {other:?}");
    assert_eq!(
        ok as u64, made,
        "one CreateChatToken per token, none per 429"
    );
    let allowed = RATE * elapsed.as_secs_f64() + 1.0;
    assert!(
        (made as f64) <= allowed,
        "{made} CreateChatToken calls in {elapsed:?} exceed {RATE}/s"
    );
    assert!(
        !limited.is_empty(),
        "a second of requests outruns {RATE}/s plus the budget"
    );
    for reply in &limited {
        let problem = reply.problem(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(problem["type"], "urn:ivs-provisioner:problem:rate-limited");
        let retry_after: u64 = reply
            .header("retry-after")
            .expect("Retry-After on every 429")
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }
    println!(
        "300 chat-token requests over 1 s at {RATE}/s, budget {BUDGET_MS} ms: {ok} tokens, \
         {} answered 429, {made} CreateChatToken calls in {elapsed:?}",
        limited.len()
    );
}
