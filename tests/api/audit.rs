//! The audit trail, `GET /v1/channels/{id}/events`: who did what and when, oldest first,
//! a page at a time.

use ivs_provisioner::domain::api_key::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, channel, id_of};

#[tokio::test]
async fn the_trail_records_create_update_and_delete_with_the_acting_key() {
    let app = TestApp::spawn().await;
    let booking = app
        .named_key("booking-service", &[Scope::ChannelsWrite], None)
        .await;
    let operator = app.named_key("operator-ana", &[Scope::Admin], None).await;
    let created = app.create_channel(&booking, &channel("acme", "c1")).await;
    let id = id_of(&created);
    let path = format!("/v1/channels/{id}");
    app.patch(&path, &operator, &json!({"type": "BASIC"})).await;
    app.delete(&path, &booking).await;

    let events = app.events(&operator, &id).await;

    let summary: Vec<(Value, Value)> = events
        .iter()
        .map(|e| (e["kind"].clone(), e["actor"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!("created"), json!("booking-service")),
            (json!("updated"), json!("operator-ana")),
            (json!("delete_requested"), json!("booking-service")),
        ]
    );
    assert_eq!(events[0]["details"]["spec"]["name"], "c1");
    assert_eq!(
        events[1]["details"]["changes"],
        json!([{"field": "/type", "from": "STANDARD", "to": "BASIC"}])
    );
    assert_eq!(events[1]["details"]["generation"], 2);
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");
}

#[tokio::test]
async fn the_trail_is_paginated() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    let id = id_of(&created);
    for window in 1..=4 {
        let patch =
            json!({"recording": {"s3_bucket_name": "b-1", "reconnect_window_seconds": window}});
        let reply = app.patch(&format!("/v1/channels/{id}"), &key, &patch).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    }

    let pages: Vec<Vec<Value>> = app
        .pages(&key, &format!("/v1/channels/{id}/events"), "limit=2")
        .await
        .iter()
        .map(|page| {
            page.iter()
                .map(|e| json!([e["kind"], e["details"]["generation"]]))
                .collect()
        })
        .collect();

    assert_eq!(
        pages,
        vec![
            vec![json!(["created", null]), json!(["updated", 2])],
            vec![json!(["updated", 3]), json!(["updated", 4])],
            vec![json!(["updated", 5])],
        ]
    );
}

#[tokio::test]
async fn a_refused_change_leaves_no_trace() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let reader = app.key(&[Scope::ChannelsRead], None).await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    let id = id_of(&created);
    let path = format!("/v1/channels/{id}");

    app.patch(&path, &key, &json!({"type": "HUGE"})).await;
    app.patch(&path, &reader, &json!({"type": "BASIC"})).await;
    app.delete(&path, &reader).await;
    app.post("/v1/channels", &key, &channel("acme", "c1")).await;

    let kinds: Vec<Value> = app
        .events(&key, &id)
        .await
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("created")]);
}
