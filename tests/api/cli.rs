//! The command line against a test database: `api-key create/list/revoke` (the key printed alone
//! on the last line works against the running app, listings never show it, revoking stops it),
//! `openapi` and `migrate`.

use std::process::Output;

use reqwest::StatusCode;

use crate::helpers::{OPENAPI_PATH, TestApp};

/// Runs the built binary with `DATABASE_URL` naming the test database.
async fn run(app: &TestApp, args: &[&str]) -> Output {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ivs-provisioner"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run ivs-provisioner");
    assert!(
        output.status.success(),
        "ivs-provisioner {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

#[tokio::test]
async fn a_key_made_by_the_cli_works_until_the_cli_revokes_it() {
    let app = TestApp::spawn().await;

    let created = run(
        &app,
        &[
            "api-key",
            "create",
            "--name",
            "ci",
            "--scope",
            "channels:read",
            "--tenant",
            "t1",
        ],
    )
    .await;
    let key = stdout(&created)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let listed = stdout(&run(&app, &["api-key", "list"]).await);

    assert!(
        key.starts_with("ivsp_"),
        "the key is alone on the last line: {key}"
    );
    assert_eq!(app.get("/v1/channels", &key).await.status, StatusCode::OK);
    let forbidden = app
        .post("/v1/channels", &key, &crate::helpers::channel("t1", "c1"))
        .await;
    assert_eq!(
        forbidden.status,
        StatusCode::FORBIDDEN,
        "only the granted scope"
    );
    assert!(
        listed.contains("ci") && listed.contains("channels:read") && listed.contains("t1"),
        "{listed}"
    );
    assert!(!listed.contains(&key), "the list never shows the secret");
    assert!(
        !listed.contains(&key[10..]),
        "not even the secret part of it"
    );

    run(&app, &["api-key", "revoke", "ci"]).await;

    assert_eq!(
        app.get("/v1/channels", &key).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_cli_prints_the_committed_openapi_document() {
    let app = TestApp::spawn().await;

    let printed = stdout(&run(&app, &["openapi"]).await);

    let committed =
        std::fs::read_to_string(OPENAPI_PATH).expect("openapi/openapi.json is committed");
    assert!(
        printed == committed,
        "`ivs-provisioner openapi` differs from openapi/openapi.json"
    );
}

#[tokio::test]
async fn migrate_succeeds_on_a_migrated_database() {
    let app = TestApp::spawn().await;

    let output = run(&app, &["migrate"]).await;

    assert!(stdout(&output).contains("migrations applied"));
}
