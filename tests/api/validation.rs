//! Every validation rule of the seed module and of DESIGN.md §3, through HTTP: each bad field
//! is a 422 problem naming it (JSON pointer) with a message, several bad fields are listed at
//! once, boundary values are accepted, and a private key is refused without being echoed.

use std::collections::BTreeMap;

use p384::pkcs8::{EncodePrivateKey, LineEnding};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    P256_PUBLIC_PEM, P384_PUBLIC_PEM, RSA_PUBLIC_PEM, Reply, TestApp, channel, full_channel, id_of,
    merged,
};

/// `n` distinct tags.
fn tags(n: usize) -> Value {
    let tags: BTreeMap<String, String> = (0..n).map(|i| (format!("k{i}"), "v".into())).collect();
    json!(tags)
}

fn live_window(opens_at: &str, closes_at: &str, grace_seconds: i64) -> Value {
    json!({"live_window": {"opens_at": opens_at, "closes_at": closes_at, "grace_seconds": grace_seconds}})
}

/// Fields to merge into a valid request, and the one field the 422 must name.
fn bad_requests() -> Vec<(&'static str, Value, String)> {
    let recording =
        |r: Value| json!({"recording": merged(&json!({"s3_bucket_name": "good-bucket"}), &r)});
    let bucket = |b: &str| json!({"recording": {"s3_bucket_name": b}});
    let fixed: Vec<(&'static str, Value, &'static str)> = vec![
        ("missing name", json!({"name": null}), "/name"),
        ("empty name", json!({"name": ""}), "/name"),
        ("name with a space", json!({"name": "yoga 101"}), "/name"),
        ("name with a dot", json!({"name": "yoga.101"}), "/name"),
        (
            "name of 129 characters",
            json!({"name": "n".repeat(129)}),
            "/name",
        ),
        ("missing tenant", json!({"tenant": null}), "/tenant"),
        ("tenant with a slash", json!({"tenant": "a/b"}), "/tenant"),
        (
            "tenant of 65 characters",
            json!({"tenant": "t".repeat(65)}),
            "/tenant",
        ),
        ("unknown type", json!({"type": "HUGE"}), "/type"),
        ("lower-case type", json!({"type": "standard"}), "/type"),
        (
            "preset with STANDARD",
            json!({"type": "STANDARD", "preset": "HIGHER_BANDWIDTH_DELIVERY"}),
            "/preset",
        ),
        (
            "preset with BASIC",
            json!({"type": "BASIC", "preset": "CONSTRAINED_BANDWIDTH_DELIVERY"}),
            "/preset",
        ),
        (
            "preset with the default type",
            json!({"preset": "HIGHER_BANDWIDTH_DELIVERY"}),
            "/preset",
        ),
        (
            "unknown preset",
            json!({"type": "ADVANCED_SD", "preset": "FAST"}),
            "/preset",
        ),
        (
            "unknown latency mode",
            json!({"latency_mode": "ULTRA"}),
            "/latency_mode",
        ),
        (
            "P-256 public key",
            json!({"authorized": true, "playback_public_key_pem": P256_PUBLIC_PEM}),
            "/playback_public_key_pem",
        ),
        (
            "RSA public key",
            json!({"authorized": true, "playback_public_key_pem": RSA_PUBLIC_PEM}),
            "/playback_public_key_pem",
        ),
        (
            "garbage public key",
            json!({"authorized": true, "playback_public_key_pem": "not a key"}),
            "/playback_public_key_pem",
        ),
        (
            "corrupt PEM body",
            json!({"authorized": true, "playback_public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}),
            "/playback_public_key_pem",
        ),
        (
            "public key without authorized",
            json!({"playback_public_key_pem": P384_PUBLIC_PEM}),
            "/playback_public_key_pem",
        ),
        (
            "public key with authorized false",
            json!({"authorized": false, "playback_public_key_pem": P384_PUBLIC_PEM}),
            "/playback_public_key_pem",
        ),
        (
            "recording without a bucket",
            json!({"recording": {}}),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket with upper case",
            bucket("Acme-Recordings"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket of 2 characters",
            bucket("ab"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket of 64 characters",
            bucket(&"b".repeat(64)),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket with an underscore",
            bucket("acme_rec"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket starting with a hyphen",
            bucket("-acme"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket ending with a dot",
            bucket("acme."),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket with adjacent dots",
            bucket("acme..rec"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket with a dot next to a hyphen",
            bucket("acme.-rec"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket like an IP address",
            bucket("192.168.5.4"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket with the xn-- prefix",
            bucket("xn--acme"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket with the sthree- prefix",
            bucket("sthree-acme"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket with the -s3alias suffix",
            bucket("acme-s3alias"),
            "/recording/s3_bucket_name",
        ),
        (
            "bucket with the --ol-s3 suffix",
            bucket("acme--ol-s3"),
            "/recording/s3_bucket_name",
        ),
        (
            "unknown thumbnail mode",
            recording(json!({"thumbnail_recording_mode": "SOMETIMES"})),
            "/recording/thumbnail_recording_mode",
        ),
        (
            "thumbnail interval 0",
            recording(json!({"thumbnail_target_interval_seconds": 0})),
            "/recording/thumbnail_target_interval_seconds",
        ),
        (
            "thumbnail interval 61",
            recording(json!({"thumbnail_target_interval_seconds": 61})),
            "/recording/thumbnail_target_interval_seconds",
        ),
        (
            "reconnect window -1",
            recording(json!({"reconnect_window_seconds": -1})),
            "/recording/reconnect_window_seconds",
        ),
        (
            "reconnect window 301",
            recording(json!({"reconnect_window_seconds": 301})),
            "/recording/reconnect_window_seconds",
        ),
        ("47 tags", json!({"tags": tags(47)}), "/tags"),
        (
            "tag key with the aws: prefix",
            json!({"tags": {"aws:team": "x"}}),
            "/tags/aws:team",
        ),
        (
            "tag key with the AWS: prefix",
            json!({"tags": {"AWS:team": "x"}}),
            "/tags/AWS:team",
        ),
        (
            "reserved tag key Name",
            json!({"tags": {"Name": "x"}}),
            "/tags/Name",
        ),
        (
            "reserved tag key ManagedBy",
            json!({"tags": {"ManagedBy": "me"}}),
            "/tags/ManagedBy",
        ),
        (
            "reserved tag key Tenant",
            json!({"tags": {"Tenant": "other"}}),
            "/tags/Tenant",
        ),
        (
            "the service's identity tag",
            json!({"tags": {"ivs-provisioner:id": "x"}}),
            "/tags/ivs-provisioner:id",
        ),
        ("empty tag key", json!({"tags": {"": "x"}}), "/tags/"),
        (
            "tag value of 257 characters",
            json!({"tags": {"team": "v".repeat(257)}}),
            "/tags/team",
        ),
        (
            "tag key with a bad character",
            json!({"tags": {"team#1": "x"}}),
            "/tags/team#1",
        ),
        (
            "tag value with a bad character",
            json!({"tags": {"team": "a&b"}}),
            "/tags/team",
        ),
        (
            "chat message rate 0",
            json!({"chat": {"maximum_message_rate_per_second": 0}}),
            "/chat/maximum_message_rate_per_second",
        ),
        (
            "chat message rate 101",
            json!({"chat": {"maximum_message_rate_per_second": 101}}),
            "/chat/maximum_message_rate_per_second",
        ),
        (
            "chat message length 0",
            json!({"chat": {"maximum_message_length": 0}}),
            "/chat/maximum_message_length",
        ),
        (
            "chat message length 501",
            json!({"chat": {"maximum_message_length": 501}}),
            "/chat/maximum_message_length",
        ),
        (
            "chat log bucket with capitals",
            json!({"chat": {"log_to_s3_bucket": "Chat-Logs"}}),
            "/chat/log_to_s3_bucket",
        ),
        (
            "review handler that is a function name",
            json!({"chat": {"message_review_handler": {"lambda_arn": "review-chat"}}}),
            "/chat/message_review_handler/lambda_arn",
        ),
        (
            "review handler that is a Lambda layer",
            json!({"chat": {"message_review_handler": {"lambda_arn": "arn:aws:lambda:eu-west-1:123456789012:layer:x:1"}}}),
            "/chat/message_review_handler/lambda_arn",
        ),
        (
            "review handler that is an SQS queue",
            json!({"chat": {"message_review_handler": {"lambda_arn": "arn:aws:sqs:eu-west-1:123456789012:q"}}}),
            "/chat/message_review_handler/lambda_arn",
        ),
        (
            "review handler without an ARN",
            json!({"chat": {"message_review_handler": {"fallback_result": "DENY"}}}),
            "/chat/message_review_handler/lambda_arn",
        ),
        (
            "unknown review fallback",
            json!({"chat": {"message_review_handler": {"lambda_arn": "arn:aws:lambda:eu-west-1:123456789012:function:r", "fallback_result": "MAYBE"}}}),
            "/chat/message_review_handler/fallback_result",
        ),
        (
            "delete_after in the past",
            json!({"delete_after": "2020-01-01T00:00:00Z"}),
            "/delete_after",
        ),
        (
            "delete_after not a time",
            json!({"delete_after": "tomorrow"}),
            "/delete_after",
        ),
        (
            "delete_after without a zone",
            json!({"delete_after": "2999-01-01T00:00:00"}),
            "/delete_after",
        ),
        (
            "delete_after with month 13",
            json!({"delete_after": "2999-13-01T00:00:00Z"}),
            "/delete_after",
        ),
        (
            "live_window in the past",
            live_window("2020-01-01T09:00:00Z", "2020-01-01T10:00:00Z", 0),
            "/live_window/closes_at",
        ),
        (
            "live_window closing before it opens",
            live_window("2999-01-01T10:00:00Z", "2999-01-01T09:00:00Z", 0),
            "/live_window/closes_at",
        ),
        (
            "live_window longer than 24 hours",
            live_window("2999-01-01T09:00:00Z", "2999-01-02T09:00:01Z", 0),
            "/live_window/closes_at",
        ),
        (
            "live_window grace above an hour",
            live_window("2999-01-01T09:00:00Z", "2999-01-01T10:00:00Z", 3601),
            "/live_window/grace_seconds",
        ),
        (
            "live_window negative grace",
            live_window("2999-01-01T09:00:00Z", "2999-01-01T10:00:00Z", -1),
            "/live_window/grace_seconds",
        ),
        (
            "live_window without opens_at",
            json!({"live_window": {"closes_at": "2999-01-01T10:00:00Z"}}),
            "/live_window/opens_at",
        ),
        (
            "live_window opens_at not a time",
            live_window("at nine", "2999-01-01T10:00:00Z", 0),
            "/live_window/opens_at",
        ),
    ];
    let mut cases: Vec<_> = fixed
        .into_iter()
        .map(|(case, overrides, field)| (case, overrides, field.to_owned()))
        .collect();
    let long_key = "k".repeat(129);
    cases.push((
        "tag key of 129 characters",
        json!({"tags": {&long_key: "x"}}),
        format!("/tags/{long_key}"),
    ));
    cases
}

/// Asserts a 422 whose errors name exactly `fields`, each with a message, and returns the body.
fn assert_invalid(reply: &Reply, fields: &[&str]) -> Value {
    let problem = reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), fields, "{problem}");
    for error in problem["errors"].as_array().expect("errors") {
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.len() > 10, "a message a person can act on: {error}");
    }
    problem
}

#[tokio::test]
async fn each_rule_refuses_its_bad_value_with_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let valid = channel("acme", "c1");

    for (case, overrides, field) in bad_requests() {
        let reply = app
            .post("/v1/channels", &key, &merged(&valid, &overrides))
            .await;

        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{case}: {}",
            reply.text
        );
        assert_eq!(
            reply.error_fields(),
            vec![field.clone()],
            "{case}: {}",
            reply.text
        );
        assert_invalid(&reply, &[field.as_str()]);
    }
    let count: i64 = sqlx::query_scalar("select count(*) from channels")
        .fetch_one(&app.pool)
        .await
        .expect("count channels");
    assert_eq!(count, 0, "no invalid request stored a channel");
}

#[tokio::test]
async fn the_boundary_values_of_each_rule_are_accepted() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let cases = [
        json!({"name": "n".repeat(128), "tenant": "t".repeat(64)}),
        json!({"name": "A-z_0-9", "tenant": "T_1-x"}),
        json!({"type": "BASIC"}),
        json!({"type": "ADVANCED_SD", "preset": "HIGHER_BANDWIDTH_DELIVERY"}),
        json!({"type": "ADVANCED_HD"}),
        json!({"latency_mode": "NORMAL"}),
        json!({"authorized": true, "playback_public_key_pem": P384_PUBLIC_PEM}),
        json!({"recording": {"s3_bucket_name": "abc", "thumbnail_target_interval_seconds": 1, "reconnect_window_seconds": 0}}),
        json!({"recording": {"s3_bucket_name": "b".repeat(63), "thumbnail_target_interval_seconds": 60, "reconnect_window_seconds": 300}}),
        json!({"recording": {"s3_bucket_name": "my.bucket-1", "thumbnail_recording_mode": "DISABLED"}}),
        json!({"tags": tags(46)}),
        json!({"tags": {"k".repeat(128): "v".repeat(256), "empty": "", "Team Name_.:/=+-@": "ok"}}),
        json!({"delete_after": "2999-01-01T00:00:00+02:00"}),
        json!({"chat": {}}),
        json!({"chat": {"enabled": false, "maximum_message_rate_per_second": 1, "maximum_message_length": 1}}),
        json!({"chat": {"maximum_message_rate_per_second": 100, "maximum_message_length": 500, "log_to_s3_bucket": "my.chat-logs",
                        "message_review_handler": {"lambda_arn": "arn:aws:lambda:eu-west-1:123456789012:function:review:live", "fallback_result": "DENY"}}}),
        live_window("2999-01-01T09:00:00Z", "2999-01-02T09:00:00Z", 3600),
        live_window("2999-01-01T09:00:00Z", "2999-01-01T09:00:01+00:00", 0),
    ];
    for (i, overrides) in cases.iter().enumerate() {
        let request = merged(&channel("acme", &format!("c{i}")), overrides);

        let reply = app.post("/v1/channels", &key, &request).await;

        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "{overrides}: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn one_422_lists_every_bad_field_of_a_request() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let request = json!({
        "tenant": "bad tenant",
        "name": "",
        "type": "HUGE",
        "latency_mode": "FAST",
        "playback_public_key_pem": "nope",
        "recording": {"s3_bucket_name": "UPPER", "thumbnail_target_interval_seconds": 0, "reconnect_window_seconds": 301},
        "tags": {"aws:x": "1", "Name": "n"},
        "delete_after": "yesterday",
        "chat": {"maximum_message_rate_per_second": 0, "maximum_message_length": 501, "log_to_s3_bucket": "x",
                 "message_review_handler": {"lambda_arn": "arn:aws:s3:::bucket", "fallback_result": "NO"}}
    });

    let reply = app.post("/v1/channels", &key, &request).await;

    let problem = reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = reply.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "/chat/log_to_s3_bucket",
            "/chat/maximum_message_length",
            "/chat/maximum_message_rate_per_second",
            "/chat/message_review_handler/fallback_result",
            "/chat/message_review_handler/lambda_arn",
            "/delete_after",
            "/latency_mode",
            "/name",
            "/playback_public_key_pem",
            "/recording/reconnect_window_seconds",
            "/recording/s3_bucket_name",
            "/recording/thumbnail_target_interval_seconds",
            "/tags/Name",
            "/tags/aws:x",
            "/tenant",
            "/type",
        ],
        "{problem}"
    );
}

/// A fresh P-384 private key in PKCS#8 PEM, made here so no private key sits in the repository.
fn private_key_pem() -> String {
    let key = p384::SecretKey::random(&mut rand::rngs::OsRng);
    key.to_pkcs8_pem(LineEnding::LF)
        .expect("encode a private key")
        .to_string()
}

#[tokio::test]
async fn a_private_key_is_refused_and_never_echoed_back() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let private = private_key_pem();
    // Every line of base64 between the PEM armour is secret material.
    let secret_lines: Vec<&str> = private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();

    for authorized in [true, false] {
        let request = merged(
            &channel("acme", "c1"),
            &json!({"authorized": authorized, "playback_public_key_pem": private}),
        );

        let reply = app.post("/v1/channels", &key, &request).await;

        assert_invalid(&reply, &["/playback_public_key_pem"]);
        for line in &secret_lines {
            assert!(
                !reply.text.contains(line),
                "the private key leaked: {}",
                reply.text
            );
        }
        assert!(!reply.text.contains("BEGIN PRIVATE KEY"), "{}", reply.text);
    }
    assert_eq!(app.channel_rows("acme", "c1").await, 0);
}

#[tokio::test]
async fn a_patch_is_validated_like_a_create() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &full_channel("acme", "c1")).await;
    let path = format!("/v1/channels/{}", id_of(&created));

    let reply = app
        .patch(
            &path,
            &key,
            &json!({"type": "STANDARD", "recording": {"reconnect_window_seconds": 999}, "tags": {"aws:x": "y"}}),
        )
        .await;

    assert_invalid(
        &reply,
        &[
            "/preset",
            "/recording/reconnect_window_seconds",
            "/tags/aws:x",
        ],
    );
    let after = app.get(&path, &key).await.json();
    assert_eq!(after, created, "a refused patch changes nothing");
}

#[tokio::test]
async fn chat_settings_follow_merge_patch_like_every_other_field() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let handler = "arn:aws:lambda:eu-west-1:123456789012:function:review";
    let body = merged(
        &channel("acme", "chat-1"),
        &json!({"chat": {"maximum_message_length": 200, "log_to_s3_bucket": "chat-logs",
                         "message_review_handler": {"lambda_arn": handler}}}),
    );
    let created = app.create_channel(&key, &body).await;
    let path = format!("/v1/channels/{}", id_of(&created));
    assert_eq!(
        created["spec"]["chat"],
        json!({"enabled": true, "maximum_message_rate_per_second": 10, "maximum_message_length": 200,
               "message_review_handler": {"lambda_arn": handler, "fallback_result": "ALLOW"},
               "log_to_s3_bucket": "chat-logs"})
    );

    let patch =
        json!({"chat": {"maximum_message_rate_per_second": 50, "message_review_handler": null}});
    let patched = app.patch(&path, &key, &patch).await.json();
    assert_eq!(
        patched["spec"]["chat"],
        json!({"enabled": true, "maximum_message_rate_per_second": 50, "maximum_message_length": 200,
               "message_review_handler": null, "log_to_s3_bucket": "chat-logs"}),
        "members the patch leaves out keep their values; null removes one"
    );
    let bad = app
        .patch(
            &path,
            &key,
            &json!({"chat": {"maximum_message_length": 501}}),
        )
        .await;
    assert_invalid(&bad, &["/chat/maximum_message_length"]);

    let removed = app.patch(&path, &key, &json!({"chat": null})).await.json();
    assert!(removed["spec"].get("chat").is_none(), "{removed}");
}

#[tokio::test]
async fn a_patch_cannot_change_the_tenant_or_the_name() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app.create_channel(&key, &channel("acme", "c1")).await;
    let path = format!("/v1/channels/{}", id_of(&created));

    let cases = [
        (json!({"tenant": "globex"}), vec!["/tenant"]),
        (json!({"name": "c2"}), vec!["/name"]),
        (
            json!({"tenant": "globex", "name": "c2"}),
            vec!["/tenant", "/name"],
        ),
        (json!({"name": null}), vec!["/name"]),
        (json!({"tenant": "bad tenant"}), vec!["/tenant"]),
    ];
    for (patch, fields) in cases {
        let reply = app.patch(&path, &key, &patch).await;

        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{patch}: {}",
            reply.text
        );
        assert_invalid(&reply, &fields);
    }
    assert_eq!(app.get(&path, &key).await.json(), created);
}

#[tokio::test]
async fn an_unchanged_delete_after_that_has_passed_does_not_block_a_patch() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await;
    let created = app
        .create_channel(
            &key,
            &merged(
                &channel("acme", "c1"),
                &json!({"delete_after": "2999-01-01T00:00:00Z"}),
            ),
        )
        .await;
    // Time passes: the stored delete_after is now in the past.
    sqlx::query(
        "update channels set spec = jsonb_set(spec, '{delete_after}', '\"2020-01-01T00:00:00Z\"'),
         delete_after = '2020-01-01T00:00:00Z' where id = $1::uuid",
    )
    .bind(id_of(&created))
    .execute(&app.pool)
    .await
    .expect("age the channel");

    let reply = app
        .patch(
            &format!("/v1/channels/{}", id_of(&created)),
            &key,
            &json!({"latency_mode": "NORMAL"}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
}
