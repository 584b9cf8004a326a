//! The managed signing key's life against the simulator: rotation end to end (old tokens verify
//! until they expire, then the old key pair is deleted), IVS's 3-key-pair quota never exceeded,
//! and a file-sourced key refusing rotation with its reason.

use std::time::Duration;

use ivs_provisioner::playback_keys::{KeyRing, KeySource, lifecycle};
use ivs_provisioner::tokens::TokenLimits;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{P384_PUBLIC_PEM, TestApp, channel, merged};
use crate::tokens::{mint, ready_private_channel, signing_public_key, verify};

fn key_pairs_in_ivs(app: &TestApp) -> Vec<Value> {
    app.sim.simulator.dump()["playbackKeyPairs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn keys(app: &TestApp, admin: &str) -> Vec<Value> {
    let reply = app.get("/v1/playback-keys", admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(!reply.text.contains("PRIVATE"), "{}", reply.text);
    reply.json()["items"].as_array().cloned().unwrap()
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_they_expire_then_deletes_the_old_key() {
    let max_ttl = 3;
    let app = TestApp::spawn_with(TokenLimits {
        default_ttl_secs: max_ttl,
        max_ttl_secs: max_ttl,
    })
    .await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;
    let old_pem = signing_public_key(&app, &admin).await;
    let old_token = mint(&app, &admin, &id, &json!({})).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let rotated = app
        .post("/v1/playback-keys/rotate", &admin, &json!({}))
        .await;

    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new = rotated.json();
    assert_eq!(
        (new["state"].as_str(), new["signing"].as_bool()),
        (Some("active"), Some(true))
    );
    let new_pem = signing_public_key(&app, &admin).await;
    assert_ne!(new_pem, old_pem);
    let new_token = mint(&app, &admin, &id, &json!({})).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(verify(&new_token, &new_pem).is_ok());
    assert!(
        verify(&new_token, &old_pem).is_err(),
        "signed by the new key only"
    );
    assert!(
        verify(&old_token, &old_pem).is_ok(),
        "old tokens still verify"
    );
    // Both key pairs are in IVS while old tokens may still be used.
    assert_eq!(key_pairs_in_ivs(&app).len(), 2);
    let listed = keys(&app, &admin).await;
    let states: Vec<&str> = listed
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["retiring", "active"]);
    // Private channels now report the new key's IVS fingerprint.
    let channel = app.get(&format!("/v1/channels/{id}"), &admin).await.json();
    assert_eq!(
        channel["status"]["outputs"]["playback_key_pair_fingerprint"],
        new["ivs_fingerprint"]
    );
    let max = Duration::from_secs(max_ttl as u64);
    lifecycle::maintain(&app.pool, &app.aws, max).await.unwrap();
    assert_eq!(
        key_pairs_in_ivs(&app).len(),
        2,
        "kept until its tokens expire"
    );

    tokio::time::sleep(max + Duration::from_millis(1200)).await;
    lifecycle::maintain(&app.pool, &app.aws, max).await.unwrap();

    assert!(
        verify(&old_token, &old_pem).is_err(),
        "the old token has expired"
    );
    let pairs = key_pairs_in_ivs(&app);
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert_eq!(pairs[0]["fingerprint"], new["ivs_fingerprint"]);
    let states: Vec<String> = keys(&app, &admin)
        .await
        .iter()
        .map(|k| k["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["retired", "active"]);
}

#[tokio::test]
async fn a_rotation_that_would_need_a_fourth_key_pair_is_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    ready_private_channel(&app, &admin, "acme", "yoga").await;
    let own_key = merged(
        &channel("acme", "own-key"),
        &json!({"authorized": true, "playback_public_key_pem": P384_PUBLIC_PEM}),
    );
    app.create_channel(&admin, &own_key).await;
    app.reconcile().await;
    assert_eq!(key_pairs_in_ivs(&app).len(), 2, "managed + caller");
    let first = app
        .post("/v1/playback-keys/rotate", &admin, &json!({}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(key_pairs_in_ivs(&app).len(), 3);

    let second = app
        .post("/v1/playback-keys/rotate", &admin, &json!({}))
        .await;

    let problem = second.problem(StatusCode::CONFLICT);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("3 playback key pairs"), "{detail}");
    assert!(
        detail.contains("retiring") && detail.contains("caller"),
        "{detail}"
    );
    assert_eq!(key_pairs_in_ivs(&app).len(), 3);
    assert_eq!(app.sim.simulator.calls_of("ImportPlaybackKeyPair"), 3);
    // Non-admins may neither rotate nor list.
    let minter = app
        .key(&[ivs_provisioner::domain::api_key::Scope::TokensMint], None)
        .await;
    app.post("/v1/playback-keys/rotate", &minter, &json!({}))
        .await
        .problem(StatusCode::FORBIDDEN);
    app.get("/v1/playback-keys", &minter)
        .await
        .problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_key_from_a_file_is_not_rotated_and_says_how_to_rotate_it() {
    let app = TestApp::spawn().await;
    let ring = KeyRing::new(KeySource::File("/etc/ivsp/signing.pem".into()));

    let error = lifecycle::rotate(&app.pool, &app.aws, &ring, Duration::from_secs(60))
        .await
        .unwrap_err();

    let message = error.to_string();
    assert!(message.contains("replacing the file"), "{message}");
    assert!(key_pairs_in_ivs(&app).len() <= 1);
}

#[tokio::test]
async fn an_import_ivs_refuses_during_a_rotation_is_a_409_naming_the_reason() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    ready_private_channel(&app, &admin, "acme", "yoga").await;
    for (error, reason) in [
        (
            "ServiceQuotaExceededException",
            "IVS allows at most 3 playback key pairs per region",
        ),
        (
            "ConflictException",
            "already imported into IVS outside the service",
        ),
    ] {
        app.sim
            .simulator
            .fail_next("ImportPlaybackKeyPair", 1, error, aws_sim::FailMode::Before);

        let refused = app
            .post("/v1/playback-keys/rotate", &admin, &json!({}))
            .await;

        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
        let detail = refused.json()["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains(error) && detail.contains(reason),
            "{detail}"
        );
    }
    // The refused keys are recorded as failed; the old key still signs.
    let states: Vec<String> = keys(&app, &admin)
        .await
        .iter()
        .map(|k| k["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["active", "failed", "failed"]);
}
