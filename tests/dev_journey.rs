//! The newcomer's journey, exactly as `ivs-provisioner dev` prints it: start dev mode (fresh
//! database, embedded simulator at IVS's real rates), take the printed `export` and curl lines
//! and run them with bash, line by line, failing on the first error.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{KillOnDrop, ReservedDatabase};

#[test]
fn the_printed_dev_journey_works_line_by_line() {
    // Dev mode creates the database itself (that is part of the journey); it is dropped when
    // `database` goes, after `dev` (declared later, dropped first) has been killed.
    let database = ReservedDatabase::fresh();
    let database_url = database.url.clone();
    let mut dev = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_ivs-provisioner"))
            .arg("dev")
            .env("DATABASE_URL", &database_url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dev mode"),
    );
    let started = Instant::now();
    let mut guide = Vec::new();
    for line in BufReader::new(dev.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("Press Ctrl-C") {
            break;
        }
        guide.push(line);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "dev mode printed no guide within 60 s"
        );
    }
    let script: Vec<&str> = guide
        .iter()
        .map(|l| l.trim())
        .skip_while(|l| !l.starts_with("export IVSP_KEY="))
        .filter(|l| {
            l.starts_with("export ")
                || l.starts_with("curl ")
                || l.starts_with("ID=")
                || l.starts_with("until ")
        })
        .collect();
    assert!(
        script.len() >= 10,
        "the guide has the whole journey: {guide:#?}"
    );

    let output = Command::new("timeout")
        .args(["120", "bash", "-e", "-c", &script.join("\n")])
        .output()
        .expect("run the journey with bash");
    let _ = dev.kill();
    let _ = dev.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "journey failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(r#""phase":"ready""#), "{stdout}");
    assert!(
        stdout.contains(r#""token":"eyJ"#),
        "a playback token was minted: {stdout}"
    );
    assert!(
        stdout.contains(r#""session_expires_at""#),
        "a chat token was minted: {stdout}"
    );
    assert!(
        stdout.contains(r#""kind":"chat_event_sent""#),
        "the chat event is in the audit trail: {stdout}"
    );
    assert!(
        stdout.contains(r#""stream_key":"sk_"#),
        "the stream key was read: {stdout}"
    );
    assert!(
        stdout.contains(r#""kind":"updated""#),
        "the audit trail shows the change: {stdout}"
    );
    assert!(
        stdout.contains(r#""stream_id":"st-"#) && stdout.contains(r#""status":"ready""#),
        "the simulated broadcast shows as a session and a ready recording: {stdout}"
    );
    assert!(
        stdout.contains(r#""phase":"deleting""#),
        "the delete was accepted: {stdout}"
    );
}
