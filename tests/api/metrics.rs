//! `GET /metrics`: Prometheus text with HTTP requests by route and status, and channels by phase.

use crate::helpers::{TestApp, channel};

#[tokio::test]
async fn metrics_count_requests_by_route_and_channels_by_phase() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    app.create_channel(&key, &channel("m", "metered")).await;
    app.get("/v1/channels", &key).await;

    let reply = app
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = reply.text().await.unwrap();

    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/v1/channels",status="202"}"#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains(r#"channels{phase="pending"} 1"#), "{text}");
    assert!(text.contains("reconciler_rows_waiting 1"), "{text}");
}
