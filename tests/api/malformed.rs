//! Malformed requests: bad JSON, wrong content types, unknown fields, wrong types, oversize
//! bodies, bad path ids and query strings, unknown routes and methods. Each is a 4xx
//! `application/problem+json`: never a 500 and never axum's plain-text rejection.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{MAX_BODY_BYTES, Reply, TestApp, channel, id_of, send};

/// Sends a raw body with a content type, as an admin.
async fn raw(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = app.request(method, path).bearer_auth(key).body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    send(request).await
}

/// Asserts a 400 whose problem names `field` (a JSON pointer) and mentions `word`.
fn assert_names(reply: &Reply, field: &str, word: &str) {
    let problem = reply.problem(StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_fields(), vec![field], "{problem}");
    assert!(
        reply.text.contains(word),
        "the problem mentions '{word}': {problem}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;

    for body in [
        r#"{"tenant": "acme", "name": "#,
        "not json",
        "",
        r#"{"tenant": "acme",}"#,
    ] {
        let reply = raw(
            &app,
            &key,
            Method::POST,
            "/v1/channels",
            Some("application/json"),
            body,
        )
        .await;

        let problem = reply.problem(StatusCode::BAD_REQUEST);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("JSON"),
            "{body}: {problem}"
        );
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_by_content_type_is_a_415_problem() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let body = serde_json::to_string(&channel("acme", "c1")).unwrap();

    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let reply = raw(
            &app,
            &key,
            Method::POST,
            "/v1/channels",
            content_type,
            body.clone(),
        )
        .await;

        reply.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

#[tokio::test]
async fn json_with_a_charset_and_merge_patch_json_are_accepted() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let body = serde_json::to_string(&channel("acme", "c1")).unwrap();

    let created = raw(
        &app,
        &key,
        Method::POST,
        "/v1/channels",
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    let path = format!("/v1/channels/{}", id_of(&created.json()));
    let patched = raw(
        &app,
        &key,
        Method::PATCH,
        &path,
        Some("application/json"),
        r#"{"latency_mode":"NORMAL"}"#,
    )
    .await;

    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.text);
    assert_eq!(patched.status, StatusCode::ACCEPTED, "{}", patched.text);
}

#[tokio::test]
async fn an_unknown_field_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;

    let top = app
        .post(
            "/v1/channels",
            &key,
            &json!({"tenant": "acme", "name": "c1", "colour": "red"}),
        )
        .await;
    let nested = app
        .post(
            "/v1/channels",
            &key,
            &json!({"tenant": "acme", "name": "c1", "recording": {"s3_bucket_name": "b-1", "bucket": "x"}}),
        )
        .await;

    assert_names(&top, "/colour", "colour");
    assert_names(&nested, "/recording/bucket", "bucket");
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let cases = [
        (json!({"tenant": 5, "name": "c1"}), "/tenant"),
        (
            json!({"tenant": "acme", "name": "c1", "authorized": "yes"}),
            "/authorized",
        ),
        (
            json!({"tenant": "acme", "name": "c1", "tags": ["a"]}),
            "/tags",
        ),
        (
            json!({"tenant": "acme", "name": "c1", "tags": {"team": 1}}),
            "/tags/team",
        ),
        (
            json!({"tenant": "acme", "name": "c1", "recording": {"s3_bucket_name": "b-1", "reconnect_window_seconds": "ten"}}),
            "/recording/reconnect_window_seconds",
        ),
        (
            json!({"tenant": "acme", "name": "c1", "recording": {"s3_bucket_name": "b-1", "thumbnail_target_interval_seconds": 1.5}}),
            "/recording/thumbnail_target_interval_seconds",
        ),
    ];

    for (body, field) in cases {
        let reply = app.post("/v1/channels", &key, &body).await;

        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert_names(&reply, field, "invalid type");
    }
    let not_an_object = app.post("/v1/channels", &key, &json!(["acme", "c1"])).await;
    not_an_object.problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_malformed_patch_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    let path = format!("/v1/channels/{}", id_of(&created));

    let not_an_object = app.patch(&path, &key, &json!(["latency_mode"])).await;
    let unknown = app.patch(&path, &key, &json!({"colour": "red"})).await;
    let wrong_type = app.patch(&path, &key, &json!({"authorized": "yes"})).await;
    let broken = raw(
        &app,
        &key,
        Method::PATCH,
        &path,
        Some("application/merge-patch+json"),
        "{",
    )
    .await;
    let text = raw(&app, &key, Method::PATCH, &path, Some("text/plain"), "{}").await;

    not_an_object.problem(StatusCode::BAD_REQUEST);
    assert_names(&unknown, "/colour", "colour");
    assert_names(&wrong_type, "/authorized", "invalid type");
    broken.problem(StatusCode::BAD_REQUEST);
    text.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.get(&path, &key).await.json(), created);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let huge = json!({"tenant": "acme", "name": "c1", "tags": {"big": "x".repeat(MAX_BODY_BYTES)}});

    let reply = app.post("/v1/channels", &key, &huge).await;

    reply.problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.channel_rows("acme", "c1").await, 0);
}

#[tokio::test]
async fn a_path_id_that_is_not_a_uuid_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;

    for path in [
        "/v1/channels/not-a-uuid",
        "/v1/channels/123",
        "/v1/channels/not-a-uuid/events",
    ] {
        let get = app.get(path, &key).await;

        get.problem(StatusCode::NOT_FOUND);
    }
    let patch = app.patch("/v1/channels/nope", &key, &json!({})).await;
    let delete = app.delete("/v1/channels/nope", &key).await;
    patch.problem(StatusCode::NOT_FOUND);
    delete.problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;

    for path in ["/", "/v2/channels", "/v1/channel", "/v1/channels/x/y/z"] {
        let reply = app.get(path, &key).await;

        reply.problem(StatusCode::NOT_FOUND);
    }
    let anonymous = send(app.request(Method::GET, "/nowhere")).await;
    anonymous.problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let id = uuid::Uuid::now_v7();

    let cases = [
        (Method::PUT, "/v1/channels".to_owned()),
        (Method::DELETE, "/v1/channels".to_owned()),
        (Method::PUT, format!("/v1/channels/{id}")),
        (Method::POST, format!("/v1/channels/{id}")),
        (Method::POST, format!("/v1/channels/{id}/events")),
        (Method::POST, "/healthz".to_owned()),
    ];
    for (method, path) in cases {
        let reply = send(app.request(method.clone(), &path).bearer_auth(&key)).await;

        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            reply.text
        );
        reply.problem(StatusCode::METHOD_NOT_ALLOWED);
    }
}

#[tokio::test]
async fn a_bad_query_string_is_a_4xx_problem() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let cases = [
        ("/v1/channels?limit=ten", StatusCode::BAD_REQUEST),
        ("/v1/channels?phase=sleeping", StatusCode::BAD_REQUEST),
        (
            "/v1/channels?include_deleted=maybe",
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/channels?colour=red", StatusCode::BAD_REQUEST),
        ("/v1/channels?limit=-1", StatusCode::UNPROCESSABLE_ENTITY),
    ];

    for (path, status) in cases {
        let reply = app.get(path, &key).await;

        assert_eq!(reply.status, status, "{path}: {}", reply.text);
        reply.problem(status);
    }
}

#[tokio::test]
async fn no_error_response_is_plain_text() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    // A sweep across the kinds above, asserting the common contract in one place.
    let requests = [
        app.request(Method::POST, "/v1/channels")
            .bearer_auth(&key)
            .body("{"),
        app.request(Method::POST, "/v1/channels")
            .bearer_auth(&key)
            .header(CONTENT_TYPE, "application/json")
            .body("{"),
        app.request(Method::GET, "/v1/channels/zzz")
            .bearer_auth(&key),
        app.request(Method::GET, "/v1/channels?limit=0")
            .bearer_auth(&key),
        app.request(Method::PATCH, "/v1/channels").bearer_auth(&key),
        app.request(Method::GET, "/v1/channels"),
    ];
    for request in requests {
        let reply = send(request).await;

        assert!(
            reply.status.is_client_error(),
            "{}: {}",
            reply.status,
            reply.text
        );
        let body: Value = reply.problem(reply.status);
        assert!(body["detail"].is_string() || body["title"].is_string());
    }
}

#[tokio::test]
async fn nul_characters_and_deep_nesting_are_refused_without_a_500() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    let path = format!("/v1/channels/{}", id_of(&created));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));

    let replies = [
        app.get("/v1/channels?name_prefix=%00", &key).await,
        app.get("/v1/channels?tenant=a%00b", &key).await,
        app.post(
            "/v1/channels",
            &key,
            &json!({"tenant": "acme", "name": "c\u{0}"}),
        )
        .await,
        app.post(
            "/v1/channels",
            &key,
            &json!({"tenant": "acme", "name": "c2", "tags": {"team": "a\u{0}"}}),
        )
        .await,
        app.patch(&path, &key, &json!({"tags": {"k\u{0}": "v"}}))
            .await,
        raw(
            &app,
            &key,
            Method::POST,
            "/v1/channels",
            Some("application/json"),
            deep,
        )
        .await,
    ];

    for (i, reply) in replies.iter().enumerate() {
        assert!(
            reply.status.is_client_error() || reply.status.is_success(),
            "request {i}: {}: {}",
            reply.status,
            reply.text
        );
        if !reply.status.is_success() {
            reply.problem(reply.status);
        }
    }
    // A NUL in a filter is refused like one in a body field (control_chars.rs has the details).
    for filtered in &replies[..2] {
        filtered.problem(reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    }
}
