//! The channel endpoints' happy paths: create, read, list with filters, patch, delete; and
//! idempotent and concurrent creates.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, channel, full_channel, id_of};

const OUTPUTS: [&str; 9] = [
    "channel_arn",
    "channel_id",
    "channel_name",
    "ingest_endpoint",
    "playback_url",
    "recording_configuration_arn",
    "playback_key_pair_fingerprint",
    "chat_room_arn",
    "chat_room_id",
];

#[tokio::test]
async fn creating_a_channel_answers_202_with_its_location_and_a_pending_status() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;

    let reply = app
        .post("/v1/channels", &key, &full_channel("acme", "yoga-101"))
        .await;

    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let body = reply.json();
    let id = id_of(&body);
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/channels/{id}").as_str())
    );
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["name"], "yoga-101");
    assert_eq!(body["spec"]["type"], "ADVANCED_HD");
    assert_eq!(body["spec"]["recording"]["reconnect_window_seconds"], 120);
    assert_eq!(body["spec"]["tags"], json!({"Environment": "test"}));
    let status = &body["status"];
    assert_eq!(status["phase"], "pending");
    assert_eq!(status["generation"], 1);
    assert_eq!(status["observed_generation"], 0);
    assert_eq!(status["last_error"], Value::Null);
    let outputs = status["outputs"].as_object().expect("outputs is an object");
    for output in OUTPUTS {
        assert_eq!(outputs.get(output), Some(&Value::Null), "output {output}");
    }
    assert_eq!(outputs.len(), OUTPUTS.len(), "{outputs:?}");
    assert!(body["created_at"].is_string() && body["updated_at"].is_string());
    assert_eq!(body["deleted_at"], Value::Null);
}

#[tokio::test]
async fn a_minimal_request_gets_the_seed_module_defaults() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;

    let body = app.create_channel(&key, &channel("acme", "c1")).await;

    let spec = &body["spec"];
    assert_eq!(spec["type"], "STANDARD");
    assert_eq!(spec["latency_mode"], "LOW");
    assert_eq!(spec["authorized"], false);
    assert_eq!(spec["insecure_ingest"], false);
    assert_eq!(spec["preset"], Value::Null);
    assert_eq!(spec["recording"], Value::Null);
    assert_eq!(spec["tags"], json!({}));
}

#[tokio::test]
async fn a_created_channel_reads_back_as_it_was_created() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app
        .create_channel(&key, &full_channel("acme", "yoga-101"))
        .await;

    let reply = app
        .get(&format!("/v1/channels/{}", id_of(&created)), &key)
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json(), created);
}

#[tokio::test]
async fn reading_an_unknown_channel_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;

    let reply = app
        .get(&format!("/v1/channels/{}", uuid::Uuid::now_v7()), &key)
        .await;

    reply.problem(StatusCode::NOT_FOUND);
}

/// The names of a list response's items, in order.
async fn listed_names(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let reply = app.get(&format!("/v1/channels{query}"), key).await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
    reply.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["tenant"].as_str().unwrap(),
                c["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn the_list_filters_by_tenant_phase_name_prefix_and_deletion() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    for (tenant, name) in [
        ("acme", "yoga-1"),
        ("acme", "yoga-2"),
        ("acme", "pilates-1"),
        ("globex", "yoga-1"),
    ] {
        app.create_channel(&key, &channel(tenant, name)).await;
    }
    let doomed = app.create_channel(&key, &channel("acme", "yoga-3")).await;
    app.delete(&format!("/v1/channels/{}", id_of(&doomed)), &key)
        .await;
    let gone = app.create_channel(&key, &channel("acme", "yoga-4")).await;
    // Only the reconciler finishes a deletion; stand in for it.
    app.mark_deleted(&id_of(&gone)).await;

    let cases: [(&str, &[&str]); 8] = [
        (
            "",
            &[
                "acme/yoga-1",
                "acme/yoga-2",
                "acme/pilates-1",
                "globex/yoga-1",
                "acme/yoga-3",
            ],
        ),
        (
            "?tenant=acme",
            &[
                "acme/yoga-1",
                "acme/yoga-2",
                "acme/pilates-1",
                "acme/yoga-3",
            ],
        ),
        ("?tenant=nobody", &[]),
        (
            "?name_prefix=yoga-",
            &["acme/yoga-1", "acme/yoga-2", "globex/yoga-1", "acme/yoga-3"],
        ),
        (
            "?tenant=acme&name_prefix=yoga-&phase=pending",
            &["acme/yoga-1", "acme/yoga-2"],
        ),
        ("?phase=deleting", &["acme/yoga-3"]),
        ("?phase=deleted", &["acme/yoga-4"]),
        (
            "?tenant=acme&name_prefix=yoga&include_deleted=true",
            &["acme/yoga-1", "acme/yoga-2", "acme/yoga-3", "acme/yoga-4"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(listed_names(&app, &key, query).await, expected, "{query}");
    }
}

#[tokio::test]
async fn a_merge_patch_changes_the_spec_bumps_the_generation_and_is_audited() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app
        .create_channel(&key, &full_channel("acme", "yoga-101"))
        .await;
    let path = format!("/v1/channels/{}", id_of(&created));

    let reply = app
        .patch(
            &path,
            &key,
            &json!({"latency_mode": "LOW", "recording": {"reconnect_window_seconds": 300}, "tags": {"Team": "live"}}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["status"]["generation"], 2);
    assert_eq!(body["status"]["phase"], "pending");
    assert_eq!(body["spec"]["latency_mode"], "LOW");
    assert_eq!(body["spec"]["recording"]["reconnect_window_seconds"], 300);
    // Untouched fields keep their values; a merge patch adds to objects.
    assert_eq!(
        body["spec"]["recording"]["s3_bucket_name"],
        "acme-class-recordings"
    );
    assert_eq!(
        body["spec"]["tags"],
        json!({"Environment": "test", "Team": "live"})
    );
    assert_eq!(app.get(&path, &key).await.json(), body);
    let events = app.events(&key, &id_of(&created)).await;
    let updated = events.last().expect("an event");
    assert_eq!(updated["kind"], "updated");
    assert_eq!(
        updated["details"]["changes"],
        json!([
            {"field": "/latency_mode", "from": "NORMAL", "to": "LOW"},
            {"field": "/recording/reconnect_window_seconds", "from": 120, "to": 300},
            {"field": "/tags/Team", "from": null, "to": "live"},
        ])
    );
}

#[tokio::test]
async fn a_patch_that_changes_nothing_answers_200_and_keeps_the_generation() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    let path = format!("/v1/channels/{}", id_of(&created));

    let reply = app
        .patch(&path, &key, &json!({"latency_mode": "LOW"}))
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["status"]["generation"], 1);
    assert_eq!(app.events(&key, &id_of(&created)).await.len(), 1);
}

#[tokio::test]
async fn null_in_a_patch_resets_a_field_to_its_default() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &full_channel("acme", "c1")).await;
    let path = format!("/v1/channels/{}", id_of(&created));

    let reply = app
        .patch(
            &path,
            &key,
            &json!({"recording": null, "latency_mode": null}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let spec = &reply.json()["spec"];
    assert_eq!(spec["recording"], Value::Null);
    assert_eq!(spec["latency_mode"], "LOW");
}

#[tokio::test]
async fn deleting_a_channel_marks_it_deleting_once_however_often_it_is_asked() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    let path = format!("/v1/channels/{}", id_of(&created));

    let first = app.delete(&path, &key).await;
    let second = app.delete(&path, &key).await;

    for reply in [&first, &second] {
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        assert_eq!(reply.json()["status"]["phase"], "deleting");
    }
    assert_eq!(
        app.get(&path, &key).await.json()["status"]["phase"],
        "deleting"
    );
    let kinds: Vec<Value> = app
        .events(&key, &id_of(&created))
        .await
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("created"), json!("delete_requested")]);
}

#[tokio::test]
async fn a_channel_being_deleted_cannot_be_patched() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    let path = format!("/v1/channels/{}", id_of(&created));
    app.delete(&path, &key).await;

    let reply = app
        .patch(&path, &key, &json!({"latency_mode": "NORMAL"}))
        .await;

    let problem = reply.problem(StatusCode::CONFLICT);
    assert_eq!(problem["channel_id"], created["id"]);
}

#[tokio::test]
async fn the_same_create_again_answers_200_with_the_same_channel() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let request = full_channel("acme", "yoga-101");
    let created = app.create_channel(&key, &request).await;

    let again = app.post("/v1/channels", &key, &request).await;

    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json(), created);
    assert_eq!(
        again.header("location"),
        Some(format!("/v1/channels/{}", id_of(&created)).as_str())
    );
    assert_eq!(app.channel_rows("acme", "yoga-101").await, 1);
}

#[tokio::test]
async fn an_explicit_default_is_the_same_request_as_an_omitted_one() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;

    let again = app
        .post(
            "/v1/channels",
            &key,
            &json!({"tenant": "acme", "name": "c1", "type": "STANDARD", "latency_mode": "LOW"}),
        )
        .await;

    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json()["id"], created["id"]);
}

#[tokio::test]
async fn the_same_name_with_a_different_spec_is_a_409_naming_the_existing_channel() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;

    let reply = app
        .post(
            "/v1/channels",
            &key,
            &json!({"tenant": "acme", "name": "c1", "latency_mode": "NORMAL"}),
        )
        .await;

    let problem = reply.problem(StatusCode::CONFLICT);
    assert_eq!(problem["channel_id"], created["id"]);
    assert_eq!(app.channel_rows("acme", "c1").await, 1);
}

#[tokio::test]
async fn the_same_name_in_another_tenant_is_another_channel() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let a = app.create_channel(&key, &channel("acme", "c1")).await;

    let b = app.create_channel(&key, &channel("globex", "c1")).await;

    assert_ne!(a["id"], b["id"]);
}

#[tokio::test]
async fn declaring_a_channel_that_is_being_deleted_is_a_409() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    app.delete(&format!("/v1/channels/{}", id_of(&created)), &key)
        .await;

    let reply = app.post("/v1/channels", &key, &channel("acme", "c1")).await;

    let problem = reply.problem(StatusCode::CONFLICT);
    assert_eq!(problem["channel_id"], created["id"]);
}

#[tokio::test]
async fn a_deleted_channel_frees_its_name_for_a_new_one() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let old = app.create_channel(&key, &channel("acme", "c1")).await;
    app.mark_deleted(&id_of(&old)).await;

    let new = app.create_channel(&key, &channel("acme", "c1")).await;

    assert_ne!(new["id"], old["id"]);
    assert_eq!(app.channel_rows("acme", "c1").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_creates_sent_at_once_make_exactly_one_channel() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let request = full_channel("acme", "rush-hour");

    let replies =
        futures::future::join_all((0..20).map(|_| app.post("/v1/channels", &key, &request))).await;

    let mut ids = std::collections::BTreeSet::new();
    let mut accepted = 0;
    for reply in &replies {
        match reply.status {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::OK => {}
            other => panic!("unexpected {other}: {}", reply.text),
        }
        ids.insert(id_of(&reply.json()));
    }
    assert_eq!(accepted, 1, "exactly one request creates the channel");
    assert_eq!(
        ids.len(),
        1,
        "every request names the same channel: {ids:?}"
    );
    assert_eq!(app.channel_rows("acme", "rush-hour").await, 1);
}

#[tokio::test]
async fn deleting_again_with_force_is_recorded_once_more() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    let path = format!("/v1/channels/{}", id_of(&created));
    app.delete(&path, &key).await;

    let forced = app.delete(&format!("{path}?force=true"), &key).await;

    assert_eq!(forced.status, StatusCode::ACCEPTED, "{}", forced.text);
    assert_eq!(forced.json()["status"]["phase"], "deleting");
    let deletes: Vec<Value> = app
        .events(&key, &id_of(&created))
        .await
        .into_iter()
        .filter(|e| e["kind"] == "delete_requested")
        .map(|e| e["details"]["force"].clone())
        .collect();
    assert_eq!(deletes, vec![json!(false), json!(true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_with_different_specs_make_one_channel_and_409s_naming_it() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let requests: Vec<Value> = (0..10)
        .map(|i| json!({"tenant": "acme", "name": "contested", "tags": {"attempt": i.to_string()}}))
        .collect();

    let replies =
        futures::future::join_all(requests.iter().map(|r| app.post("/v1/channels", &key, r))).await;

    let winners: Vec<Value> = replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .map(|r| r.json())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one request creates the channel");
    for reply in replies.iter().filter(|r| r.status != StatusCode::ACCEPTED) {
        let problem = reply.problem(StatusCode::CONFLICT);
        assert_eq!(problem["channel_id"], winners[0]["id"]);
    }
    assert_eq!(app.channel_rows("acme", "contested").await, 1);
}
