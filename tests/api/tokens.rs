//! Playback tokens end to end: minting for a channel the reconciler made ready (against the AWS
//! simulator), every claim and limit, verification in Rust (jsonwebtoken, pinned to ES384) and
//! in Python (PyJWT), each refusal, and the caches staying exact.

use std::path::PathBuf;

use ivs_provisioner::db;
use ivs_provisioner::domain::api_key::Scope;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{P384_PUBLIC_PEM, TestApp, channel, id_of, merged};

/// A private channel, provisioned in the simulator; returns its id.
pub async fn ready_private_channel(app: &TestApp, admin: &str, tenant: &str, name: &str) -> String {
    let body = merged(&channel(tenant, name), &json!({"authorized": true}));
    let id = id_of(&app.create_channel(admin, &body).await);
    app.reconcile().await;
    id
}

pub async fn mint(app: &TestApp, key: &str, id: &str, body: &Value) -> crate::helpers::Reply {
    app.post(&format!("/v1/channels/{id}/playback-tokens"), key, body)
        .await
}

/// The public PEM of the key `GET /v1/playback-keys` says signs now.
pub async fn signing_public_key(app: &TestApp, admin: &str) -> String {
    let keys = app.get("/v1/playback-keys", admin).await.json();
    let signing: Vec<&Value> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["signing"] == true)
        .collect();
    assert_eq!(signing.len(), 1, "{keys}");
    signing[0]["public_key_pem"].as_str().unwrap().to_owned()
}

/// Verifies `token` with `public_pem`, ES384 only, and returns its claims.
pub fn verify(token: &str, public_pem: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let key = DecodingKey::from_ec_pem(public_pem.as_bytes()).expect("a P-384 public key");
    let mut validation = Validation::new(Algorithm::ES384);
    validation.required_spec_claims = ["exp".to_owned()].into();
    validation.leeway = 0;
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|data| data.claims)
}

#[tokio::test]
async fn a_token_carries_every_claim_and_verifies_with_the_managed_key() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;
    let channel = app.get(&format!("/v1/channels/{id}"), &admin).await.json();
    let outputs = &channel["status"]["outputs"];
    let minter = app.key(&[Scope::TokensMint], Some("acme")).await;

    let before = chrono::Utc::now().timestamp();
    let reply = mint(
        &app,
        &minter,
        &id,
        &json!({
            "viewer_id": "member-4711",
            "ttl_seconds": 600,
            "allowed_origins": ["https://classes.example.com", "https://*.example.org"],
            "strict_origin_enforcement": true,
            "single_use": true,
            "maximum_resolution": "HD",
            "viewer_session_version": 1_700_000_000_i64
        }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    let token = body["token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(
        (header.alg, header.typ.as_deref(), header.kid),
        (Algorithm::ES384, Some("JWT"), None)
    );
    let claims = verify(token, &signing_public_key(&app, &admin).await).expect("verifies");
    let exp = claims["exp"]
        .as_i64()
        .expect("exp is an integer of seconds");
    assert!((before + 600..=before + 602).contains(&exp), "{exp}");
    let single_use = claims["aws:single-use-uuid"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(single_use).is_ok());
    assert_eq!(
        claims,
        json!({
            "aws:channel-arn": outputs["channel_arn"],
            "aws:access-control-allow-origin": "https://classes.example.com,https://*.example.org",
            "aws:strict-origin-enforcement": true,
            "aws:viewer-id": "member-4711",
            "aws:single-use-uuid": single_use,
            "aws:viewer-session-version": 1_700_000_000_i64,
            "aws:maximum-resolution": "HD",
            "exp": exp,
        })
    );
    assert_eq!(
        body["playback_url"],
        format!(
            "{}?token={token}",
            outputs["playback_url"].as_str().unwrap()
        )
    );
    let expires_at = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap());
    assert_eq!(expires_at.unwrap().timestamp(), exp);

    // The channel reports the managed key's IVS fingerprint, the one key pair in IVS.
    let pairs = app.sim.simulator.dump()["playbackKeyPairs"].clone();
    assert_eq!(pairs.as_array().unwrap().len(), 1, "{pairs}");
    assert_eq!(
        outputs["playback_key_pair_fingerprint"],
        pairs[0]["fingerprint"]
    );
}

#[tokio::test]
async fn an_empty_request_gets_the_default_ttl_and_only_the_required_claims() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;
    let path = format!("/v1/channels/{id}/playback-tokens");

    // No body at all, and an empty object, are the same request.
    let bare = crate::helpers::send(
        app.request(reqwest::Method::POST, &path)
            .bearer_auth(&admin),
    )
    .await;
    let empty = mint(&app, &admin, &id, &json!({})).await;

    for reply in [bare, empty] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let claims = verify(
            reply.json()["token"].as_str().unwrap(),
            &signing_public_key(&app, &admin).await,
        )
        .unwrap();
        let keys: Vec<&String> = claims.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["aws:channel-arn", "exp"]);
        let ttl = claims["exp"].as_i64().unwrap() - chrono::Utc::now().timestamp();
        assert!((298..=300).contains(&ttl), "{ttl}");
    }
}

#[tokio::test]
async fn each_broken_limit_is_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;
    let six: Vec<String> = (0..6)
        .map(|i| format!("https://o{i}.example.com"))
        .collect();

    let cases = [
        (json!({"ttl_seconds": 3601}), vec!["/ttl_seconds"]),
        (json!({"ttl_seconds": 0}), vec!["/ttl_seconds"]),
        (
            json!({"viewer_id": "v", "ttl_seconds": 601}),
            vec!["/ttl_seconds"],
        ),
        (
            json!({"single_use": true, "ttl_seconds": 601}),
            vec!["/ttl_seconds"],
        ),
        (json!({"viewer_id": "x".repeat(41)}), vec!["/viewer_id"]),
        (
            json!({"allowed_origins": six, "strict_origin_enforcement": true}),
            vec!["/allowed_origins"],
        ),
        (
            json!({"allowed_origins": ["example.com"]}),
            vec!["/allowed_origins/0"],
        ),
        (
            json!({"viewer_session_version": 3}),
            vec!["/viewer_session_version"],
        ),
        (
            json!({"viewer_id": "v", "viewer_session_version": -1}),
            vec!["/viewer_session_version"],
        ),
    ];
    for (body, fields) in cases {
        let reply = mint(&app, &admin, &id, &body).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), fields, "{body}");
    }
    // The limits themselves are accepted.
    let five = &(0..5)
        .map(|i| format!("https://o{i}.example.com"))
        .collect::<Vec<_>>();
    for body in [
        json!({"ttl_seconds": 3600}),
        json!({"viewer_id": "x".repeat(40), "ttl_seconds": 600}),
        json!({"allowed_origins": five, "strict_origin_enforcement": true}),
    ] {
        let reply = mint(&app, &admin, &id, &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}: {}", reply.text);
    }
    // Wrong types and unknown fields are 400s naming the field, as everywhere in the API.
    let reply = mint(&app, &admin, &id, &json!({"maximum_resolution": "4K"})).await;
    reply.problem(StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_fields(), ["/maximum_resolution"]);
}

#[tokio::test]
async fn channels_that_cannot_have_a_service_token_are_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let public = id_of(&app.create_channel(&admin, &channel("acme", "open")).await);
    let own_key = merged(
        &channel("acme", "own-key"),
        &json!({"authorized": true, "playback_public_key_pem": P384_PUBLIC_PEM}),
    );
    let own_key = id_of(&app.create_channel(&admin, &own_key).await);
    let other_tenant = ready_private_channel(&app, &admin, "globex", "gym").await;
    let body = merged(&channel("acme", "later"), &json!({"authorized": true}));
    let pending = id_of(&app.create_channel(&admin, &body).await);
    let acme_minter = app.key(&[Scope::TokensMint], Some("acme")).await;
    let reader = app.key(&[Scope::ChannelsRead], None).await;

    let detail = |reply: crate::helpers::Reply, status| {
        reply.problem(status)["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let d = detail(
        mint(&app, &admin, &public, &json!({})).await,
        StatusCode::CONFLICT,
    );
    assert!(d.contains("public") && d.contains("no token"), "{d}");
    let d = detail(
        mint(&app, &admin, &own_key, &json!({})).await,
        StatusCode::CONFLICT,
    );
    assert!(
        d.contains("caller-supplied") && d.contains("own private key"),
        "{d}"
    );
    let d = detail(
        mint(&app, &admin, &pending, &json!({})).await,
        StatusCode::CONFLICT,
    );
    assert!(d.contains("not ready") && d.contains("pending"), "{d}");
    detail(
        mint(&app, &acme_minter, &other_tenant, &json!({})).await,
        StatusCode::NOT_FOUND,
    );
    detail(
        mint(&app, &admin, &uuid::Uuid::new_v4().to_string(), &json!({})).await,
        StatusCode::NOT_FOUND,
    );
    detail(
        mint(&app, &reader, &other_tenant, &json!({})).await,
        StatusCode::FORBIDDEN,
    );
}

#[tokio::test]
async fn the_caches_follow_changes_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;
    let minter = app
        .named_key("front-end", &[Scope::TokensMint], Some("acme"))
        .await;
    // Warm both caches (the listener connects in the background: give it a moment).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for _ in 0..3 {
        assert_eq!(
            mint(&app, &minter, &id, &json!({})).await.status,
            StatusCode::OK
        );
    }

    let patch = app
        .patch(
            &format!("/v1/channels/{id}"),
            &admin,
            &json!({"authorized": false}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::ACCEPTED, "{}", patch.text);
    mint(&app, &minter, &id, &json!({}))
        .await
        .problem(StatusCode::CONFLICT);

    // A revocation made outside this process reaches its cache through the notification.
    assert!(db::api_keys::revoke(&app.pool, "front-end").await.unwrap());
    let mut status = StatusCode::OK;
    for _ in 0..20 {
        status = mint(&app, &minter, &id, &json!({})).await.status;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "revoked within the notification delay"
    );
}

/// The project's virtualenv (`IVS_TEST_VENV`, else `<repo>/.venv`); its absence is a failure.
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("IVS_TEST_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "no Python virtualenv at {}: run scripts/test.sh (it installs scripts/requirements-test.txt, \
         PyJWT included) or set IVS_TEST_VENV",
        venv.display()
    );
    python
}

#[tokio::test]
async fn pyjwt_verifies_the_token_pinned_to_es384() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;
    let reply = mint(
        &app,
        &admin,
        &id,
        &json!({"viewer_id": "member-1", "viewer_session_version": 7}),
    )
    .await;
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let public = signing_public_key(&app, &admin).await;
    let script = r#"
import json, sys, jwt
token, public = sys.argv[1], sys.argv[2]
header = jwt.get_unverified_header(token)
claims = jwt.decode(token, public, algorithms=["ES384"], options={"require": ["exp"]})
try:
    jwt.decode(token, public, algorithms=["HS256", "RS256"])
    sys.exit("accepted under another algorithm")
except jwt.InvalidAlgorithmError:
    pass
print(json.dumps({"header": header, "claims": claims}))
"#;

    let out = std::process::Command::new(venv_python())
        .args(["-c", script, &token, &public])
        .output()
        .expect("run python");

    assert!(
        out.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["header"], json!({"alg": "ES384", "typ": "JWT"}));
    assert_eq!(seen["claims"], verify(&token, &public).unwrap());
    assert_eq!(seen["claims"]["aws:viewer-session-version"], 7);
}
