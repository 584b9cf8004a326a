//! Chat test hooks: `GET /_sim/chat/rooms/{id}/connections` (who is connected now) and
//! `GET /_sim/chat/rooms/{id}/messages` (every MESSAGE and EVENT the room carried, with a
//! `deleted` flag), where `{id}` is the room id or its URL-encoded ARN.

use axum::Router;
use axum::extract::{Json, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::ChatData;
use crate::ids::arn_id;
use crate::sim::Simulator;
use crate::wire::Protocol;

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route("/_sim/chat/rooms/{id}/connections", get(connections))
        .route("/_sim/chat/rooms/{id}/messages", get(messages))
}

/// `{roomArn, <key>: list}` for the room `id` names (an id or an ARN), or 404.
fn room_view(
    sim: &Simulator,
    id: &str,
    key: &str,
    list: impl Fn(&ChatData, &str) -> Vec<Value>,
) -> Response {
    let id = arn_id(id).to_owned();
    let view = sim.with_state(|state| {
        let chat = &state.data.chat;
        let arn = chat.rooms.keys().find(|arn| arn_id(arn) == id)?;
        Some(json!({ "roomArn": arn, key: list(chat, arn) }))
    });
    match view {
        Some(view) => Json(view).into_response(),
        None => super::not_found(&id).into_response(Protocol::RestJson),
    }
}

async fn connections(State(sim): State<Simulator>, Path(id): Path<String>) -> Response {
    room_view(&sim, &id, "connections", |chat, arn| {
        chat.connections
            .values()
            .filter(|c| c.room_arn == arn)
            .map(|c| json!(c))
            .collect()
    })
}

async fn messages(State(sim): State<Simulator>, Path(id): Path<String>) -> Response {
    room_view(&sim, &id, "messages", |chat, arn| {
        chat.transcript
            .iter()
            .filter(|said| said.room_arn == arn)
            .map(|said| json!({ "frame": said.frame, "deleted": said.deleted }))
            .collect()
    })
}
