//! Cursor pagination of `GET /v1/channels`: a walk through the pages while other channels are
//! inserted neither repeats nor skips a row and keeps creation order; bad limits and cursors are
//! refused.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, channel, id_of};

/// One page: the ids of its items and its `next_cursor`.
async fn page(app: &TestApp, key: &str, query: &str) -> (Vec<String>, Option<String>) {
    let reply = app.get(&format!("/v1/channels?{query}"), key).await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
    let body = reply.json();
    let ids = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect();
    (ids, body["next_cursor"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn walking_the_pages_while_channels_are_inserted_sees_each_row_once_in_order() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(id_of(
            &app.create_channel(&key, &channel("acme", &format!("c{i:02}")))
                .await,
        ));
    }

    let mut seen: Vec<String> = Vec::new();
    let mut inserted = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=10&cursor={c}"),
            None => "limit=10".to_owned(),
        };
        let (ids, next) = page(&app, &key, &query).await;
        assert!(ids.len() <= 10);
        seen.extend(ids);
        pages += 1;
        assert!(pages < 20, "the walk ends");
        let Some(next) = next else { break };
        cursor = Some(next);
        // Others keep declaring channels between our pages.
        for _ in 0..3 {
            let name = format!("late{:02}", inserted.len());
            inserted.push(id_of(
                &app.create_channel(&key, &channel("acme", &name)).await,
            ));
        }
    }

    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no row repeats");
    assert_eq!(
        seen[..25],
        created[..],
        "the original rows come first, in creation order"
    );
    let expected: HashSet<&String> = created.iter().chain(&inserted).collect();
    assert_eq!(
        unique, expected,
        "every row is seen, including those inserted during the walk"
    );
    assert_eq!(
        seen[25..],
        inserted[..],
        "rows inserted later come later, in order"
    );
}

#[tokio::test]
async fn a_filtered_walk_returns_only_matching_rows_on_every_page() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    for i in 0..7 {
        app.create_channel(&key, &channel("acme", &format!("c{i}")))
            .await;
        app.create_channel(&key, &channel("globex", &format!("c{i}")))
            .await;
    }

    let pages = app
        .pages(&key, "/v1/channels", "tenant=globex&limit=3")
        .await;

    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    let tenants: Vec<Value> = pages.concat().iter().map(|c| c["tenant"].clone()).collect();
    assert_eq!(tenants, vec![Value::from("globex"); 7]);
}

#[tokio::test]
async fn the_last_page_has_no_cursor_and_the_default_page_is_20() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    for i in 0..21 {
        app.create_channel(&key, &channel("acme", &format!("c{i:02}")))
            .await;
    }

    let (first, cursor) = page(&app, &key, "").await;
    let (rest, end) = page(
        &app,
        &key,
        &format!("cursor={}", cursor.clone().unwrap_or_default()),
    )
    .await;
    let (exact, exact_end) = page(&app, &key, "limit=21").await;

    assert_eq!(first.len(), 20);
    assert!(cursor.is_some());
    assert_eq!(rest.len(), 1);
    assert_eq!(end, None);
    assert_eq!(exact.len(), 21);
    assert_eq!(
        exact_end, None,
        "a page that ends exactly at the last row has no cursor"
    );
}

#[tokio::test]
async fn a_limit_outside_1_to_100_is_a_422() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;

    for path in [
        "/v1/channels?limit=0".to_owned(),
        "/v1/channels?limit=101".to_owned(),
        format!("/v1/channels/{}/events?limit=0", id_of(&created)),
        format!("/v1/channels/{}/events?limit=101", id_of(&created)),
    ] {
        let reply = app.get(&path, &key).await;

        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), vec!["limit"], "{path}");
    }
    let (ids, _) = page(&app, &key, "limit=100").await;
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn a_cursor_this_api_did_not_return_is_a_400() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;

    for cursor in [
        "not-base64!",
        "AAAA",
        "%20",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let list = app
            .get(&format!("/v1/channels?cursor={cursor}"), &key)
            .await;
        let events = app
            .get(
                &format!("/v1/channels/{}/events?cursor={cursor}", id_of(&created)),
                &key,
            )
            .await;

        list.problem(StatusCode::BAD_REQUEST);
        events.problem(StatusCode::BAD_REQUEST);
    }
}
