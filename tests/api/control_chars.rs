//! Control characters (NUL above all, which Postgres text cannot hold) in any string the API
//! takes: a 422 naming the field, decided before anything is written or sent to AWS, the same in
//! the token and the revocation endpoints.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, full_channel, id_of, merged};
use crate::tokens::{mint, ready_private_channel};

/// Strings with a control character where none makes sense.
const BAD: [&str; 4] = ["member\u{0}4711", "member\n4711", "\u{1b}[2J", "tab\there"];

/// The reply is a 422 whose `errors` name `field` (or, with a trailing `/`, a field under it).
fn assert_names(reply: &Reply, field: &str, what: &str) {
    let body = reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors in {body}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap_or_default())
        .collect();
    let named = fields.iter().any(|f| match field.strip_suffix('/') {
        Some(parent) => f.starts_with(&format!("{parent}/")),
        None => *f == field,
    });
    assert!(named, "{what}: expected {field} among {fields:?}");
}

#[tokio::test]
async fn a_control_character_in_a_revocations_viewer_id_is_a_422_and_ivs_is_never_asked() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;
    let path = format!("/v1/channels/{id}/viewer-revocations");

    for viewer in BAD {
        let reply = app
            .post(
                &path,
                &admin,
                &json!({"viewer_id": viewer, "viewer_session_versions_less_than_or_equal_to": 0}),
            )
            .await;
        assert_names(&reply, "/viewer_id", &format!("revoking {viewer:?}"));
    }

    assert_eq!(
        app.sim.simulator.calls_of("StartViewerSessionRevocation"),
        0,
        "no revocation reached IVS"
    );
    let events = app.events(&admin, &id).await;
    assert!(
        events.iter().all(|e| e["kind"] != "viewer_session_revoked"),
        "{events:?}"
    );
    // The same endpoint still revokes a proper viewer id.
    let reply = app
        .post(&path, &admin, &json!({"viewer_id": "member-4711"}))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
}

#[tokio::test]
async fn a_control_character_in_a_tokens_viewer_id_is_a_422_and_nothing_is_signed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;

    for viewer in BAD {
        let reply = mint(&app, &admin, &id, &json!({"viewer_id": viewer})).await;
        assert_names(&reply, "/viewer_id", &format!("minting for {viewer:?}"));
    }
    let reply = mint(&app, &admin, &id, &json!({"viewer_id": "member-4711"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// Every string field of a channel request, as a JSON pointer and the request with a NUL in it.
fn requests_with_a_nul() -> Vec<(&'static str, Value)> {
    let base = full_channel("acme", "yoga");
    let nul = |s: &str| format!("{s}\u{0}");
    let pem = base["playback_public_key_pem"].as_str().unwrap();
    let recording = |field: &str, value: &str| {
        let mut recording = base["recording"].clone();
        recording[field] = json!(value);
        json!({ "recording": recording })
    };
    let with = |overrides: Value| merged(&base, &overrides);
    vec![
        ("/tenant", with(json!({"tenant": nul("acme")}))),
        ("/name", with(json!({"name": nul("yoga")}))),
        ("/type", with(json!({"type": nul("ADVANCED_HD")}))),
        (
            "/preset",
            with(json!({"preset": nul("CONSTRAINED_BANDWIDTH_DELIVERY")})),
        ),
        (
            "/latency_mode",
            with(json!({"latency_mode": nul("NORMAL")})),
        ),
        (
            "/playback_public_key_pem",
            with(json!({"playback_public_key_pem": pem.replacen('\n', "\n\u{0}", 2)})),
        ),
        (
            "/recording/s3_bucket_name",
            with(recording("s3_bucket_name", &nul("acme-class-recordings"))),
        ),
        (
            "/recording/thumbnail_recording_mode",
            with(recording("thumbnail_recording_mode", &nul("INTERVAL"))),
        ),
        (
            "/tags/",
            with(json!({"tags": {nul("Environment"): "test"}})),
        ),
        (
            "/tags/",
            with(json!({"tags": {"Environment": nul("test")}})),
        ),
        (
            "/delete_after",
            with(json!({"delete_after": nul("2999-01-01T00:00:00Z")})),
        ),
    ]
}

#[tokio::test]
async fn a_nul_in_any_string_field_of_a_channel_is_a_422_naming_it_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;

    for (field, body) in requests_with_a_nul() {
        let reply = app.post("/v1/channels", &admin, &body).await;
        assert_names(&reply, field, &format!("create with a NUL in {field}"));
    }
    assert_eq!(app.channel_rows("acme", "yoga").await, 0);

    // A change is validated the same way.
    let created = app
        .create_channel(&admin, &full_channel("acme", "yoga"))
        .await;
    let path = format!("/v1/channels/{}", id_of(&created));
    for (field, body) in requests_with_a_nul() {
        if field == "/tenant" || field == "/name" {
            continue; // they cannot change; a different value is refused for that
        }
        let reply = app.patch(&path, &admin, &body).await;
        assert_names(&reply, field, &format!("patch with a NUL in {field}"));
    }
    assert_eq!(app.sim.simulator.calls_of("CreateChannel"), 0);
}

#[tokio::test]
async fn a_control_character_in_a_list_filter_is_a_422_naming_the_filter() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;

    for (query, field) in [
        ("tenant=a%00b", "tenant"),
        ("name_prefix=%00", "name_prefix"),
        ("name_prefix=yoga%0A", "name_prefix"),
        ("tenant=acme%09", "tenant"),
    ] {
        let reply = app.get(&format!("/v1/channels?{query}"), &admin).await;
        assert_names(&reply, field, query);
    }
}
