//! Runs `boto3_client.py` with the project venv's Python against a spawned simulator: proves the
//! wire format with a client this project did not write.

mod common;

use std::process::Command;

use common::{Sim, venv_bin};

#[tokio::test]
async fn boto3_drives_the_simulator() {
    let sim = Sim::for_tests().await;
    let python = venv_bin("python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_client.py");
    let endpoint = sim.endpoint();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .output()
    })
    .await
    .expect("join")
    .expect("the venv's python runs (scripts/test.sh creates the venv)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "boto3 client failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
