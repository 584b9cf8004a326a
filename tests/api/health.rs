//! Probes, the served API reference and OpenAPI document, and request ids on every response.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;

use crate::helpers::{LIMITS, OPENAPI_PATH, TestApp, channel, client, send, serve};

#[tokio::test]
async fn healthz_and_readyz_answer_200_without_a_key() {
    let app = TestApp::spawn().await;

    let health = send(app.request(Method::GET, "/healthz")).await;
    let ready = send(app.request(Method::GET, "/readyz")).await;

    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    assert_eq!(health.json(), json!({"status": "ok"}));
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.json(), json!({"status": "ready"}));
}

#[tokio::test]
async fn readyz_is_a_503_problem_when_the_database_is_unreachable() {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/x")
        .expect("a lazy pool");
    let aws = ivs_provisioner::aws::Aws::for_local_endpoint(
        "http://127.0.0.1:1",
        "us-east-1",
        &ivs_provisioner::aws::RateSettings::unlimited(),
    )
    .await;
    let ring = ivs_provisioner::playback_keys::KeyRing::new(
        ivs_provisioner::playback_keys::KeySource::None,
    );
    let tokens = ivs_provisioner::playback_keys::Tokens::new(std::sync::Arc::new(ring), LIMITS);
    let (address, _stop) = serve(pool, aws, tokens).await;

    let ready = send(client().get(format!("{address}/readyz"))).await;
    let health = send(client().get(format!("{address}/healthz"))).await;

    ready.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        health.status,
        StatusCode::OK,
        "liveness does not depend on the database"
    );
}

#[tokio::test]
async fn the_api_reference_page_loads_no_script_from_another_host() {
    let app = TestApp::spawn().await;

    let page = send(app.request(Method::GET, "/docs/")).await;

    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        page.headers
    );
    let sources: Vec<&str> = page
        .text
        .split("<script")
        .skip(1)
        .filter_map(|tag| tag.split('>').next())
        .filter_map(|attributes| attributes.split("src=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(
        !sources.is_empty(),
        "the page loads its scripts: {}",
        page.text
    );
    for source in sources {
        assert!(
            !source.starts_with("http://")
                && !source.starts_with("https://")
                && !source.starts_with("//"),
            "script from another host: {source}"
        );
        let script = send(app.request(
            Method::GET,
            &format!("/docs/{}", source.trim_start_matches("./")),
        ))
        .await;
        assert_eq!(
            script.status,
            StatusCode::OK,
            "{source} is served by the app itself"
        );
    }
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let app = TestApp::spawn().await;
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(OPENAPI_PATH).expect("openapi/openapi.json is committed"),
    )
    .expect("the committed document is JSON");

    let served = send(app.request(Method::GET, "/openapi.json")).await;

    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.json(), committed);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;

    let replies = [
        send(app.request(Method::GET, "/healthz")).await,
        app.get("/v1/channels", &key).await,
        app.post("/v1/channels", &key, &channel("acme", "c1")).await,
        app.post("/v1/channels", &key, &json!({"tenant": "bad tenant"}))
            .await,
        send(app.request(Method::GET, "/v1/channels")).await,
        app.get("/nowhere", &key).await,
        send(app.request(Method::PUT, "/healthz")).await,
    ];
    let mut ids = std::collections::HashSet::new();
    for reply in &replies {
        let id = reply
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{} without x-request-id", reply.status));
        assert!(!id.is_empty());
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), replies.len(), "each request gets its own id");
}

#[tokio::test]
async fn a_request_id_sent_by_the_caller_is_echoed() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;

    let ok = send(
        app.request(Method::GET, "/v1/channels")
            .bearer_auth(&key)
            .header("x-request-id", "booking-42"),
    )
    .await;
    let error = send(
        app.request(Method::GET, "/v1/channels")
            .header("x-request-id", "booking-43"),
    )
    .await;

    assert_eq!(ok.header("x-request-id"), Some("booking-42"));
    assert_eq!(error.header("x-request-id"), Some("booking-43"));
}
