//! The OpenAPI document states every request limit, with the values validation uses: utoipa
//! takes only literals in `#[schema(..)]`, so this compares each one with its constant (a
//! changed constant fails here until the attribute follows). It also checks that every counted
//! operation documents its 429 and the rate-limit header fields.

use ivs_provisioner::api::pagination::{CURSOR_PATTERN, MAX_CURSOR_CHARS, MAX_LIMIT};
use ivs_provisioner::domain::channel::{
    MAX_CALLER_TAGS, MAX_NAME_CHARS, MAX_TENANT_CHARS, MAX_TIME_CHARS, RECONNECT_WINDOW_SECS,
    THUMBNAIL_INTERVAL_SECS,
};
use ivs_provisioner::domain::chat_access::{
    MAX_EVENT_NAME_CHARS, MAX_REASON_CHARS, MAX_SESSION_MINUTES, MAX_USER_ID_CHARS,
    MESSAGE_ID_CHARS, MESSAGE_ID_PATTERN, MIN_SESSION_MINUTES,
};
use ivs_provisioner::domain::limits::REQUEST_RANGES;
use ivs_provisioner::domain::rules::{
    BUCKET_PATTERN, MAX_BUCKET_CHARS, MAX_PUBLIC_KEY_PEM_CHARS, MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS, MIN_BUCKET_CHARS, PUBLIC_KEY_PEM_HEADER,
};
use ivs_provisioner::tokens::claims::{
    MAX_ALLOWED_ORIGINS, MAX_ORIGIN_CHARS, MAX_TTL_SETTING_SECS, MAX_VIEWER_ID_CHARS,
    MAX_VIEWER_SESSION_VERSION, ORIGIN_PATTERN,
};
use serde_json::{Value, json};

fn doc() -> Value {
    serde_json::from_str(&ivs_provisioner::api::openapi_json()).expect("the document is JSON")
}

fn field<'a>(doc: &'a Value, schema: &str, property: &str) -> &'a Value {
    let value = &doc["components"]["schemas"][schema]["properties"][property];
    assert!(value.is_object(), "{schema}.{property} is documented");
    value
}

fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .map(|p| &p["schema"])
        .unwrap_or_else(|| panic!("{method} {path} documents {name}"))
}

fn identifier_pattern(max: usize) -> String {
    format!("^[a-zA-Z0-9_-]{{1,{max}}}$")
}

#[test]
fn request_fields_state_the_limits_validation_uses() {
    let doc = doc();
    let tenant = field(&doc, "ChannelRequest", "tenant");
    assert_eq!(tenant["maxLength"], json!(MAX_TENANT_CHARS));
    assert_eq!(tenant["minLength"], 1);
    assert_eq!(
        tenant["pattern"],
        json!(identifier_pattern(MAX_TENANT_CHARS))
    );
    let name = field(&doc, "ChannelRequest", "name");
    assert_eq!(name["maxLength"], json!(MAX_NAME_CHARS));
    assert_eq!(name["pattern"], json!(identifier_pattern(MAX_NAME_CHARS)));
    let pem = field(&doc, "ChannelRequest", "playback_public_key_pem");
    assert_eq!(pem["maxLength"], json!(MAX_PUBLIC_KEY_PEM_CHARS));
    assert_eq!(pem["pattern"], json!(PUBLIC_KEY_PEM_HEADER));
    assert_eq!(
        field(&doc, "ChannelRequest", "delete_after")["maxLength"],
        json!(MAX_TIME_CHARS)
    );
    let tags = field(&doc, "ChannelRequest", "tags");
    assert_eq!(tags["maxProperties"], json!(MAX_CALLER_TAGS));
    assert_eq!(
        tags["additionalProperties"]["maxLength"],
        json!(MAX_TAG_VALUE_CHARS)
    );
    assert_eq!(tags["propertyNames"]["maxLength"], json!(MAX_TAG_KEY_CHARS));

    let bucket = field(&doc, "RecordingRequest", "s3_bucket_name");
    assert_eq!(bucket["minLength"], json!(MIN_BUCKET_CHARS));
    assert_eq!(bucket["maxLength"], json!(MAX_BUCKET_CHARS));
    assert_eq!(bucket["pattern"], json!(BUCKET_PATTERN));
    for (property, (min, max)) in [
        ("thumbnail_target_interval_seconds", THUMBNAIL_INTERVAL_SECS),
        ("reconnect_window_seconds", RECONNECT_WINDOW_SECS),
    ] {
        let value = field(&doc, "RecordingRequest", property);
        assert_eq!(
            (&value["minimum"], &value["maximum"]),
            (&json!(min), &json!(max)),
            "{property}"
        );
    }

    let viewer = field(&doc, "TokenRequest", "viewer_id");
    assert_eq!(viewer["maxLength"], json!(MAX_VIEWER_ID_CHARS));
    let ttl = field(&doc, "TokenRequest", "ttl_seconds");
    assert_eq!(
        (&ttl["minimum"], &ttl["maximum"]),
        (&json!(1), &json!(MAX_TTL_SETTING_SECS))
    );
    let origins = field(&doc, "TokenRequest", "allowed_origins");
    assert_eq!(origins["maxItems"], json!(MAX_ALLOWED_ORIGINS));
    assert_eq!(origins["items"]["maxLength"], json!(MAX_ORIGIN_CHARS));
    assert_eq!(origins["items"]["pattern"], json!(ORIGIN_PATTERN));
    assert_eq!(
        field(&doc, "TokenRequest", "viewer_session_version")["maximum"],
        json!(MAX_VIEWER_SESSION_VERSION)
    );
    assert_eq!(
        field(&doc, "ViewerRevocation", "viewer_id")["maxLength"],
        json!(MAX_VIEWER_ID_CHARS)
    );
    assert_eq!(
        field(
            &doc,
            "ViewerRevocation",
            "viewer_session_versions_less_than_or_equal_to"
        )["maximum"],
        json!(MAX_VIEWER_SESSION_VERSION)
    );
    let user_id = field(&doc, "ChatTokenRequest", "user_id");
    assert_eq!(
        (&user_id["minLength"], &user_id["maxLength"]),
        (&json!(1), &json!(MAX_USER_ID_CHARS))
    );
    let minutes = field(&doc, "ChatTokenRequest", "session_duration_minutes");
    assert_eq!(
        (&minutes["minimum"], &minutes["maximum"]),
        (&json!(MIN_SESSION_MINUTES), &json!(MAX_SESSION_MINUTES))
    );
    let capabilities = field(&doc, "ChatTokenRequest", "capabilities");
    assert_eq!(capabilities["maxItems"], json!(3));
    assert_eq!(capabilities["uniqueItems"], json!(true));
    assert_eq!(
        field(&doc, "Disconnection", "user_id")["maxLength"],
        json!(MAX_USER_ID_CHARS)
    );
    for schema in ["Disconnection", "MessageDeletion"] {
        assert_eq!(
            field(&doc, schema, "reason")["maxLength"],
            json!(MAX_REASON_CHARS),
            "{schema}"
        );
    }
    let message_id = field(&doc, "MessageDeletion", "message_id");
    assert_eq!(
        (&message_id["minLength"], &message_id["maxLength"]),
        (&json!(MESSAGE_ID_CHARS), &json!(MESSAGE_ID_CHARS))
    );
    assert_eq!(message_id["pattern"], json!(MESSAGE_ID_PATTERN));
    assert_eq!(
        field(&doc, "ChatEvent", "event_name")["maxLength"],
        json!(MAX_EVENT_NAME_CHARS)
    );
    for (property, min, max) in REQUEST_RANGES {
        let value = field(&doc, "TenantLimitsRequest", property);
        assert_eq!(
            (&value["minimum"], &value["maximum"]),
            (&json!(min), &json!(max)),
            "{property}"
        );
    }
}

#[test]
fn parameters_state_their_limits() {
    let doc = doc();
    for (path, method) in [("/v1/channels", "get"), ("/v1/channels/{id}/events", "get")] {
        assert_eq!(
            parameter(&doc, path, method, "limit")["maximum"],
            json!(MAX_LIMIT)
        );
        let cursor = parameter(&doc, path, method, "cursor");
        assert_eq!(cursor["maxLength"], json!(MAX_CURSOR_CHARS));
        assert_eq!(cursor["pattern"], json!(CURSOR_PATTERN));
    }
    let tenant = parameter(&doc, "/v1/channels", "get", "tenant");
    assert_eq!(tenant["maxLength"], json!(MAX_TENANT_CHARS));
    assert_eq!(
        parameter(&doc, "/v1/channels", "get", "name_prefix")["maxLength"],
        json!(MAX_NAME_CHARS)
    );
    for method in ["get", "put"] {
        let tenant = parameter(&doc, "/v1/tenants/{tenant}/limits", method, "tenant");
        assert_eq!(tenant["maxLength"], json!(MAX_TENANT_CHARS));
        assert_eq!(
            tenant["pattern"],
            json!(identifier_pattern(MAX_TENANT_CHARS))
        );
    }
    assert_eq!(
        parameter(&doc, "/v1/channels/{id}", "get", "id")["maxLength"],
        36
    );
}

#[test]
fn every_counted_operation_documents_429_and_the_rate_limit_fields() {
    let doc = doc();
    let mut counted = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            if !secured {
                continue;
            }
            counted += 1;
            let responses = operation["responses"].as_object().unwrap();
            let too_many = &responses["429"];
            assert!(
                too_many["content"]["application/problem+json"].is_object(),
                "{method} {path}: 429 is a problem"
            );
            assert!(
                too_many["headers"]["Retry-After"].is_object(),
                "{method} {path}"
            );
            for (status, response) in responses {
                if status.starts_with('2') || status.starts_with('4') {
                    for header in ["RateLimit", "RateLimit-Policy"] {
                        assert!(
                            response["headers"][header].is_object(),
                            "{method} {path} {status} documents {header}"
                        );
                    }
                }
            }
            for status in ["401", "403"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} documents {status}"
                );
            }
        }
    }
    assert!(counted >= 17, "{counted} operations");
}
