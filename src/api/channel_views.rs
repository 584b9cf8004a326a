//! What the channel endpoints answer: a channel with its spec, status and live stream, pages of
//! channels and of audit events, and the leaf-level changes an update records.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::live::StreamStatus;
use crate::db::channels::ChannelRow;
use crate::domain::channel::ChannelSpec;
use crate::domain::{ChannelOutputs, EventKind, LastError, Phase};

#[derive(Debug, Serialize, ToSchema)]
pub struct Channel {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    /// The desired state, with every default filled in. `PATCH` applies a merge patch to it.
    pub spec: ChannelSpec,
    pub status: ChannelStatus,
    /// Live status from IVS, on `GET /v1/channels/{id}` for a provisioned channel (null elsewhere).
    pub stream: Option<StreamStatus>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelStatus {
    pub phase: Phase,
    /// Bumped by every accepted spec change.
    pub generation: i64,
    /// The generation the reconciler last made true in AWS.
    pub observed_generation: i64,
    pub outputs: ChannelOutputs,
    /// Why the channel is not where it should be, if it is not.
    pub last_error: Option<LastError>,
    /// The live window's gate, for a channel with a `live_window` (null otherwise).
    pub ingest: Option<IngestStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestStatus {
    /// Whether the channel has a stream key now (in IVS and SSM): true from the window's
    /// opening until its closing plus grace, once the reconciler has acted on it.
    pub open: bool,
    /// When the window next opens or closes (closing = `closes_at + grace_seconds`); null once
    /// it has closed.
    pub next_change_at: Option<DateTime<Utc>>,
}

impl IngestStatus {
    fn of(spec: &ChannelSpec, recorded_open: Option<bool>) -> Option<Self> {
        let window = spec.live_window?;
        Some(IngestStatus {
            open: recorded_open.unwrap_or(false),
            next_change_at: window.next_edge_after(Utc::now()),
        })
    }
}

impl From<ChannelRow> for Channel {
    fn from(row: ChannelRow) -> Self {
        let ingest = IngestStatus::of(&row.spec.0, row.ingest_open);
        Channel {
            id: row.id,
            tenant: row.tenant,
            name: row.name,
            spec: row.spec.0,
            status: ChannelStatus {
                phase: row.phase,
                generation: row.generation,
                observed_generation: row.observed_generation,
                outputs: row.outputs.0,
                last_error: row.last_error.map(|e| e.0),
                ingest,
            },
            stream: None,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelPage {
    pub items: Vec<Channel>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The API key name, or the service component, that acted.
    pub actor: String,
    pub kind: EventKind,
    /// What changed: for updates, `{"changes": [{"field", "from", "to"}]}`.
    pub details: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<ChannelEvent>,
    pub next_cursor: Option<String>,
}

/// The leaf-level differences between two JSON documents, as `{field, from, to}` entries.
pub fn json_changes(before: &Value, after: &Value) -> Vec<Value> {
    fn walk(pointer: String, a: &Value, b: &Value, out: &mut Vec<Value>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for key in keys {
                    let child = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    walk(
                        child,
                        x.get(key).unwrap_or(&Value::Null),
                        y.get(key).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(json!({ "field": pointer, "from": a, "to": b })),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), before, after, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_list_each_changed_leaf() {
        let a = json!({"latency_mode": "LOW", "tags": {"a": "1"}, "recording": null});
        let b = json!({"latency_mode": "NORMAL", "tags": {"a": "1", "b": "2"}, "recording": null});
        assert_eq!(
            json_changes(&a, &b),
            vec![
                json!({"field": "/latency_mode", "from": "LOW", "to": "NORMAL"}),
                json!({"field": "/tags/b", "from": null, "to": "2"}),
            ]
        );
    }
}
