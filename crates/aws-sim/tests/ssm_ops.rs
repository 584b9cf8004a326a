//! SSM Parameter Store operations through the real `aws-sdk-ssm` over HTTP.

mod common;

use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging, Tag};
use aws_sim::SimConfig;
use common::{Sim, code};

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

#[tokio::test]
async fn put_get_versions_and_overwrite_rules() {
    let sim = Sim::for_tests().await;
    let put = sim
        .ssm
        .put_parameter()
        .name("/svc/a/key")
        .value("secret-1")
        .r#type(ParameterType::SecureString)
        .tags(tag("tenant", "t1"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.version(), 1);
    let err = sim
        .ssm
        .put_parameter()
        .name("/svc/a/key")
        .value("x")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ParameterAlreadyExists"));
    let err = sim
        .ssm
        .put_parameter()
        .name("/svc/a/key")
        .value("x")
        .overwrite(true)
        .tags(tag("a", "b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    let message = aws_sdk_ssm::error::ProvideErrorMetadata::message(&err.into_service_error())
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("tags and overwrite can't be used together"),
        "{message}"
    );
    let put = sim
        .ssm
        .put_parameter()
        .name("/svc/a/key")
        .value("secret-2")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(put.version(), 2);

    let plain = sim
        .ssm
        .get_parameter()
        .name("/svc/a/key")
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap();
    assert_eq!(
        (plain.value(), plain.version(), plain.r#type()),
        (Some("secret-2"), 2, Some(&ParameterType::SecureString))
    );
    assert!(plain.arn().unwrap().ends_with(":parameter/svc/a/key"));
    let hidden = sim
        .ssm
        .get_parameter()
        .name("/svc/a/key")
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap();
    assert!(
        !hidden.value().unwrap().contains("secret-2"),
        "WithDecryption=false must not reveal the plaintext"
    );
    let old = sim
        .ssm
        .get_parameter()
        .name("/svc/a/key:1")
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap();
    assert_eq!(old.value(), Some("secret-1"));
    let by_arn = sim
        .ssm
        .get_parameter()
        .name(plain.arn().unwrap())
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.parameter().unwrap().value(), Some("secret-2"));
    let err = sim
        .ssm
        .put_parameter()
        .name("/svc/a/key")
        .value("x")
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&err).as_deref(),
        Some("HierarchyTypeMismatchException")
    );
    let err = sim
        .ssm
        .get_parameter()
        .name("/svc/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ParameterNotFound"));
}

#[tokio::test]
async fn name_rules() {
    let sim = Sim::for_tests().await;
    for bad in ["/aws/x", "ssm-thing", "has space", "a/b", "/trailing/"] {
        let err = sim
            .ssm
            .put_parameter()
            .name(bad)
            .value("v")
            .r#type(ParameterType::String)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err).as_deref(), Some("ValidationException"), "{bad}");
    }
    let deep = "/l".repeat(16);
    let err = sim
        .ssm
        .put_parameter()
        .name(deep)
        .value("v")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&err).as_deref(),
        Some("HierarchyLevelLimitExceededException")
    );
    let err = sim
        .ssm
        .put_parameter()
        .name("/new")
        .value("v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&err).as_deref(),
        Some("ValidationException"),
        "Type is required on create"
    );
}

#[tokio::test]
async fn get_parameters_and_by_path() {
    let sim = Sim::for_tests().await;
    for name in [
        "/app/a",
        "/app/b",
        "/app/sub/c",
        "/app/sub/deeper/d",
        "/other/e",
    ] {
        sim.ssm
            .put_parameter()
            .name(name)
            .value(format!("v{name}"))
            .r#type(ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    let many = sim
        .ssm
        .get_parameters()
        .names("/app/a")
        .names("/nope")
        .send()
        .await
        .unwrap();
    assert_eq!(many.parameters().len(), 1);
    assert_eq!(many.invalid_parameters(), ["/nope".to_owned()]);

    let direct = sim
        .ssm
        .get_parameters_by_path()
        .path("/app")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = direct
        .parameters()
        .iter()
        .map(|p| p.name().unwrap())
        .collect();
    assert_eq!(names, ["/app/a", "/app/b"]);
    let pages: Vec<_> = sim
        .ssm
        .get_parameters_by_path()
        .path("/app")
        .recursive(true)
        .max_results(3)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p.as_ref().unwrap().parameters().len())
        .collect();
    assert_eq!(sizes, vec![3, 1]);
    let err = sim
        .ssm
        .get_parameters_by_path()
        .path("/app")
        .max_results(11)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    let err = sim
        .ssm
        .get_parameters_by_path()
        .path("/app")
        .next_token("@@")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("InvalidNextToken"));
}

#[tokio::test]
async fn delete_and_tags() {
    let sim = Sim::for_tests().await;
    for name in ["/d/a", "/d/b"] {
        sim.ssm
            .put_parameter()
            .name(name)
            .value("v")
            .r#type(ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    sim.ssm
        .add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/d/a")
        .tags(tag("k", "v"))
        .send()
        .await
        .unwrap();
    let tags = sim
        .ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/d/a")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_list(), [tag("k", "v")]);
    sim.ssm
        .remove_tags_from_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/d/a")
        .tag_keys("k")
        .send()
        .await
        .unwrap();
    let err = sim
        .ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/d/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("InvalidResourceId"));

    sim.ssm
        .delete_parameter()
        .name("/d/a")
        .send()
        .await
        .unwrap();
    let err = sim
        .ssm
        .delete_parameter()
        .name("/d/a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ParameterNotFound"));
    let out = sim
        .ssm
        .delete_parameters()
        .names("/d/b")
        .names("/d/a")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (out.deleted_parameters(), out.invalid_parameters()),
        (&["/d/b".to_owned()][..], &["/d/a".to_owned()][..])
    );
    assert!(
        sim.sim().dump()["parameters"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn parameter_quota() {
    let mut config = SimConfig::for_tests();
    config.quotas.parameters = 1;
    let sim = Sim::start(config).await;
    sim.ssm
        .put_parameter()
        .name("/q/a")
        .value("v")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    let err = sim
        .ssm
        .put_parameter()
        .name("/q/b")
        .value("v")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("ParameterLimitExceeded"));
    sim.ssm
        .put_parameter()
        .name("/q/a")
        .value("v2")
        .overwrite(true)
        .send()
        .await
        .unwrap();
}
