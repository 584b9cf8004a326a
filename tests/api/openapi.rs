//! The committed OpenAPI document (`openapi/openapi.json`) is what the code generates.
//! Regenerate it with `UPDATE_OPENAPI=1 cargo test -p ivs-provisioner --test api openapi`.

use serde_json::Value;

use crate::helpers::OPENAPI_PATH;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = ivs_provisioner::api::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(OPENAPI_PATH, &generated).expect("write openapi/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(OPENAPI_PATH).unwrap_or_default();

    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: regenerate it with \
         `UPDATE_OPENAPI=1 cargo test -p ivs-provisioner --test api openapi` and commit it"
    );
}

#[test]
fn the_document_describes_every_route_the_bearer_scheme_and_problems() {
    let doc: Value = serde_json::from_str(&ivs_provisioner::api::openapi_json()).expect("JSON");

    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/v1/channels", &["get", "post"][..]),
        ("/v1/channels/{id}", &["get", "patch", "delete"]),
        ("/v1/channels/{id}/events", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ] {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let create = &doc["paths"]["/v1/channels"]["post"]["responses"];
    for status in [
        "200", "202", "400", "401", "403", "409", "413", "415", "422",
    ] {
        assert!(
            create[status].is_object(),
            "POST /v1/channels documents {status}"
        );
    }
    assert!(
        create["422"]["content"]["application/problem+json"].is_object(),
        "errors are documented as problem+json"
    );
}
