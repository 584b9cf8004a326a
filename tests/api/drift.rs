//! `GET /v1/drift`: operators only; empty before the first sweep, then the latest sweep's findings.

use ivs_provisioner::domain::api_key::Scope;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::TestApp;

#[tokio::test]
async fn drift_is_for_operators_and_reports_the_latest_finished_sweep() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let reader = app.key(&[Scope::ChannelsRead], None).await;

    app.get("/v1/drift", &reader)
        .await
        .problem(StatusCode::FORBIDDEN);
    let empty = app.get("/v1/drift", &admin).await.json();
    assert!(empty["sweep"].is_null() && empty["findings"].as_array().unwrap().is_empty());

    let sweep = Uuid::now_v7();
    sqlx::query("insert into drift_sweeps (id, finished_at, channels_checked, ivs_channels_seen) values ($1, now(), 2, 3)")
        .bind(sweep)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("insert into drift_findings (sweep_id, kind, channel_arn) values ($1, 'orphan', 'arn:aws:ivs:us-east-1:1:channel/x')")
        .bind(sweep)
        .execute(&app.pool)
        .await
        .unwrap();
    let report = app.get("/v1/drift", &admin).await.json();
    assert_eq!(report["sweep"]["channels_checked"], 2);
    assert_eq!(report["findings"][0]["kind"], "orphan");
    assert!(report["findings"][0]["channel_id"].is_null());
}
