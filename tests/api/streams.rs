//! Live status: `stream` on `GET /v1/channels/{id}` (GetStream, ChannelNotBroadcasting = offline)
//! and `GET /v1/streams` (ListStreams, filtered by tenant for tenant-bound keys).

use aws_sim::BroadcastSpec;
use ivs_provisioner::domain::api_key::Scope;

use crate::helpers::{TestApp, channel, id_of};

/// Declares a channel and gives it a real IVS channel in the test's simulator, as the
/// reconciler would.
async fn provisioned(app: &TestApp, key: &str, tenant: &str, name: &str) -> (String, String) {
    let id = id_of(&app.create_channel(key, &channel(tenant, name)).await);
    let out = app
        .raw_ivs()
        .await
        .create_channel()
        .name(name)
        .send()
        .await
        .unwrap();
    let arn = out.channel().and_then(|c| c.arn()).unwrap().to_owned();
    sqlx::query("update channels set phase = 'ready', outputs = jsonb_build_object('channel_arn', $2::text) where id = $1::uuid")
        .bind(&id)
        .bind(&arn)
        .execute(&app.pool)
        .await
        .unwrap();
    (id, arn)
}

#[tokio::test]
async fn a_channel_shows_whether_it_is_live_and_the_live_list_respects_tenants() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let (live_id, live_arn) = provisioned(&app, &admin, "gym", "morning").await;
    let (quiet_id, _) = provisioned(&app, &admin, "gym", "evening").await;
    let (_, other_arn) = provisioned(&app, &admin, "other", "show").await;
    let spec = |arn: &str| BroadcastSpec {
        viewer_count: 42,
        ..BroadcastSpec::new(arn)
    };
    app.sim.simulator.start_broadcast(spec(&live_arn)).unwrap();
    app.sim.simulator.start_broadcast(spec(&other_arn)).unwrap();

    let live = app
        .get(&format!("/v1/channels/{live_id}"), &admin)
        .await
        .json();
    assert_eq!(live["stream"]["state"], "live");
    assert_eq!(live["stream"]["viewer_count"], 42);
    assert_eq!(live["stream"]["health"], "HEALTHY");
    assert!(live["stream"]["start_time"].is_string() && live["stream"]["checked_at"].is_string());
    let quiet = app
        .get(&format!("/v1/channels/{quiet_id}"), &admin)
        .await
        .json();
    assert_eq!(
        quiet["stream"]["state"], "offline",
        "ChannelNotBroadcasting means offline"
    );

    let all = app.get("/v1/streams", &admin).await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let gym = app.key(&[Scope::ChannelsRead], Some("gym")).await;
    let mine = app.get("/v1/streams", &gym).await.json();
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0]["name"].as_str(), items[0]["viewer_count"].as_i64()),
        (Some("morning"), Some(42))
    );

    let calls = app.sim.simulator.calls_of("GetStream");
    app.get(&format!("/v1/channels/{live_id}"), &admin).await;
    assert_eq!(
        app.sim.simulator.calls_of("GetStream"),
        calls,
        "a fresh status is served from the cache"
    );
}
