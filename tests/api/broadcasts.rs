//! Broadcasts and recordings over HTTP: a channel's sessions and recordings newest first with
//! cursor pagination, the operator-wide recordings list and its filters, tenant isolation, a
//! deleted channel's history, and the channel's `stream` section from its open session. The
//! facts are recorded the way the intake and the sweep record them (`db::broadcasts`); the
//! intake itself is tested end to end in `tests/broadcasts.rs`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ivs_provisioner::db;
use ivs_provisioner::domain::api_key::Scope;
use ivs_provisioner::domain::broadcast::{
    FactSource, HealthChange, RecordingFact, RecordingStatus, SessionFact, StreamHealth,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0).unwrap()
}

/// A ready channel of `tenant`; returns its id and the facts' view of it.
async fn ready_channel(
    app: &TestApp,
    key: &str,
    tenant: &str,
    name: &str,
) -> (String, db::broadcasts::BroadcastChannel) {
    let created = app
        .create_channel(key, &json!({"tenant": tenant, "name": name}))
        .await;
    app.reconcile().await;
    let id = created["id"].as_str().unwrap().to_owned();
    let arn: String =
        sqlx::query_scalar("select outputs ->> 'channel_arn' from channels where id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let channel = db::broadcasts::channel_by_arn(&app.pool, &arn)
        .await
        .unwrap()
        .unwrap();
    (id, channel)
}

async fn session(
    app: &TestApp,
    channel: &db::broadcasts::BroadcastChannel,
    stream_id: &str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) {
    let fact = SessionFact {
        started_at: start,
        ended_at: end,
        health: start
            .map(|at| {
                vec![HealthChange {
                    at,
                    state: StreamHealth::Starving,
                }]
            })
            .unwrap_or_default(),
        ..SessionFact::new(stream_id)
    };
    let mut tx = app.pool.begin().await.unwrap();
    db::broadcasts::record_session_fact(&mut tx, channel, &fact, FactSource::Event)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn recording(
    app: &TestApp,
    channel: &db::broadcasts::BroadcastChannel,
    recording_id: &str,
    status: RecordingStatus,
    start: DateTime<Utc>,
) {
    let prefix = format!("ivs/v1/123456789012/abc/2026/12/1/0/0/{recording_id}");
    let fact = RecordingFact {
        recording_id: recording_id.into(),
        status,
        reason: (status == RecordingStatus::Failed).then(|| "InternalServerException".into()),
        started_at: Some(start),
        ended_at: Some(start + Duration::hours(1)),
        duration_ms: Some(3_600_000),
        bucket: Some("acme-recordings".into()),
        master_playlist_key: Some(format!("{prefix}/media/hls/master.m3u8")),
        prefix: Some(prefix),
        byte_range_playlist_key: None,
        renditions: None,
        thumbnails_prefix: None,
        stream_ids: vec![format!("st-{recording_id}")],
        recording_session_id: None,
    };
    let mut tx = app.pool.begin().await.unwrap();
    db::broadcasts::record_recording_fact(&mut tx, channel, &fact, FactSource::Sweep)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn ids(pages: &[Vec<Value>], field: &str) -> Vec<String> {
    pages
        .iter()
        .flatten()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sessions_are_listed_newest_first_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let (id, channel) = ready_channel(&app, &admin, "acme", "yoga").await;
    // Five sessions; the newest is live, one is known only by its end so far.
    for hour in 1..=3 {
        let stream = format!("st-{hour}");
        session(
            &app,
            &channel,
            &stream,
            Some(at(hour)),
            Some(at(hour) + Duration::minutes(30)),
        )
        .await;
    }
    session(&app, &channel, "st-ended-only", None, Some(at(4))).await;
    session(&app, &channel, "st-live", Some(at(5)), None).await;

    let path = format!("/v1/channels/{id}/sessions");
    let pages = app.pages(&admin, &path, "limit=2").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(
        ids(&pages, "stream_id"),
        ["st-live", "st-ended-only", "st-3", "st-2", "st-1"]
    );
    let live = &pages[0][0];
    assert_eq!(live["ended_at"], Value::Null);
    assert_eq!(live["health_changes"][0]["state"], "starving");
    assert_eq!(pages[0][1]["started_at"], Value::Null);

    // The channel's stream section comes from the open session, without asking IVS.
    let channel_view = app.get(&format!("/v1/channels/{id}"), &admin).await.json();
    assert_eq!(channel_view["stream"]["state"], "live");
    assert_eq!(channel_view["stream"]["stream_id"], "st-live");
    assert_eq!(channel_view["stream"]["health"], "STARVING");

    // Bad paging is a problem, never a 500.
    app.get(&format!("{path}?cursor=bm90LWEtY3Vyc29y"), &admin)
        .await
        .problem(StatusCode::BAD_REQUEST);
    let reply = app.get(&format!("{path}?limit=0"), &admin).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["limit"]);
}

#[tokio::test]
async fn recordings_are_listed_per_channel_and_operator_wide_with_filters() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let (yoga, yoga_facts) = ready_channel(&app, &admin, "acme", "yoga").await;
    let (_spin, spin_facts) = ready_channel(&app, &admin, "globex", "spin").await;
    recording(&app, &yoga_facts, "rec-a", RecordingStatus::Ready, at(1)).await;
    recording(&app, &yoga_facts, "rec-b", RecordingStatus::Failed, at(2)).await;
    recording(
        &app,
        &yoga_facts,
        "rec-c",
        RecordingStatus::Recording,
        at(3),
    )
    .await;
    recording(&app, &spin_facts, "rec-d", RecordingStatus::Ready, at(4)).await;

    let pages = app
        .pages(
            &admin,
            &format!("/v1/channels/{yoga}/recordings"),
            "limit=2",
        )
        .await;
    assert_eq!(ids(&pages, "recording_id"), ["rec-c", "rec-b", "rec-a"]);
    let failed = &pages[0][1];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["reason"], "InternalServerException");
    assert_eq!(failed["bucket"], "acme-recordings");
    assert!(
        failed["master_playlist_key"]
            .as_str()
            .unwrap()
            .ends_with("/rec-b/media/hls/master.m3u8")
    );

    let all = app.pages(&admin, "/v1/recordings", "limit=3").await;
    assert_eq!(
        ids(&all, "recording_id"),
        ["rec-d", "rec-c", "rec-b", "rec-a"]
    );
    let list = |query: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            ids(
                &app.pages(admin, "/v1/recordings", query).await,
                "recording_id",
            )
        }
    };
    assert_eq!(list("tenant=acme&status=ready").await, ["rec-a"]);
    assert_eq!(list("status=ready").await, ["rec-d", "rec-a"]);
    assert_eq!(
        list("since=2026-12-01T02:00:00Z").await,
        ["rec-d", "rec-c", "rec-b"]
    );
    let by_channel = format!("channel_id={yoga}&status=recording");
    assert_eq!(
        ids(
            &app.pages(&admin, "/v1/recordings", &by_channel).await,
            "recording_id"
        ),
        ["rec-c"]
    );

    // Bad filters are named.
    let reply = app.get("/v1/recordings?tenant=ac%0Ame", &admin).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["tenant"]);
    app.get("/v1/recordings?status=lost", &admin)
        .await
        .problem(StatusCode::BAD_REQUEST);
    app.get("/v1/recordings?since=yesterday", &admin)
        .await
        .problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tenants_see_only_their_own_and_history_outlives_the_channel() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let (yoga, yoga_facts) = ready_channel(&app, &admin, "acme", "yoga").await;
    let (spin, spin_facts) = ready_channel(&app, &admin, "globex", "spin").await;
    recording(&app, &yoga_facts, "rec-a", RecordingStatus::Ready, at(1)).await;
    recording(&app, &spin_facts, "rec-g", RecordingStatus::Ready, at(2)).await;
    session(&app, &spin_facts, "st-g", Some(at(2)), None).await;

    let acme = app.key(&[Scope::ChannelsRead], Some("acme")).await;
    // Another tenant's channel is 404, as for every channel endpoint.
    for path in [
        format!("/v1/channels/{spin}/sessions"),
        format!("/v1/channels/{spin}/recordings"),
    ] {
        app.get(&path, &acme).await.problem(StatusCode::NOT_FOUND);
    }
    // Operator-wide, a tenant-bound key sees its tenant only, whatever it asks for.
    let mine = app.pages(&acme, "/v1/recordings", "").await;
    assert_eq!(ids(&mine, "recording_id"), ["rec-a"]);
    assert!(
        app.pages(&acme, "/v1/recordings", "tenant=globex")
            .await
            .iter()
            .all(Vec::is_empty)
    );
    let theirs = format!("channel_id={spin}");
    assert!(
        app.pages(&acme, "/v1/recordings", &theirs)
            .await
            .iter()
            .all(Vec::is_empty)
    );

    // A deleted channel's recordings and sessions stay readable, through the channel and
    // through the operator-wide list by channel id.
    app.mark_deleted(&yoga).await;
    let after = app
        .pages(&acme, &format!("/v1/channels/{yoga}/recordings"), "")
        .await;
    assert_eq!(ids(&after, "recording_id"), ["rec-a"]);
    let by_channel = format!("channel_id={yoga}");
    assert_eq!(
        ids(
            &app.pages(&acme, "/v1/recordings", &by_channel).await,
            "recording_id"
        ),
        ["rec-a"]
    );
    // Even with the channel's row gone (a retention job), by channel id.
    sqlx::query("delete from channels where id = $1::uuid")
        .bind(&yoga)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        ids(
            &app.pages(&admin, "/v1/recordings", &by_channel).await,
            "recording_id"
        ),
        ["rec-a"]
    );
}
