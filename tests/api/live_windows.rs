//! Class live windows through HTTP: the window and the gate in the channel view, merge-patch
//! semantics (a field changed, the rest kept; null removes the window), every bad field of a
//! window in one 422, and the stream-key endpoint saying why there is no key before opening.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, channel, id_of, merged};

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("a time").parse().expect("RFC 3339")
}

#[tokio::test]
async fn a_live_window_is_shown_patched_like_any_field_and_removed_with_null() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let window = json!({"live_window": {"opens_at": at(Duration::hours(1)), "closes_at": at(Duration::hours(2))}});
    let created = app
        .create_channel(&key, &merged(&channel("gym", "spin"), &window))
        .await;
    let id = id_of(&created);
    let declared = &created["spec"]["live_window"];
    assert_eq!(declared["grace_seconds"], 300, "the default grace");
    assert_eq!(created["status"]["ingest"]["open"], false);
    assert_eq!(
        time(&created["status"]["ingest"]["next_change_at"]),
        time(&declared["opens_at"])
    );

    app.reconcile().await;
    let reply = app
        .get(&format!("/v1/channels/{id}/stream-key"), &key)
        .await;
    let problem = reply.problem(StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("ingest is closed"),
        "{problem}"
    );

    // One field of the window changes; the others stay.
    let path = format!("/v1/channels/{id}");
    let reply = app
        .patch(&path, &key, &json!({"live_window": {"grace_seconds": 60}}))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let patched = reply.json();
    assert_eq!(patched["spec"]["live_window"]["grace_seconds"], 60);
    assert_eq!(
        patched["spec"]["live_window"]["opens_at"],
        declared["opens_at"]
    );

    // Every bad field of the window at once, and nothing stored.
    let bad = json!({"live_window": {"opens_at": "soon", "closes_at": "2020-01-01T00:00:00Z", "grace_seconds": 3601}});
    let reply = app.patch(&path, &key, &bad).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = reply.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "/live_window/closes_at",
            "/live_window/grace_seconds",
            "/live_window/opens_at"
        ]
    );

    // Opened now: the reconciler creates the key, the view and the stream-key endpoint agree.
    let reply = app
        .patch(
            &path,
            &key,
            &json!({"live_window": {"opens_at": at(-Duration::minutes(1))}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    app.reconcile().await;
    let channel = app.get(&path, &key).await.json();
    assert_eq!(channel["status"]["ingest"]["open"], true, "{channel}");
    let closes = time(&channel["spec"]["live_window"]["closes_at"]) + Duration::seconds(60);
    assert_eq!(time(&channel["status"]["ingest"]["next_change_at"]), closes);
    let reply = app
        .get(&format!("/v1/channels/{id}/stream-key"), &key)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let kinds: Vec<Value> = app
        .events(&key, &id)
        .await
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert!(kinds.contains(&json!("ingest_opened")), "{kinds:?}");

    // Null removes the window: no gate any more.
    let reply = app.patch(&path, &key, &json!({"live_window": null})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let channel = reply.json();
    assert_eq!(channel["spec"]["live_window"], Value::Null);
    assert_eq!(channel["status"]["ingest"], Value::Null);
}
