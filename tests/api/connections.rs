//! Bounded connections: clients that never finish their request head (slowloris), or sit idle
//! on a keep-alive connection, are closed after the header-read and idle timeouts while
//! `/healthz` keeps answering; and under a lowered open-files limit (the real binary behind
//! `ulimit -n 256`) more half-sent connections than the process may open do not take it off the
//! air. Raw TCP on 127.0.0.1 throughout: an HTTP client would finish its requests.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ivs_provisioner::api::{AppState, Application, HttpSettings};
use ivs_provisioner::aws::{Aws, RateSettings};
use ivs_provisioner::playback_keys::{KeyRing, KeySource, Tokens};
use sqlx::postgres::PgPoolOptions;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::helpers::{LIMITS, MAX_BODY_BYTES, TestApp};

/// The start of a request whose head never ends (no blank line).
const HALF_SENT: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/// Serves the application with these connection settings. `/healthz` needs neither Postgres nor
/// AWS, so both point at closed ports.
async fn serve_with(
    header_read_timeout: Duration,
    keep_alive_idle: Duration,
) -> (SocketAddr, oneshot::Sender<()>) {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/x")
        .expect("a lazy pool");
    let aws = Aws::for_local_endpoint(
        "http://127.0.0.1:1",
        "us-east-1",
        &RateSettings::unlimited(),
    )
    .await;
    let tokens = Tokens::new(Arc::new(KeyRing::new(KeySource::None)), LIMITS);
    let settings = HttpSettings {
        request_timeout: Duration::from_secs(30),
        max_body_bytes: MAX_BODY_BYTES,
        shutdown_grace: Duration::from_secs(1),
        header_read_timeout,
        keep_alive_idle,
        max_connections: 1024,
        limits: Default::default(),
    };
    let state = AppState::new(pool, settings, aws, tokens, None, Duration::from_secs(3600));
    let application = Application::build("127.0.0.1:0".parse().expect("an address"), state)
        .await
        .expect("bind the test server");
    let address = application.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    (address, stop)
}

/// Reads one response (head and a `Content-Length` body) from a keep-alive connection.
async fn read_response(stream: &mut BufReader<TcpStream>) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = stream.read_line(&mut line).await.expect("read a head line");
        assert!(n > 0, "the connection closed mid-response: {head}");
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().expect("a length"))
        })
        .expect("a content-length");
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.expect("read the body");
    head + &String::from_utf8_lossy(&body)
}

/// `GET /healthz` on a new connection; the time it took, or `None` without a 200 within `limit`.
async fn healthz(address: SocketAddr, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let answer = tokio::time::timeout(limit, async {
        let mut stream = TcpStream::connect(address).await.ok()?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        Some(response)
    })
    .await
    .ok()??;
    answer
        .starts_with(b"HTTP/1.1 200")
        .then(|| started.elapsed())
}

/// Waits (at most `limit`) for the server to close `stream`: end of file or a reset.
async fn closed_by_server(stream: &mut (impl AsyncReadExt + Unpin), limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A 408 or any other answer before the close is fine.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn slowloris_connections_are_closed_after_the_header_read_timeout_while_healthz_answers() {
    let (address, _stop) = serve_with(Duration::from_secs(1), Duration::from_secs(60)).await;
    let started = Instant::now();
    // 40 half-sent heads, 20 silent connections, 20 that trickle a byte every 100 ms.
    let mut clients = Vec::new();
    for i in 0..80 {
        let stream = TcpStream::connect(address).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        let kind = i % 4;
        clients.push(tokio::spawn(async move {
            if kind != 3 {
                writer.write_all(HALF_SENT).await.expect("send half a head");
            }
            let trickle = tokio::spawn(async move {
                for _ in 0..50 {
                    if kind != 0 || writer.write_all(b"x").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                writer
            });
            let closed = closed_by_server(&mut reader, Duration::from_secs(6)).await;
            drop(trickle.await);
            closed.then(|| started.elapsed())
        }));
    }
    let mut latencies = Vec::new();
    for _ in 0..10 {
        latencies.push(healthz(address, Duration::from_secs(5)).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut closed_after = Vec::new();
    for client in clients {
        closed_after.push(client.await.expect("a client task"));
    }
    assert!(
        closed_after.iter().all(Option::is_some),
        "every slowloris connection is closed: {closed_after:?}"
    );
    let closed_after: Vec<Duration> = closed_after.into_iter().flatten().collect();
    let (first, last) = (
        closed_after.iter().min().expect("some"),
        closed_after.iter().max().expect("some"),
    );
    eprintln!(
        "80 slowloris connections closed between {first:?} and {last:?}; /healthz: {latencies:?}"
    );
    assert!(
        *first >= Duration::from_millis(900) && *last < Duration::from_secs(3),
        "closed between {first:?} and {last:?}, expected at about the 1 s timeout"
    );
    assert!(
        latencies
            .iter()
            .all(|l| l.is_some_and(|l| l < Duration::from_secs(2))),
        "/healthz answers promptly during the attack: {latencies:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_before() {
    let (address, _stop) = serve_with(Duration::from_secs(1), Duration::from_secs(3)).await;
    let mut stream = BufReader::new(TcpStream::connect(address).await.expect("connect"));
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    stream.write_all(request).await.expect("first request");
    let first = read_response(&mut stream).await;
    // Idle for longer than the header-read timeout: still open, and the next request is served.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(request).await.expect("second request");
    let second = read_response(&mut stream).await;
    let idle = Instant::now();
    let closed = closed_by_server(&mut stream, Duration::from_secs(8)).await;
    let idle_for = idle.elapsed();
    eprintln!("idle keep-alive connection closed after {idle_for:?}");

    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "kept alive past the header-read timeout: {second}"
    );
    assert!(closed, "an idle connection is closed");
    assert!(
        idle_for >= Duration::from_millis(2900) && idle_for < Duration::from_secs(5),
        "closed after {idle_for:?} idle, expected about 3 s"
    );
}

#[tokio::test]
async fn more_half_sent_connections_than_open_files_do_not_take_the_binary_off_the_air() {
    // The database for dev mode; dev mode brings its own AWS simulator.
    let app = TestApp::spawn().await;
    let mut child = tokio::process::Command::new("bash")
        .args([
            "-c",
            // Lowers both the soft and the hard limit: the service cannot raise it.
            r#"ulimit -n 256 && exec "$0" "$@""#,
            env!("CARGO_BIN_EXE_ivs-provisioner"),
            "dev",
            "--bind",
            "127.0.0.1:0",
            "--http-header-read-timeout-secs",
            "1",
            "--http-max-connections",
            "1000",
        ])
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "info,sqlx=warn")
        .env("LOG_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start dev mode");
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    tokio::spawn({
        let log = log.clone();
        async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let mut log = log.lock().expect("the log");
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let address: SocketAddr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.expect("read stdout") {
            if let Some(rest) = line.split("dev mode is running on http://").nth(1) {
                return rest.trim().parse().expect("an address");
            }
        }
        panic!("dev mode exited: {}", log.lock().expect("the log"));
    })
    .await
    .expect("dev mode starts within 60 s");
    assert!(healthz(address, Duration::from_secs(5)).await.is_some());

    // 400 half-sent requests: more than the process can hold open.
    let opening = Instant::now();
    let mut held = Vec::new();
    for _ in 0..400 {
        let mut stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address))
            .await
            .expect("connect within 5 s (the listen backlog holds the rest)")
            .expect("connect");
        stream.write_all(HALF_SENT).await.expect("send half a head");
        held.push(stream);
    }
    let opened_in = opening.elapsed();
    let during = healthz(address, Duration::from_secs(15)).await;
    let alive = child.try_wait().expect("the child's status").is_none();
    drop(held);
    let after = healthz(address, Duration::from_secs(5)).await;
    let log = log.lock().expect("the log").clone();
    eprintln!(
        "400 half-sent connections opened in {opened_in:?} at 256 open files: /healthz {during:?}, after {after:?}"
    );

    assert!(alive, "the service is still running: {log}");
    assert!(
        during.is_some_and(|d| d < Duration::from_secs(8)),
        "/healthz answered within a few seconds under the flood: {during:?}\n{log}"
    );
    assert!(
        after.is_some_and(|d| d < Duration::from_secs(2)),
        "and promptly once it ends: {after:?}"
    );
    assert!(
        log.contains("max_connections=128"),
        "the cap is fitted to 256 open files minus the reserve: {log}"
    );
    let accept_errors = log.matches("accept error").count();
    assert!(
        accept_errors <= 1,
        "no repeated accept errors ({accept_errors}): {log}"
    );
}
