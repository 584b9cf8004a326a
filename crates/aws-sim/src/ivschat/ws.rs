//! The IVS Chat messaging WebSocket on `GET /` (AWS serves it at
//! `wss://edge.ivschat.<region>.amazonaws.com`, path `/`). The chat token is the value of
//! `Sec-WebSocket-Protocol` and is echoed back, as the real endpoint does; a missing, unknown,
//! used or expired token is refused before the upgrade (HTTP 401), a token of a deleted room
//! with 404, a connection over the regional quota with 429. Each connection is one task that
//! forwards what the room pushes, performs the client's actions and closes at session expiry.

use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::hub::{Action, Refusal, error_frame};
use super::model::{Connection, Grant, Push};
use super::parse_arn;
use crate::ids::alnum;
use crate::model::State as Account;
use crate::sim::Simulator;

/// `GET /` upgrades to the messaging WebSocket; every other method on `/` is an AWS call (SSM).
pub fn routes() -> Router<Simulator> {
    Router::new().route("/", get(connect).fallback(crate::aws_call))
}

async fn connect(
    State(sim): State<Simulator>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(mut upgrade) = upgrade else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "GET / is the IVS Chat messaging WebSocket: send a WebSocket upgrade with the chat token as Sec-WebSocket-Protocol",
        );
    };
    let token = upgrade
        .requested_protocols()
        .next()
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let admitted = sim.with_state(|state| admit(state, token.as_deref()));
    let grant = match admitted {
        Ok(grant) => grant,
        Err((status, message)) => return refusal(status, message),
    };
    if let Some(protocol) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        upgrade.set_selected_protocol(protocol);
    }
    // Registered before the 101 goes out, so the room (and the admin hook) sees the member as
    // soon as its client does; a failed upgrade drops the registration with the callback.
    let (registration, pushes) = register(&sim, &grant);
    let session_end = tokio::time::Instant::from_std(grant.session_ends_at);
    upgrade.on_upgrade(move |socket| serve(socket, registration, pushes, session_end))
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// Takes the token's grant (tokens are single use) if it may still open a connection.
fn admit(state: &mut Account, token: Option<&str>) -> Result<Grant, (StatusCode, &'static str)> {
    let unauthorized = StatusCode::UNAUTHORIZED;
    let token = token.ok_or((unauthorized, "The chat token is missing"))?;
    let chat = &mut state.data.chat;
    let grant = chat.grants.remove(token).ok_or((
        unauthorized,
        "The chat token is unknown or was already used",
    ))?;
    if Instant::now() >= grant.expires_at {
        return Err((unauthorized, "The chat token has expired"));
    }
    if !chat.rooms.contains_key(&grant.room_arn) {
        return Err((StatusCode::NOT_FOUND, "The room does not exist"));
    }
    let region = parse_arn(&grant.room_arn).map(|(region, ..)| region);
    let open = chat
        .connections
        .values()
        .filter(|c| parse_arn(&c.room_arn).map(|(r, ..)| r) == region)
        .count();
    if open >= state.config.quotas.chat_connections {
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            "The concurrent chat connections quota is reached",
        ));
    }
    Ok(grant)
}

/// Removes the connection from the room when its task ends, however it ends.
struct Registration {
    sim: Simulator,
    id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let id = self.id.clone();
        self.sim
            .with_state(|state| state.data.chat.connections.remove(&id));
    }
}

fn register(sim: &Simulator, grant: &Grant) -> (Registration, UnboundedReceiver<Push>) {
    let (tx, rx) = unbounded_channel();
    let connection = Connection {
        id: alnum(12),
        room_arn: grant.room_arn.clone(),
        user_id: grant.user_id.clone(),
        capabilities: grant.capabilities.clone(),
        attributes: grant.attributes.clone(),
        connected_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        session_expiration_time: grant.session_expiration_time.clone(),
        tx,
    };
    let id = connection.id.clone();
    sim.with_state(|state| {
        let chat = &mut state.data.chat;
        // A room deleted during the handshake: the queue closes at once and so does the socket.
        if chat.rooms.contains_key(&connection.room_arn) {
            chat.connections.insert(connection.id.clone(), connection);
        }
    });
    let registration = Registration {
        sim: sim.clone(),
        id,
    };
    (registration, rx)
}

async fn serve(
    mut socket: WebSocket,
    registration: Registration,
    mut pushes: UnboundedReceiver<Push>,
    session_end: tokio::time::Instant,
) {
    let sim = registration.sim.clone();
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let error = act(&sim, &registration.id, text.as_str());
                    if let Some(error) = error && send(&mut socket, &error).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            push = pushes.recv() => match push {
                Some(Push::Frame(frame)) => {
                    if send(&mut socket, &frame).await.is_err() {
                        break;
                    }
                }
                Some(Push::Close(reason)) => {
                    close(&mut socket, &reason).await;
                    break;
                }
                None => {
                    close(&mut socket, "The connection was removed").await;
                    break;
                }
            },
            () = tokio::time::sleep_until(session_end) => {
                close(&mut socket, "The chat session expired").await;
                break;
            }
        }
    }
    drop(registration);
}

/// Performs one client frame; returns the ERROR frame for the sender, if any.
fn act(sim: &Simulator, connection: &str, text: &str) -> Option<Value> {
    let action: Action = match serde_json::from_str(text) {
        Ok(action) => action,
        Err(err) => {
            let refusal = Refusal(400, format!("The request is not valid JSON: {err}"));
            return Some(error_frame(&refusal, None));
        }
    };
    let request_id = action.request_id.as_deref();
    // DeleteMessage and DisconnectUser share their per-account rate with the API calls.
    let bucket = match action.action.as_deref() {
        Some("DELETE_MESSAGE") => Some("ivschat:DeleteMessage"),
        Some("DISCONNECT_USER") => Some("ivschat:DisconnectUser"),
        _ => None,
    };
    if bucket.is_some_and(|action| !sim.allow_rate(action)) {
        let refusal = Refusal(429, "Rate exceeded".into());
        return Some(error_frame(&refusal, request_id));
    }
    let result = sim.with_state(|state| state.data.chat.perform(connection, &action));
    result
        .err()
        .map(|refusal| error_frame(&refusal, request_id))
}

async fn send(socket: &mut WebSocket, frame: &Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(frame.to_string().into())).await
}

/// A normal closure (1000) carrying why.
async fn close(socket: &mut WebSocket, reason: &str) {
    let frame = CloseFrame {
        code: 1000,
        reason: reason.chars().take(120).collect::<String>().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
