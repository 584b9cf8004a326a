//! The pages every signed-in key sees (`channels:read`): the overview, the channel list and one
//! channel. Each reads what it shows with a few index-backed queries; nothing is cached.

use askama::Template;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use uuid::Uuid;

use super::ConsoleState;
use super::broadcasts::{self, RecordingLine, SessionLine};
use super::session::Session;
use super::view::{ConsoleError, ConsoleResult, Frame, Time, render, time};
use crate::actions;
use crate::db;
use crate::db::channels::ChannelRow;
use crate::domain::api_key::Scope;
use crate::domain::{LastError, Phase, page};
use crate::live::{StreamState, StreamStatus};

/// Channels per page of the list.
const PAGE: i64 = 50;
/// Failing channels, endpoints, events and deliveries shown at most.
const SHORT_LIST: i64 = 20;
const AUDIT_EVENTS: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    pub done: Option<String>,
}

/// A phase and how many live channels are in it.
pub struct PhaseCount {
    pub phase: &'static str,
    pub count: i64,
}

pub struct FailingRow {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub error: Option<ErrorView>,
    pub attempts: i32,
    pub since: Time,
}

pub struct ErrorView {
    pub code: String,
    pub message: String,
    pub at: Time,
}

impl From<LastError> for ErrorView {
    fn from(e: LastError) -> Self {
        ErrorView {
            code: e.code,
            message: e.message,
            at: e.at.into(),
        }
    }
}

pub struct LiveRow {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub health: String,
    pub viewers: i64,
    pub started: Option<Time>,
}

pub struct EndpointSummary {
    pub id: Uuid,
    pub url: String,
    pub tenant: String,
    pub failing_since: Option<Time>,
    pub disabled_reason: Option<String>,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    frame: Frame,
    phases: Vec<PhaseCount>,
    failing: Vec<FailingRow>,
    waiting: i64,
    throttled: u64,
    live: Result<Vec<LiveRow>, String>,
    /// None: the key may not see webhook endpoints.
    endpoints: Option<Vec<EndpointSummary>>,
    recordings: Vec<RecordingLine>,
}

pub async fn overview(
    State(state): State<ConsoleState>,
    session: Session,
    Query(q): Query<DoneQuery>,
) -> ConsoleResult {
    let caller = &session.caller;
    let tenant = caller.tenant.as_deref();
    let counts = db::console::count_by_phase(&state.pool, tenant).await?;
    let phases = Phase::LIVE
        .iter()
        .map(|phase| PhaseCount {
            phase: phase.as_str(),
            count: counts
                .iter()
                .find(|(p, _)| p == phase)
                .map_or(0, |(_, n)| *n),
        })
        .collect();
    let failing = db::console::failing(&state.pool, tenant, SHORT_LIST)
        .await?
        .into_iter()
        .map(|f| FailingRow {
            id: f.id,
            tenant: f.tenant,
            name: f.name,
            error: f.last_error.map(|e| e.0.into()),
            attempts: f.attempts,
            since: f.updated_at.into(),
        })
        .collect();
    let waiting = db::console::count_waiting(&state.pool, tenant).await?;
    let endpoints = match caller.allows(Scope::WebhooksManage) {
        false => None,
        true => Some(
            db::console::failing_endpoints(&state.pool, tenant, SHORT_LIST)
                .await?
                .into_iter()
                .map(|e| EndpointSummary {
                    id: e.id,
                    url: e.url,
                    tenant: e.tenant.unwrap_or_else(|| "all tenants".into()),
                    failing_since: time(e.failing_since),
                    disabled_reason: e.disabled_reason,
                })
                .collect(),
        ),
    };
    let page = OverviewPage {
        frame: Frame::new(&session, "overview")
            .live()
            .done(q.done.as_deref()),
        phases,
        failing,
        waiting,
        throttled: crate::metrics::throttles_last_hour(),
        live: live_now(&state, &session).await,
        endpoints,
        recordings: broadcasts::recent(&state, tenant).await?,
    };
    Ok(render(&page))
}

/// What is live now among the channels the session may see (IVS ListStreams, cached briefly).
async fn live_now(state: &ConsoleState, session: &Session) -> Result<Vec<LiveRow>, String> {
    let (_, live) = state
        .live
        .live_streams(&state.aws)
        .await
        .map_err(|e| format!("IVS could not list live streams: {e}"))?;
    let arns: Vec<String> = live.iter().map(|s| s.channel_arn.clone()).collect();
    let owners = db::channels::live_by_arns(&state.pool, &arns)
        .await
        .map_err(|e| format!("the database could not be read: {e}"))?;
    Ok(live
        .into_iter()
        .filter_map(|stream| {
            let owner = owners
                .iter()
                .find(|o| o.channel_arn == stream.channel_arn)?;
            session.caller.can_see(&owner.tenant).then(|| LiveRow {
                id: owner.id,
                tenant: owner.tenant.clone(),
                name: owner.name.clone(),
                health: stream.health.clone().unwrap_or_else(|| "UNKNOWN".into()),
                viewers: stream.viewer_count,
                started: time(stream.start_time),
            })
        })
        .collect())
}

#[derive(Debug, Deserialize)]
pub struct ChannelsQuery {
    tenant: Option<String>,
    phase: Option<String>,
    name_prefix: Option<String>,
    cursor: Option<String>,
}

pub struct ChannelLine {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub phase: &'static str,
    pub error: Option<String>,
    pub updated: Time,
}

#[derive(Template)]
#[template(path = "console/channels.html")]
struct ChannelsPage {
    frame: Frame,
    tenant: String,
    /// A key bound to a tenant filters by it, always.
    tenant_fixed: bool,
    phase: String,
    name_prefix: String,
    phases: Vec<&'static str>,
    rows: Vec<ChannelLine>,
    next: Option<String>,
    filtered: bool,
}

/// An empty form field is no filter.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub async fn channels(
    State(state): State<ConsoleState>,
    session: Session,
    Query(q): Query<ChannelsQuery>,
) -> ConsoleResult {
    let caller = &session.caller;
    let phase = match given(&q.phase) {
        None => None,
        Some(p) => Some(
            p.parse::<Phase>()
                .map_err(|_| ConsoleError::BadRequest(format!("unknown phase '{p}'")))?,
        ),
    };
    let after = match given(&q.cursor) {
        None => None,
        Some(c) => Some(page::decode::<Uuid>(c).ok_or_else(|| {
            ConsoleError::BadRequest("that page link is not one the console made".into())
        })?),
    };
    let asked_tenant = given(&q.tenant);
    let name_prefix = given(&q.name_prefix);
    for value in [asked_tenant, name_prefix].into_iter().flatten() {
        if value.chars().any(char::is_control) {
            return Err(ConsoleError::BadRequest(
                "filters cannot hold control characters".into(),
            ));
        }
    }
    let other_tenant = matches!(
        (caller.tenant.as_deref(), asked_tenant),
        (Some(own), Some(asked)) if own != asked
    );
    let filter = db::channels::ListFilter {
        tenant: caller.tenant.as_deref().or(asked_tenant),
        phase,
        name_prefix,
        include_deleted: false,
        after,
        limit: PAGE + 1,
    };
    let rows = match other_tenant {
        true => Vec::new(),
        false => db::channels::list(&state.pool, &filter).await?,
    };
    let (rows, next_cursor) = page::cut(rows, PAGE, |r| r.id);
    let next = next_cursor.map(|cursor| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("tenant", filter.tenant),
            ("phase", phase.map(Phase::as_str)),
            ("name_prefix", name_prefix),
            ("cursor", Some(cursor.as_str())),
        ] {
            if let Some(value) = value {
                query.append_pair(key, value);
            }
        }
        query.finish()
    });
    let page = ChannelsPage {
        frame: Frame::new(&session, "channels").live(),
        tenant: caller
            .tenant
            .clone()
            .or(asked_tenant.map(str::to_owned))
            .unwrap_or_default(),
        tenant_fixed: caller.tenant.is_some(),
        phase: phase.map(Phase::as_str).unwrap_or_default().to_owned(),
        name_prefix: name_prefix.unwrap_or_default().to_owned(),
        phases: Phase::LIVE.iter().map(|p| p.as_str()).collect(),
        rows: rows.into_iter().map(line).collect(),
        next,
        filtered: asked_tenant.is_some()
            || phase.is_some()
            || name_prefix.is_some()
            || after.is_some(),
    };
    Ok(render(&page))
}

fn line(row: ChannelRow) -> ChannelLine {
    ChannelLine {
        id: row.id,
        tenant: row.tenant,
        name: row.name,
        phase: row.phase.as_str(),
        error: row.last_error.map(|e| e.0.code),
        updated: row.updated_at.into(),
    }
}

/// One output of the channel, with the id its copy button names.
pub struct Output {
    pub label: &'static str,
    pub id: &'static str,
    pub value: Option<String>,
}

pub struct AuditLine {
    pub at: Time,
    pub actor: String,
    pub kind: String,
    pub details: String,
}

pub struct DeliveryLine {
    pub endpoint_id: Uuid,
    pub url: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub at: Time,
}

pub struct LiveView {
    pub state: &'static str,
    pub health: Option<String>,
    pub viewers: Option<i64>,
    pub started: Option<Time>,
    pub checked: Time,
    pub error: Option<String>,
}

impl From<StreamStatus> for LiveView {
    fn from(s: StreamStatus) -> Self {
        LiveView {
            state: match s.state {
                StreamState::Live => "live",
                StreamState::Offline => "offline",
                StreamState::Unknown => "unknown",
            },
            health: s.health,
            viewers: s.viewer_count,
            started: time(s.start_time),
            checked: s.checked_at.into(),
            error: s.error,
        }
    }
}

/// What the key may do to this channel now; each is offered only when allowed.
pub struct Allowed {
    pub retry: bool,
    pub rotate: bool,
    pub reveal: bool,
    pub delete: bool,
    pub mint: bool,
}

#[derive(Template)]
#[template(path = "console/channel.html")]
struct ChannelPage {
    frame: Frame,
    id: Uuid,
    tenant: String,
    name: String,
    phase: &'static str,
    generation: i64,
    observed_generation: i64,
    error: Option<ErrorView>,
    spec: String,
    created: Time,
    updated: Time,
    deleted: Option<Time>,
    delete_after: Option<Time>,
    outputs: Vec<Output>,
    live: Option<LiveView>,
    audit: Vec<AuditLine>,
    /// None: the key may not see webhook deliveries.
    deliveries: Option<Vec<DeliveryLine>>,
    allowed: Allowed,
    sessions: Vec<SessionLine>,
    recordings: Vec<RecordingLine>,
}

pub async fn channel(
    State(state): State<ConsoleState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> ConsoleResult {
    let id = parse_id(&id)?;
    let caller = &session.caller;
    let row = actions::visible_channel(&state.pool, caller, id).await?;
    let outputs = &row.outputs.0;
    let live = match (&outputs.channel_arn, row.deleted_at) {
        (Some(arn), None) => Some(state.live.stream(&state.aws, arn).await.into()),
        _ => None,
    };
    let audit = db::console::recent_events(&state.pool, id, AUDIT_EVENTS)
        .await?
        .into_iter()
        .map(|e| AuditLine {
            at: e.at.into(),
            actor: e.actor,
            kind: <&str>::from(e.kind).to_owned(),
            details: e.details.0.to_string(),
        })
        .collect();
    let deliveries = match caller.allows(Scope::WebhooksManage) {
        false => None,
        true => Some(
            db::console::channel_deliveries(&state.pool, id, caller.tenant.as_deref(), SHORT_LIST)
                .await?
                .into_iter()
                .map(|d| DeliveryLine {
                    endpoint_id: d.endpoint_id,
                    url: d.url,
                    event_type: d.event_type,
                    status: d.status,
                    attempts: d.attempts,
                    at: d.created_at.into(),
                })
                .collect(),
        ),
    };
    let (sessions, recordings) = broadcasts::of_channel(&state, id).await?;
    let phase = row.phase;
    let provisioned = outputs.channel_arn.is_some() && !phase.is_going();
    let spec = &row.spec.0;
    let allowed = Allowed {
        retry: caller.allows(Scope::Admin) && phase != Phase::Deleted,
        rotate: caller.allows(Scope::ChannelsWrite) && provisioned,
        reveal: caller.allows(Scope::StreamKeysRead) && provisioned,
        delete: caller.allows(Scope::ChannelsWrite) && !phase.is_going(),
        mint: caller.allows(Scope::TokensMint)
            && spec.authorized
            && spec.playback_public_key_pem.is_none()
            && phase.may_mint(),
    };
    let page = ChannelPage {
        frame: Frame::new(&session, "channels")
            .live()
            .done(q.done.as_deref()),
        id,
        tenant: row.tenant.clone(),
        name: row.name.clone(),
        phase: phase.as_str(),
        generation: row.generation,
        observed_generation: row.observed_generation,
        error: row.last_error.clone().map(|e| e.0.into()),
        spec: serde_json::to_string_pretty(&spec.to_request_json()).unwrap_or_default(),
        created: row.created_at.into(),
        updated: row.updated_at.into(),
        deleted: time(row.deleted_at),
        delete_after: time(row.delete_after),
        outputs: outputs_of(&row),
        live,
        audit,
        deliveries,
        allowed,
        sessions,
        recordings,
    };
    Ok(render(&page))
}

fn outputs_of(row: &ChannelRow) -> Vec<Output> {
    let o = &row.outputs.0;
    vec![
        Output {
            label: "Channel ARN",
            id: "out-arn",
            value: o.channel_arn.clone(),
        },
        Output {
            label: "Ingest endpoint",
            id: "out-ingest",
            value: o.ingest_endpoint.clone(),
        },
        Output {
            label: "RTMPS server URL",
            id: "out-rtmps",
            value: o
                .ingest_endpoint
                .as_ref()
                .map(|e| format!("rtmps://{e}:443/app/")),
        },
        Output {
            label: "Playback URL",
            id: "out-playback",
            value: o.playback_url.clone(),
        },
        Output {
            label: "Channel name in IVS",
            id: "out-name",
            value: o.channel_name.clone(),
        },
        Output {
            label: "Recording configuration ARN",
            id: "out-recording",
            value: o.recording_configuration_arn.clone(),
        },
        Output {
            label: "Playback key pair fingerprint",
            id: "out-fingerprint",
            value: o.playback_key_pair_fingerprint.clone(),
        },
    ]
}

/// An id from a URL; anything else names nothing.
pub fn parse_id(id: &str) -> Result<Uuid, ConsoleError> {
    id.parse()
        .map_err(|_| ConsoleError::NotFound("no such page".into()))
}
