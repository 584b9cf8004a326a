//! The operator pages beyond channels: drift findings and playback keys (`admin`, as in the
//! API), and webhook endpoints with their deliveries, retry and replay (`webhooks:manage`; a
//! tenant-bound key sees its tenant's endpoints only).

use askama::Template;
use axum::extract::{Path, Query, State};
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::ConsoleState;
use super::pages::{DoneQuery, parse_id};
use super::security::{Action, NoFields};
use super::session::Session;
use super::view::{ConsoleError, ConsoleResult, Frame, Time, render, see_other, time};
use crate::actions;
use crate::db;
use crate::domain::api_key::Scope;
use crate::domain::page;
use crate::playback_keys::{KeyError, lifecycle};

const ENDPOINTS_PAGE: i64 = 50;
const DELIVERIES_PAGE: i64 = 50;

pub struct FindingLine {
    pub found: Time,
    pub kind: &'static str,
    pub channel_id: Option<Uuid>,
    pub channel_arn: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "console/drift.html")]
struct DriftPage {
    frame: Frame,
    sweep: Option<SweepView>,
    findings: Vec<FindingLine>,
}

pub struct SweepView {
    pub started: Time,
    pub finished: Option<Time>,
    pub checked: i32,
    pub seen: i32,
}

pub async fn drift(State(state): State<ConsoleState>, session: Session) -> ConsoleResult {
    session.caller.require(Scope::Admin)?;
    let (sweep, found) = db::drift::latest_report(&state.pool).await?;
    let findings = found
        .into_iter()
        .map(|f| FindingLine {
            found: f.found_at.into(),
            kind: f.kind.into(),
            channel_id: f.channel_id,
            channel_arn: f.channel_arn,
            details: f.details.0.to_string(),
        })
        .collect();
    let page = DriftPage {
        frame: Frame::new(&session, "drift"),
        sweep: sweep.map(|s| SweepView {
            started: s.started_at.into(),
            finished: time(s.finished_at),
            checked: s.channels_checked,
            seen: s.ivs_channels_seen,
        }),
        findings,
    };
    Ok(render(&page))
}

pub struct KeyLine {
    pub fingerprint: String,
    pub ivs_fingerprint: Option<String>,
    pub arn: Option<String>,
    pub source: &'static str,
    pub state: &'static str,
    pub signing: bool,
    pub created: Time,
    pub delete_after: Option<Time>,
}

#[derive(Template)]
#[template(path = "console/playback_keys.html")]
struct KeysPage {
    frame: Frame,
    keys: Vec<KeyLine>,
}

pub async fn playback_keys(
    State(state): State<ConsoleState>,
    session: Session,
    Query(q): Query<DoneQuery>,
) -> ConsoleResult {
    session.caller.require(Scope::Admin)?;
    let signer = state.tokens.ring.signer();
    let signing = signer.as_ref().map(|k| k.fingerprint.as_str());
    let keys = db::playback_keys::list(&state.pool)
        .await?
        .into_iter()
        .map(|k| KeyLine {
            signing: signing == Some(k.fingerprint.as_str()),
            fingerprint: k.fingerprint,
            ivs_fingerprint: k.ivs_fingerprint,
            arn: k.arn,
            source: k.source.into(),
            state: k.state.into(),
            created: k.created_at.into(),
            delete_after: time(k.delete_after),
        })
        .collect();
    let frame = Frame::new(&session, "playback-keys").done(q.done.as_deref());
    Ok(render(&KeysPage { frame, keys }))
}

pub async fn rotate_playback_key(
    State(state): State<ConsoleState>,
    action: Action<NoFields>,
) -> ConsoleResult {
    let caller = &action.session.caller;
    caller.require(Scope::Admin)?;
    let max_ttl = std::time::Duration::from_secs(state.tokens.limits.max_ttl_secs as u64);
    let row = lifecycle::rotate(&state.pool, &state.aws, &state.tokens.ring, max_ttl)
        .await
        .map_err(|e| match e {
            KeyError::Database(e) => e.into(),
            KeyError::Internal(e) => ConsoleError::Internal(e),
            KeyError::Aws(e) => ConsoleError::Unavailable(format!("AWS: {e}")),
            refused => ConsoleError::Conflict(refused.to_string()),
        })?;
    tracing::info!(actor = %caller.key_name, fingerprint = %row.fingerprint, "playback signing key rotated from the console");
    Ok(see_other("/playback-keys?done=rotate-key"))
}

pub struct EndpointLine {
    pub id: Uuid,
    pub url: String,
    pub tenant: String,
    pub description: String,
    pub event_types: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<Time>,
    pub last_success: Option<Time>,
}

impl From<db::webhooks::EndpointRow> for EndpointLine {
    fn from(e: db::webhooks::EndpointRow) -> Self {
        EndpointLine {
            id: e.id,
            url: e.url,
            tenant: e.tenant.unwrap_or_else(|| "all tenants".into()),
            description: e.description,
            event_types: match e.event_types.is_empty() {
                true => "every type".into(),
                false => e.event_types.join(", "),
            },
            disabled: e.disabled,
            disabled_reason: e.disabled_reason,
            failing_since: time(e.failing_since),
            last_success: time(e.last_success_at),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CursorQuery {
    cursor: Option<String>,
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct EndpointsPage {
    frame: Frame,
    endpoints: Vec<EndpointLine>,
    next: Option<String>,
}

fn cursor<C: page::Cursor>(cursor: &Option<String>) -> Result<Option<C>, ConsoleError> {
    match cursor.as_deref().filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => page::decode(c).map(Some).ok_or_else(|| {
            ConsoleError::BadRequest("that page link is not one the console made".into())
        }),
    }
}

pub async fn webhooks(
    State(state): State<ConsoleState>,
    session: Session,
    Query(q): Query<CursorQuery>,
) -> ConsoleResult {
    session.caller.require(Scope::WebhooksManage)?;
    let after = cursor::<Uuid>(&q.cursor)?;
    let tenant = session.caller.tenant.as_deref();
    let rows = db::webhooks::list_endpoints(&state.pool, tenant, after, ENDPOINTS_PAGE + 1).await?;
    let (rows, next) = page::cut(rows, ENDPOINTS_PAGE, |r| r.id);
    let page = EndpointsPage {
        frame: Frame::new(&session, "webhooks"),
        endpoints: rows.into_iter().map(EndpointLine::from).collect(),
        next,
    };
    Ok(render(&page))
}

pub struct DeliveryLine {
    pub id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub created: Time,
    pub next_attempt: Time,
    pub last_result: Option<String>,
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct EndpointPage {
    frame: Frame,
    endpoint: EndpointLine,
    deliveries: Vec<DeliveryLine>,
    next: Option<String>,
    /// The default of the replay form: an hour ago, UTC, as `datetime-local` writes it.
    since_default: String,
}

pub async fn webhook(
    State(state): State<ConsoleState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<CursorQuery>,
) -> ConsoleResult {
    let id = parse_id(&id)?;
    let endpoint = actions::visible_endpoint(&state.pool, &session.caller, id).await?;
    let before = cursor::<i64>(&q.cursor)?;
    let rows =
        db::webhooks::list_deliveries(&state.pool, id, None, before, DELIVERIES_PAGE + 1).await?;
    let (rows, next) = page::cut(rows, DELIVERIES_PAGE, |r| r.seq);
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts = db::webhooks::attempts_of(&state.pool, &ids).await?;
    let deliveries = rows
        .into_iter()
        .map(|d| {
            let last = attempts.iter().rev().find(|a| a.delivery_id == d.id);
            DeliveryLine {
                last_result: last.map(|a| match (a.http_status, &a.error) {
                    (Some(status), _) => format!("HTTP {status} in {} ms", a.duration_ms),
                    (None, Some(error)) => error.clone(),
                    (None, None) => "no answer".into(),
                }),
                id: d.id,
                event_id: d.event_id,
                event_type: d.event_type,
                status: d.status,
                attempts: d.attempts,
                created: d.created_at.into(),
                next_attempt: d.next_attempt_at.into(),
            }
        })
        .collect();
    let since = Utc::now() - chrono::Duration::hours(1);
    let page = EndpointPage {
        frame: Frame::new(&session, "webhooks").done(q.done.as_deref()),
        endpoint: endpoint.into(),
        deliveries,
        next,
        since_default: since.format("%Y-%m-%dT%H:%M").to_string(),
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    since: String,
}

/// Replays every event since a time (a `datetime-local` value, read as UTC).
pub async fn replay(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    action: Action<ReplayForm>,
) -> ConsoleResult {
    let id = parse_id(&id)?;
    let caller = &action.session.caller;
    caller.require(Scope::WebhooksManage)?;
    let since = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(action.form.since.trim(), format).ok())
        .map(|naive| naive.and_utc())
        .ok_or_else(|| {
            ConsoleError::Unprocessable(
                "give the time to replay from as YYYY-MM-DDTHH:MM (UTC)".into(),
            )
        })?;
    if since > Utc::now() {
        return Err(ConsoleError::Unprocessable(
            "the time to replay from must not be in the future".into(),
        ));
    }
    actions::replay_webhooks(&state.pool, caller, id, since).await?;
    Ok(see_other(&format!("/webhooks/{id}?done=replay")))
}

pub async fn retry_delivery(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    action: Action<NoFields>,
) -> ConsoleResult {
    let id = parse_id(&id)?;
    let row = actions::retry_delivery(&state.pool, &action.session.caller, id).await?;
    Ok(see_other(&format!(
        "/webhooks/{}?done=retry-delivery",
        row.endpoint_id
    )))
}
