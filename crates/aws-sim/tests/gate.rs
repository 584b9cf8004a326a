//! Rates, faults and admin hooks: throttling the SDK classifies as throttling, injected errors,
//! latency, apply_then_fail, and the `/_sim` HTTP endpoints.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_ivs::config::retry::RetryConfig;
use aws_sdk_ssm::types::ParameterType;
use aws_sim::{FailMode, FaultSettings, RateSettings, SimConfig};
use common::{Sim, code, status};
use serde_json::{Value, json};

fn rated(scale: f64) -> SimConfig {
    SimConfig {
        rates: RateSettings {
            enabled: true,
            scale,
        },
        ..SimConfig::for_tests()
    }
}

#[tokio::test]
async fn sdk_retries_a_throttled_call() {
    let sim = Sim::for_tests().await;
    sim.sim()
        .fail_next("CreateChannel", 2, "ThrottlingException", FailMode::Before);
    sim.ivs
        .create_channel()
        .name("retried")
        .send()
        .await
        .expect("the SDK retries throttling");
    assert_eq!(sim.sim().calls_of("CreateChannel"), 3);
}

#[tokio::test]
async fn persistent_rate_excess_surfaces_as_throttling() {
    // scale 0.2 → CreateChannel at 1 TPS, burst 1: the second call is throttled on every attempt.
    let sim = Sim::start(rated(0.2)).await;
    sim.ivs.create_channel().send().await.unwrap();
    let err = sim.ivs.create_channel().send().await.unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ThrottlingException"), Some(429))
    );
    assert_eq!(
        sim.sim().calls_of("ivs:CreateChannel"),
        4,
        "1 + 3 attempts: retried as throttling"
    );
    // Other operations have their own buckets.
    sim.ivs.list_channels().send().await.unwrap();
}

#[tokio::test]
async fn ssm_rates_share_buckets_and_scale() {
    let sim = Sim::start(rated(1.0)).await;
    let no_retry = common::ssm_client(&sim.endpoint(), RetryConfig::disabled());
    let mut codes = Vec::new();
    for i in 0..4 {
        let put = no_retry
            .put_parameter()
            .name(format!("/r/{i}"))
            .value("v")
            .r#type(ParameterType::String)
            .send()
            .await;
        codes.push(put.err().and_then(|e| code(&e)));
    }
    assert_eq!(
        codes,
        [None, None, None, Some("ThrottlingException".to_owned())],
        "PutParameter: 3 TPS"
    );
    sim.sim().set_rates(RateSettings {
        enabled: true,
        scale: 100.0,
    });
    for i in 0..50 {
        no_retry
            .put_parameter()
            .name(format!("/s/{i}"))
            .value("v")
            .r#type(ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    sim.sim().set_rates(RateSettings {
        enabled: false,
        scale: 1.0,
    });
    for _ in 0..100 {
        no_retry.get_parameter().name("/s/1").send().await.unwrap();
    }
}

#[tokio::test]
async fn random_errors_and_latency() {
    let sim = Sim::for_tests().await;
    let no_retry = common::ivs_client(&sim.endpoint(), RetryConfig::disabled());
    sim.sim().set_faults(FaultSettings {
        error_rate: 1.0,
        error_code: "ServiceUnavailable".into(),
        ..FaultSettings::default()
    });
    let err = no_retry.list_channels().send().await.unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ServiceUnavailable"), Some(503))
    );
    let err = sim.ssm.get_parameter().name("/x").send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ServiceUnavailable"));
    assert_eq!(
        sim.sim().calls_of("ssm:GetParameter"),
        3,
        "5xx is retried by the SDK"
    );
    sim.sim().set_faults(FaultSettings {
        error_rate: 1.0,
        ..FaultSettings::default()
    });
    let err = no_retry.list_channels().send().await.unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("InternalServerException"), Some(500))
    );
    sim.sim().set_faults(FaultSettings {
        latency_ms: 150,
        ..FaultSettings::default()
    });
    let started = Instant::now();
    no_retry.list_channels().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    sim.sim().clear_faults();
    no_retry.list_channels().send().await.unwrap();
}

#[tokio::test]
async fn random_throttling_is_injected_beside_server_errors() {
    let sim = Sim::for_tests().await;
    let no_retry = common::ivs_client(&sim.endpoint(), RetryConfig::disabled());
    sim.sim().set_faults(FaultSettings {
        throttle_rate: 1.0,
        ..FaultSettings::default()
    });
    let err = no_retry.list_channels().send().await.unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), status(&err)),
        (Some("ThrottlingException"), Some(429))
    );
    sim.sim().set_faults(FaultSettings {
        throttle_rate: 0.5,
        error_rate: 0.5,
        ..FaultSettings::default()
    });
    let mut codes = std::collections::BTreeSet::new();
    for _ in 0..40 {
        if let Err(err) = no_retry.list_channels().send().await {
            codes.insert(code(&err).unwrap_or_default());
        }
    }
    assert!(
        codes.contains("ThrottlingException") && codes.contains("InternalServerException"),
        "{codes:?}"
    );
    sim.sim().clear_faults();
}

#[tokio::test]
async fn apply_then_fail_makes_a_retried_create_duplicate() {
    let sim = Sim::for_tests().await;
    sim.sim().fail_next(
        "ivs:CreateChannel",
        1,
        "InternalServerException",
        FailMode::ApplyThenFail,
    );
    sim.ivs
        .create_channel()
        .name("dup")
        .tags("owner", "row-1")
        .send()
        .await
        .unwrap();
    let dump = sim.sim().dump();
    assert_eq!(
        dump["channels"].as_array().unwrap().len(),
        2,
        "the lost response plus the SDK's retry"
    );
    let creates = dump["createChannelLog"].as_array().unwrap();
    assert_eq!(
        creates
            .iter()
            .filter(|c| c["tags"]["owner"] == "row-1")
            .count(),
        2
    );

    sim.sim()
        .fail_next("PutParameter", 1, "ValidationException", FailMode::Before);
    let err = sim
        .ssm
        .put_parameter()
        .name("/p")
        .value("v")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    assert!(
        sim.sim().dump()["parameters"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn admin(
    sim: &Sim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let request = reqwest::Client::new().request(method, format!("{}/_sim/{path}", sim.endpoint()));
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn admin_endpoints() {
    use reqwest::Method;
    let sim = Sim::for_tests().await;
    let arn = sim
        .ivs
        .create_channel()
        .name("c")
        .send()
        .await
        .unwrap()
        .channel
        .unwrap()
        .arn
        .unwrap();
    sim.ssm
        .put_parameter()
        .name("/a/secret")
        .value("shh")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();

    let (_, state) = admin(&sim, Method::GET, "state", None).await;
    assert_eq!(state["channels"][0]["arn"], arn.as_str());
    assert_eq!(state["parameters"][0]["versions"][0]["value"], "shh");
    assert_eq!(state["callCounts"]["ivs:CreateChannel"], 1);

    let (status, _) = admin(
        &sim,
        Method::POST,
        "broadcast/start",
        Some(json!({ "channelArn": arn, "viewerCount": 5 })),
    )
    .await;
    assert_eq!(status, 200);
    let stream = sim
        .ivs
        .get_stream()
        .channel_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream
        .unwrap();
    assert_eq!(stream.viewer_count(), 5);
    let (status, _) = admin(
        &sim,
        Method::POST,
        "broadcast/stop",
        Some(json!({ "channelArn": arn })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = admin(
        &sim,
        Method::POST,
        "broadcast/start",
        Some(json!({ "channelArn": "arn:aws:ivs:us-east-1:1:channel/x" })),
    )
    .await;
    assert_eq!(status, 404);

    let rule = json!({ "operation": "GetChannel", "count": 1, "error": "AccessDeniedException" });
    admin(&sim, Method::POST, "fail-next", Some(rule)).await;
    let err = sim.ivs.get_channel().arn(&arn).send().await.unwrap_err();
    assert_eq!(
        (code(&err).as_deref(), common::status(&err)),
        (Some("AccessDeniedException"), Some(403))
    );

    admin(
        &sim,
        Method::POST,
        "faults",
        Some(json!({ "error_rate": 1.0 })),
    )
    .await;
    assert!(sim.ivs.get_channel().arn(&arn).send().await.is_err());
    admin(&sim, Method::DELETE, "faults", None).await;
    sim.ivs.get_channel().arn(&arn).send().await.unwrap();

    admin(
        &sim,
        Method::POST,
        "rates",
        Some(json!({ "enabled": true, "scale": 0.2 })),
    )
    .await;
    sim.ivs.get_channel().arn(&arn).send().await.unwrap();
    assert!(sim.ivs.get_channel().arn(&arn).send().await.is_err());

    let (_, calls) = admin(&sim, Method::GET, "calls", None).await;
    assert!(calls["ivs:GetChannel"].as_u64().unwrap() >= 4);
    admin(&sim, Method::POST, "reset", None).await;
    let (_, state) = admin(&sim, Method::GET, "state", None).await;
    assert!(
        state["channels"].as_array().unwrap().is_empty()
            && state["parameters"].as_array().unwrap().is_empty()
    );
    assert_eq!(state["callCounts"], json!({}));
}

#[tokio::test]
async fn bad_input_is_an_aws_error_not_a_crash() {
    let sim = Sim::for_tests().await;
    let http = reqwest::Client::new();
    let ivs = http
        .post(format!("{}/CreateChannel", sim.endpoint()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(ivs.status().as_u16(), 400);
    assert_eq!(ivs.headers()["x-amzn-errortype"], "ValidationException");
    let ssm = http
        .post(sim.endpoint())
        .header("x-amz-target", "AmazonSSM.PutParameter")
        .header("content-type", "application/x-amz-json-1.1")
        .body(r#"{"Name": 5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ssm.status().as_u16(), 400);
    let body: Value = ssm.json().await.unwrap();
    assert_eq!(body["__type"], "SerializationException");
    let unknown = http
        .post(format!("{}/NoSuchOperation", sim.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}
