//! Chat tokens and moderation through the API: validation (one 422 naming every bad field),
//! scopes, tenant isolation, the 409s of a channel without chat or without its room yet, and the
//! audit entries of moderation. The end-to-end proof over the WebSocket is in `chat_room.rs`.

use ivs_provisioner::domain::api_key::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, channel, id_of, merged};

/// A channel of `tenant` declaring a chat room, reconciled until its room exists.
pub async fn ready_chat_channel(app: &TestApp, admin: &str, tenant: &str, name: &str) -> String {
    let id = id_of(&app.create_channel(admin, &chat_channel(tenant, name)).await);
    app.reconcile().await;
    let outputs =
        app.get(&format!("/v1/channels/{id}"), admin).await.json()["status"]["outputs"].clone();
    assert!(outputs["chat_room_arn"].is_string(), "{outputs}");
    id
}

pub fn chat_channel(tenant: &str, name: &str) -> Value {
    merged(&channel(tenant, name), &json!({"chat": {"enabled": true}}))
}

/// The audit kinds of moderation, in the order `moderation_calls` makes them.
const MODERATION_KINDS: [&str; 3] = [
    "chat_user_disconnected",
    "chat_message_deleted",
    "chat_event_sent",
];

fn is_moderation(event: &Value) -> bool {
    MODERATION_KINDS.contains(&event["kind"].as_str().unwrap_or_default())
}

pub async fn chat_token(app: &TestApp, key: &str, id: &str, body: &Value) -> Reply {
    app.post(&format!("/v1/channels/{id}/chat-tokens"), key, body)
        .await
}

/// The three moderation actions, each with a valid body.
fn moderation_calls(id: &str) -> [(String, Value); 3] {
    [
        (
            format!("/v1/channels/{id}/chat/disconnections"),
            json!({"user_id": "member-1", "reason": "spam"}),
        ),
        (
            format!("/v1/channels/{id}/chat/message-deletions"),
            json!({"message_id": "ABC123def456", "reason": "off topic"}),
        ),
        (
            format!("/v1/channels/{id}/chat/events"),
            json!({"event_name": "class_starts_soon", "attributes": {"minutes": "5"}}),
        ),
    ]
}

#[tokio::test]
async fn a_chat_token_names_its_expiry_and_is_not_cached() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_chat_channel(&app, &admin, "acme", "yoga").await;

    let reply = chat_token(
        &app,
        &admin,
        &id,
        &json!({"user_id": "member-1", "capabilities": ["SEND_MESSAGE"],
                "session_duration_minutes": 30, "attributes": {"display_name": "Ada"}}),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert!(!body["token"].as_str().unwrap().is_empty(), "{body}");
    let parse = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(body[field].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{field}: {e}"))
    };
    let session = parse("session_expires_at");
    assert!(parse("token_expires_at") <= session, "{body}");
    let minutes = (session.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((28..=30).contains(&minutes), "a 30-minute session: {body}");
    assert_eq!(
        reply
            .header("ratelimit-policy")
            .map(|p| p.starts_with("\"tokens\"")),
        Some(true),
        "chat tokens spend from the token budget"
    );
}

#[tokio::test]
async fn every_bad_field_of_a_chat_token_request_is_named_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_chat_channel(&app, &admin, "acme", "yoga").await;

    let reply = chat_token(
        &app,
        &admin,
        &id,
        &json!({"user_id": "x".repeat(129), "capabilities": ["SEND_MESSAGE", "SEND_MESSAGE"],
                "session_duration_minutes": 181, "attributes": {"bio": "y".repeat(1100)}}),
    )
    .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        [
            "/user_id",
            "/capabilities",
            "/session_duration_minutes",
            "/attributes"
        ]
    );
    for body in [
        json!({"user_id": "m", "session_duration_minutes": 0}),
        json!({"user_id": ""}),
        json!({"user_id": "m\u{0}"}),
    ] {
        let reply = chat_token(&app, &admin, &id, &body).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let unknown = chat_token(
        &app,
        &admin,
        &id,
        &json!({"user_id": "m", "capabilities": ["BAN_EVERYONE"]}),
    )
    .await;
    unknown.problem(StatusCode::BAD_REQUEST);
    let at_the_limits = chat_token(
        &app,
        &admin,
        &id,
        &json!({"user_id": "u".repeat(128), "session_duration_minutes": 180,
                "capabilities": ["SEND_MESSAGE", "DISCONNECT_USER", "DELETE_MESSAGE"],
                "attributes": {"k": "v".repeat(1023)}}),
    )
    .await;
    assert_eq!(
        at_the_limits.status,
        StatusCode::OK,
        "{}",
        at_the_limits.text
    );
}

#[tokio::test]
async fn every_bad_field_of_a_moderation_request_is_named_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_chat_channel(&app, &admin, "acme", "yoga").await;
    let long = "r".repeat(257);
    let cases = [
        (
            "chat/disconnections",
            json!({"user_id": "", "reason": long}),
            vec!["/user_id", "/reason"],
        ),
        (
            "chat/message-deletions",
            json!({"message_id": "too-short", "reason": ""}),
            vec!["/message_id", "/reason"],
        ),
        (
            "chat/events",
            json!({"event_name": "aws:DISCONNECT_USER", "attributes": {"k": "v".repeat(1024)}}),
            vec!["/event_name", "/attributes"],
        ),
    ];
    for (path, body, fields) in cases {
        let reply = app
            .post(&format!("/v1/channels/{id}/{path}"), &admin, &body)
            .await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), fields, "{path}");
    }
    assert!(
        app.events(&admin, &id)
            .await
            .iter()
            .all(|e| !is_moderation(e)),
        "nothing refused is audited"
    );
}

#[tokio::test]
async fn scopes_decide_who_mints_and_who_moderates() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_chat_channel(&app, &admin, "acme", "yoga").await;
    let minter = app.key(&[Scope::TokensMint], None).await;
    let moderator = app.key(&[Scope::ChatModerate], None).await;
    let reader = app
        .key(&[Scope::ChannelsRead, Scope::ChannelsWrite], None)
        .await;
    let member = json!({"user_id": "member-1"});

    chat_token(&app, &reader, &id, &member)
        .await
        .problem(StatusCode::FORBIDDEN);
    chat_token(&app, &moderator, &id, &member)
        .await
        .problem(StatusCode::FORBIDDEN);
    let minted = chat_token(&app, &minter, &id, &member).await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.text);
    for (path, body) in moderation_calls(&id) {
        for key in [&reader, &minter] {
            app.post(&path, key, &body)
                .await
                .problem(StatusCode::FORBIDDEN);
        }
        let done = app.post(&path, &moderator, &body).await;
        assert_eq!(done.status, StatusCode::OK, "{path}: {}", done.text);
    }
}

#[tokio::test]
async fn another_tenants_channel_is_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_chat_channel(&app, &admin, "acme", "yoga").await;
    let other = app
        .key(&[Scope::TokensMint, Scope::ChatModerate], Some("globex"))
        .await;
    let own = app
        .key(&[Scope::TokensMint, Scope::ChatModerate], Some("acme"))
        .await;

    chat_token(&app, &other, &id, &json!({"user_id": "m"}))
        .await
        .problem(StatusCode::NOT_FOUND);
    for (path, body) in moderation_calls(&id) {
        app.post(&path, &other, &body)
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    let missing = uuid::Uuid::new_v4();
    chat_token(&app, &own, &missing.to_string(), &json!({"user_id": "m"}))
        .await
        .problem(StatusCode::NOT_FOUND);
    let minted = chat_token(&app, &own, &id, &json!({"user_id": "m"})).await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.text);
}

#[tokio::test]
async fn a_channel_without_chat_or_without_its_room_yet_is_a_conflict() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let plain = id_of(&app.create_channel(&admin, &channel("acme", "plain")).await);
    app.reconcile().await;
    let waiting = id_of(
        &app.create_channel(&admin, &chat_channel("acme", "waiting"))
            .await,
    );

    let no_chat = chat_token(&app, &admin, &plain, &json!({"user_id": "m"})).await;
    let problem = no_chat.problem(StatusCode::CONFLICT);
    assert!(
        problem["detail"].as_str().unwrap().contains("no chat"),
        "{problem}"
    );
    let pending = chat_token(&app, &admin, &waiting, &json!({"user_id": "m"})).await;
    let problem = pending.problem(StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not provisioned yet (phase: pending)"),
        "{problem}"
    );
    for id in [&plain, &waiting] {
        for (path, body) in moderation_calls(id) {
            app.post(&path, &admin, &body)
                .await
                .problem(StatusCode::CONFLICT);
        }
    }
    assert_eq!(
        app.sim.simulator.calls_of("CreateChatToken"),
        0,
        "nothing was asked of IVS Chat"
    );
}

#[tokio::test]
async fn a_deleted_channel_is_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_chat_channel(&app, &admin, "acme", "yoga").await;
    app.delete(&format!("/v1/channels/{id}"), &admin).await;
    app.reconcile().await;

    chat_token(&app, &admin, &id, &json!({"user_id": "m"}))
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn each_moderation_action_is_audited_with_the_keys_name() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_chat_channel(&app, &admin, "acme", "yoga").await;
    let moderator = app
        .named_key("front-desk", &[Scope::ChatModerate], Some("acme"))
        .await;

    let mut answers = Vec::new();
    for (path, body) in moderation_calls(&id) {
        let done = app.post(&path, &moderator, &body).await;
        assert_eq!(done.status, StatusCode::OK, "{path}: {}", done.text);
        answers.push(done.json());
    }

    let events = app.events(&admin, &id).await;
    let chat: Vec<&Value> = events.iter().filter(|e| is_moderation(e)).collect();
    let kinds: Vec<&str> = chat.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, MODERATION_KINDS);
    assert!(chat.iter().all(|e| e["actor"] == "front-desk"), "{chat:?}");
    assert_eq!(chat[0]["details"]["user_id"], "member-1");
    assert_eq!(chat[0]["details"]["reason"], "spam");
    assert_eq!(chat[1]["details"]["message_id"], "ABC123def456");
    assert_eq!(chat[2]["details"]["event_name"], "class_starts_soon");
    assert_eq!(chat[2]["details"]["attributes"]["minutes"], "5");
    for (answer, kind) in answers.iter().zip(&kinds) {
        assert_eq!(answer["kind"], *kind);
        assert_eq!(answer["channel_id"], id.as_str());
    }
    assert!(
        answers[2]["id"].is_string(),
        "SendEvent's id: {}",
        answers[2]
    );
    for op in ["DisconnectUser", "DeleteMessage", "SendEvent"] {
        assert_eq!(app.sim.simulator.calls_of(op), 1, "{op}");
    }
}
