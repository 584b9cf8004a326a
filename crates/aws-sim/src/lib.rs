//! In-memory Amazon IVS, IVS Chat, SSM Parameter Store, SQS, EventBridge and S3 simulator
//! speaking the real wire protocols (IVS and IVS Chat restJson1, told apart by the SigV4 signing
//! service; SSM and EventBridge awsJson1.1, SQS awsJson1.0, S3 restXml path-style), so the
//! unmodified AWS SDKs talk to it over HTTP on one port, plus IVS Chat's messaging WebSocket on
//! `GET /` (token as `Sec-WebSocket-Protocol`). Embed it with [`spawn`] (or mount
//! [`Simulator::router`]); run it alone with the `aws-sim` binary. A fake broadcast produces IVS's
//! stream sessions, EventBridge events (routed by rules to SQS) and record-to-S3 objects.
//!
//! Admin hooks (JSON): `GET /_sim/state` (full dump), `POST /_sim/reset`,
//! `GET|POST|DELETE /_sim/faults` (`{"error_rate":0.1,"error_code":"ServiceUnavailable","latency_ms":50}`),
//! `POST /_sim/fail-next` (`{"operation":"CreateChannel","count":1,"error":"InternalServerException","mode":"apply_then_fail"}`),
//! `POST /_sim/rates` (`{"enabled":true,"scale":10}`), `GET /_sim/calls`, `GET /_sim/calls/log`,
//! `POST /_sim/broadcast/start` (`{"channelArn":"…","health":"HEALTHY","viewerCount":3}`),
//! `POST /_sim/broadcast/start` also takes `"recordingFailure":"start"|"end"`,
//! `POST /_sim/broadcast/stop` (`{"channelArn":"…"}`), `GET /_sim/health`,
//! `GET|POST|DELETE /_sim/events/faults` (`{"drop_rate":0.2,"duplicate_rate":0.2,"reorder":true,"delay_ms":500,"seed":7}`),
//! `POST /_sim/events/emit` (an EventBridge event; missing envelope fields filled in),
//! `POST /_sim/events/flush` (deliver held and delayed events), `GET /_sim/events` (each event's fate),
//! `GET /_sim/chat/rooms/{id}/connections` (who is connected to a chat room),
//! `GET /_sim/chat/rooms/{id}/messages` (every message and event the room carried).

mod admin;
mod call;
pub mod config;
mod events;
pub mod faults;
mod ids;
mod ivs;
mod ivschat;
pub mod model;
pub mod rates;
mod s3;
mod sim;
mod sqs;
mod ssm;
mod validate;
pub mod wire;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Quotas, RateSettings, SimConfig};
pub use faults::{FailMode, FailNext, FaultSettings};
pub use model::events::EventFaults;
pub use sim::{BroadcastSpec, Simulator};
pub use wire::ApiError;

impl Simulator {
    /// The HTTP surface: `/_sim/*` admin hooks, everything else is an AWS call.
    pub fn router(&self) -> Router {
        admin::routes()
            .merge(ivschat::routes())
            .fallback(aws_call)
            .with_state(self.clone())
    }
}

pub(crate) async fn aws_call(
    State(sim): State<Simulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = sim.config();
    let call = call::Call::new(
        &method,
        &uri,
        &headers,
        body,
        &config.account_id,
        &config.default_region,
    );
    sim.serve(call).await
}

/// A simulator serving HTTP in a background task. Dropping it shuts the server down.
pub struct RunningSim {
    pub addr: SocketAddr,
    pub simulator: Simulator,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`, ready for `AWS_ENDPOINT_URL` / `endpoint_url(..)`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts a simulator on 127.0.0.1 with an OS-chosen port.
pub async fn spawn(config: SimConfig) -> std::io::Result<RunningSim> {
    spawn_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Starts a simulator on `addr` (port 0 = any free port) in a tokio task.
pub async fn spawn_on(config: SimConfig, addr: SocketAddr) -> std::io::Result<RunningSim> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let simulator = Simulator::new(config);
    let router = simulator.router();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(err) = serve.await {
            tracing::error!(%err, "aws-sim server failed");
        }
    });
    Ok(RunningSim {
        addr,
        simulator,
        shutdown: Some(tx),
        task: Some(task),
    })
}
