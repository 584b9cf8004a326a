//! Test hooks under `/_sim` (a path no AWS operation uses): state dump, reset, faults, fail-next,
//! rates, fake broadcasts, call counts, and the event path's chaos, injection, flush and log.

use axum::Router;
use axum::extract::{Json, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::RateSettings;
use crate::faults::{FailNext, FaultSettings};
use crate::model::events::EventFaults;
use crate::sim::{BroadcastSpec, Simulator};
use crate::wire::{ApiError, Protocol};

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route(
            "/_sim/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/_sim/state", get(state))
        .route("/_sim/reset", post(reset))
        .route(
            "/_sim/faults",
            get(faults).post(set_faults).delete(clear_faults),
        )
        .route("/_sim/fail-next", post(fail_next))
        .route("/_sim/rates", post(set_rates))
        .route("/_sim/calls", get(calls))
        .route("/_sim/calls/log", get(call_log))
        .route("/_sim/broadcast/start", post(start_broadcast))
        .route("/_sim/broadcast/stop", post(stop_broadcast))
        .route("/_sim/events", get(event_log))
        .route(
            "/_sim/events/faults",
            get(event_faults)
                .post(set_event_faults)
                .delete(clear_event_faults),
        )
        .route("/_sim/events/emit", post(emit_event))
        .route("/_sim/events/flush", post(flush_events))
}

async fn event_log(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "events": sim.event_log() }))
}

async fn event_faults(State(sim): State<Simulator>) -> Json<EventFaults> {
    Json(sim.event_faults())
}

async fn set_event_faults(
    State(sim): State<Simulator>,
    Json(faults): Json<EventFaults>,
) -> Json<EventFaults> {
    sim.set_event_faults(faults.clone());
    Json(faults)
}

async fn clear_event_faults(State(sim): State<Simulator>) -> Json<Value> {
    sim.set_event_faults(EventFaults::default());
    Json(json!({ "status": "ok" }))
}

async fn emit_event(State(sim): State<Simulator>, Json(event): Json<Value>) -> Response {
    if !event.is_object() || !event["detail"].is_object() {
        let err = ApiError::validation("an event is a JSON object with a `detail` object");
        return err.into_response(Protocol::RestJson);
    }
    Json(json!({ "event": sim.emit_event(event) })).into_response()
}

async fn flush_events(State(sim): State<Simulator>) -> Json<Value> {
    sim.flush_events();
    Json(json!({ "status": "ok" }))
}

async fn state(State(sim): State<Simulator>) -> Json<Value> {
    Json(sim.dump())
}

async fn reset(State(sim): State<Simulator>) -> Json<Value> {
    sim.reset();
    Json(json!({ "status": "ok" }))
}

async fn faults(State(sim): State<Simulator>) -> Json<FaultSettings> {
    Json(sim.faults())
}

async fn set_faults(
    State(sim): State<Simulator>,
    Json(faults): Json<FaultSettings>,
) -> Json<FaultSettings> {
    sim.set_faults(faults.clone());
    Json(faults)
}

async fn clear_faults(State(sim): State<Simulator>) -> Json<Value> {
    sim.clear_faults();
    Json(json!({ "status": "ok" }))
}

async fn fail_next(State(sim): State<Simulator>, Json(rule): Json<FailNext>) -> Json<FailNext> {
    sim.push_fail_next(rule.clone());
    Json(rule)
}

async fn set_rates(
    State(sim): State<Simulator>,
    Json(rates): Json<RateSettings>,
) -> Json<RateSettings> {
    sim.set_rates(rates.clone());
    Json(rates)
}

async fn calls(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!(sim.call_counts()))
}

async fn call_log(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "calls": sim.call_log() }))
}

async fn start_broadcast(
    State(sim): State<Simulator>,
    Json(spec): Json<BroadcastSpec>,
) -> Response {
    match sim.start_broadcast(spec) {
        Ok(stream) => Json(json!({ "stream": stream })).into_response(),
        Err(err) => err.into_response(Protocol::RestJson),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopInput {
    channel_arn: String,
}

async fn stop_broadcast(State(sim): State<Simulator>, Json(input): Json<StopInput>) -> Response {
    if sim.stop_broadcast(&input.channel_arn) {
        (StatusCode::OK, Json(json!({ "status": "stopped" }))).into_response()
    } else {
        let err = ApiError::new(
            "ChannelNotBroadcasting",
            format!("Channel {} is not broadcasting", input.channel_arn),
        );
        err.into_response(Protocol::RestJson)
    }
}
