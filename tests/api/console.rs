//! The operator console over HTTP, as a browser would drive it (cookies and form posts by hand,
//! so each attribute can be checked): sessions, cookies, headers, CSRF and origin checks, expiry
//! and revocation, tenant isolation, scope-gated actions, and no secret in any page.

use std::time::Duration;

use ivs_provisioner::db;
use ivs_provisioner::domain::api_key::Scope;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Reply, TestApp, channel, id_of, send};

/// A signed-in browser: its session cookie and the CSRF token its pages carry.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
}

/// A sign-in from the console's origin (as a TLS-terminating proxy reports it when `https`).
async fn sign_in_reply(app: &TestApp, key: &str, forwarded_https: bool) -> Reply {
    let (origin, proto) = match forwarded_https {
        true => (app.address.replace("http://", "https://"), "https"),
        false => (app.address.clone(), "http"),
    };
    send(
        app.request(Method::POST, "/console/sign-in")
            .header(ORIGIN, origin)
            .header("x-forwarded-proto", proto)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[("api_key", key)])),
    )
    .await
}

async fn sign_in<'a>(app: &'a TestApp, key: &str) -> Browser<'a> {
    let reply = sign_in_reply(app, key, false).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    let set_cookie = reply.header("set-cookie").expect("a session cookie");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let mut browser = Browser {
        app,
        cookie,
        csrf: String::new(),
    };
    let page = browser.get("/console/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    browser.csrf = csrf_of(&page.text);
    browser
}

fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="csrf-token" content=""#)
        .expect("the page carries its CSRF token")
        + r#"name="csrf-token" content=""#.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

impl Browser<'_> {
    async fn get(&self, path: &str) -> Reply {
        send(
            self.app
                .request(Method::GET, path)
                .header(COOKIE, &self.cookie),
        )
        .await
    }

    /// A form post from the console's own origin with these fields (add `csrf_token` yourself).
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.post_from(path, fields, &self.app.address).await
    }

    async fn post_from(&self, path: &str, fields: &[(&str, &str)], origin: &str) -> Reply {
        send(
            self.app
                .request(Method::POST, path)
                .header(COOKIE, &self.cookie)
                .header(ORIGIN, origin)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form(fields)),
        )
        .await
    }

    /// A form post with the session's CSRF token.
    async fn act(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut all = vec![("csrf_token", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }
}

/// A channel of `tenant` made ready by the reconciler; returns its id.
async fn ready_channel(app: &TestApp, key: &str, tenant: &str, name: &str) -> String {
    let mut body = channel(tenant, name);
    body["authorized"] = json!(true);
    let id = id_of(&app.create_channel(key, &body).await);
    app.reconcile().await;
    id
}

async fn phase_and_events(app: &TestApp, id: &str) -> (String, i64) {
    sqlx::query_as(
        "select phase, (select count(*) from channel_events where channel_id = c.id)
           from channels c where id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("read the channel")
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_pages_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let key = app.key(&[Scope::ChannelsRead], None).await;
    let reply = sign_in_reply(&app, &key, false).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/console/"));
    let cookie = reply.header("set-cookie").expect("a cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let https = sign_in_reply(&app, &key, true).await;
    assert_eq!(https.status, StatusCode::SEE_OTHER, "{}", https.text);
    assert!(
        https
            .header("set-cookie")
            .expect("a cookie")
            .contains("; Secure")
    );

    // Only the token's hash is stored.
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("ivsp_console=");
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("select token_hash from console_sessions")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 32 && h != token.as_bytes())
    );

    let browser = sign_in(&app, &key).await;
    for path in ["/console/", "/console/channels", "/console/sign-in"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let csp = page.header("content-security-policy").expect("a CSP");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(page.header("referrer-policy"), Some("same-origin"));
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert!(
            !page.text.contains("<script>"),
            "no inline script on {path}"
        );
    }
    let script = browser.get("/console/assets/console.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(script.header("cache-control"), Some("public, max-age=3600"));
}

#[tokio::test]
async fn a_bad_key_a_key_without_channels_read_or_another_origin_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let minter = app.key(&[Scope::TokensMint], None).await;
    assert_eq!(
        sign_in_reply(&app, "ivsp_nope", false).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in_reply(&app, &minter, false).await.status,
        StatusCode::FORBIDDEN
    );
    let reader = app.key(&[Scope::ChannelsRead], None).await;
    let cross_site = send(
        app.request(Method::POST, "/console/sign-in")
            .header(ORIGIN, "https://evil.example")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[("api_key", &reader)])),
    )
    .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    let sessions: i64 = sqlx::query_scalar("select count(*) from console_sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    let signed_out = send(app.request(Method::GET, "/console/channels")).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.header("location"), Some("/console/sign-in"));
}

#[tokio::test]
async fn forms_without_the_session_s_csrf_token_or_from_another_origin_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_channel(&app, &admin, "acme", "csrf-1").await;
    let browser = sign_in(&app, &admin).await;
    let other = sign_in(&app, &admin).await;
    assert_ne!(browser.csrf, other.csrf, "each session has its own token");
    let before = phase_and_events(&app, &id).await;
    let delete = format!("/console/channels/{id}/delete");
    let retry = format!("/console/channels/{id}/retry");
    let refusals = [
        browser.post(&retry, &[]).await,
        browser.post(&retry, &[("csrf_token", "forged")]).await,
        browser.post(&retry, &[("csrf_token", &other.csrf)]).await,
        browser
            .post(&delete, &[("csrf_token", ""), ("confirm_name", "csrf-1")])
            .await,
        browser
            .post_from(
                &delete,
                &[("csrf_token", &browser.csrf), ("confirm_name", "csrf-1")],
                "https://evil.example",
            )
            .await,
    ];
    for refusal in refusals {
        assert_eq!(refusal.status, StatusCode::FORBIDDEN, "{}", refusal.text);
    }
    assert_eq!(phase_and_events(&app, &id).await, before, "nothing changed");

    // The wrong name is refused too; the right token and name delete it.
    let wrong_name = browser.act(&delete, &[("confirm_name", "other")]).await;
    assert_eq!(wrong_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(phase_and_events(&app, &id).await, before);
    let deleted = browser.act(&delete, &[("confirm_name", "csrf-1")]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.text);
    assert_eq!(phase_and_events(&app, &id).await.0, "deleting");
}

#[tokio::test]
async fn an_expired_session_or_a_revoked_key_ends_at_the_next_request() {
    let app = TestApp::spawn().await;
    let key = app
        .named_key("operator", &[Scope::ChannelsRead], None)
        .await;
    let browser = sign_in(&app, &key).await;
    sqlx::query("update console_sessions set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let expired = browser.get("/console/").await;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    assert_eq!(expired.header("location"), Some("/console/sign-in"));
    assert_eq!(
        browser.get("/console/events").await.status,
        StatusCode::UNAUTHORIZED
    );

    let again = sign_in(&app, &key).await;
    assert!(db::api_keys::revoke(&app.pool, "operator").await.unwrap());
    assert_eq!(
        again.get("/console/channels").await.status,
        StatusCode::SEE_OTHER
    );

    // Signing out ends the session the same way.
    let key = app.key(&[Scope::ChannelsRead], None).await;
    let browser = sign_in(&app, &key).await;
    let out = browser.act("/console/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(browser.get("/console/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_tenant_bound_key_sees_and_touches_only_its_tenant() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let own = ready_channel(&app, &admin, "acme", "acme-class").await;
    let foreign = ready_channel(&app, &admin, "globex", "globex-class").await;
    let bound = app.key(&[Scope::Admin], Some("acme")).await;
    let browser = sign_in(&app, &bound).await;
    let list = browser.get("/console/channels").await;
    assert!(list.text.contains("acme-class") && !list.text.contains("globex-class"));
    let asked = browser.get("/console/channels?tenant=globex").await;
    assert!(!asked.text.contains("globex-class"), "{}", asked.text);
    let overview = browser.get("/console/").await;
    assert!(!overview.text.contains("globex"));
    assert_eq!(
        browser
            .get(&format!("/console/channels/{foreign}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        browser
            .get(&format!("/console/channels/{own}"))
            .await
            .status,
        StatusCode::OK
    );
    let before = phase_and_events(&app, &foreign).await;
    for action in [
        "retry",
        "rotate-stream-key",
        "reveal-stream-key",
        "playback-token",
    ] {
        let reply = browser
            .act(&format!("/console/channels/{foreign}/{action}"), &[])
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{action}");
        assert!(!reply.text.contains("sk_"), "{action}");
    }
    assert_eq!(phase_and_events(&app, &foreign).await, before);

    // The event stream's snapshot names only the tenant's own channel.
    let path = format!("/console/events?channels={own},{foreign}");
    let text = first_bytes(&app, &browser, &path).await;
    assert!(text.contains(&own) && !text.contains(&foreign), "{text}");
}

/// The first chunks of a streaming response, until both listed snapshots could have arrived.
async fn first_bytes(app: &TestApp, browser: &Browser<'_>, path: &str) -> String {
    let mut response = app
        .request(Method::GET, path)
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut text = String::new();
    // The snapshot comes at once; the stream then stays quiet until a change or a keep-alive.
    while let Ok(Ok(Some(chunk))) =
        tokio::time::timeout(Duration::from_millis(500), response.chunk()).await
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test]
async fn actions_beyond_the_key_s_scopes_are_not_offered_and_refused_when_forged() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_channel(&app, &admin, "acme", "scoped").await;
    let reader = app.key(&[Scope::ChannelsRead], None).await;
    let browser = sign_in(&app, &reader).await;
    let page = browser.get(&format!("/console/channels/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for button in [
        "retry-button",
        "rotate-stream-key-button",
        "reveal-stream-key-button",
        "delete-button",
        "mint-token-button",
    ] {
        assert!(!page.text.contains(button), "{button} offered to a reader");
    }
    assert!(
        !page.text.contains("/console/drift"),
        "admin navigation offered"
    );
    let before = phase_and_events(&app, &id).await;
    for (action, fields) in [
        ("retry", vec![]),
        ("rotate-stream-key", vec![]),
        ("reveal-stream-key", vec![]),
        ("playback-token", vec![]),
        ("delete", vec![("confirm_name", "scoped")]),
    ] {
        let reply = browser
            .act(&format!("/console/channels/{id}/{action}"), &fields)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{action}: {}",
            reply.text
        );
    }
    assert_eq!(phase_and_events(&app, &id).await, before, "nothing changed");
    for path in [
        "/console/drift",
        "/console/playback-keys",
        "/console/webhooks",
    ] {
        assert_eq!(
            browser.get(path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(
        browser
            .act("/console/playback-keys/rotate", &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // The admin gets every action, and retry works.
    let operator = sign_in(&app, &admin).await;
    let page = operator.get(&format!("/console/channels/{id}")).await;
    assert!(page.text.contains("retry-button") && page.text.contains("reveal-stream-key-button"));
    let retried = operator
        .act(&format!("/console/channels/{id}/retry"), &[])
        .await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER);
    assert_eq!(
        phase_and_events(&app, &id).await.1,
        before.1 + 1,
        "a retry event"
    );
}

#[tokio::test]
async fn no_secret_appears_in_a_page_and_the_stream_key_only_in_its_reveal() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_channel(&app, &admin, "acme", "secretive").await;
    let created = app
        .post(
            "/v1/webhook-endpoints",
            &admin,
            &json!({"url": "http://127.0.0.1:9/hooks", "tenant": "acme"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let endpoint = created.json()["id"].as_str().unwrap().to_owned();
    let webhook_secret = created.json()["secret"].as_str().unwrap().to_owned();
    let stream_key = app
        .get(&format!("/v1/channels/{id}/stream-key"), &admin)
        .await
        .json()["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = sign_in(&app, &admin).await;
    let token = browser
        .cookie
        .trim_start_matches("ivsp_console=")
        .to_owned();
    let pages = [
        "/console/".to_owned(),
        "/console/channels".to_owned(),
        format!("/console/channels/{id}"),
        "/console/drift".to_owned(),
        "/console/playback-keys".to_owned(),
        "/console/webhooks".to_owned(),
        format!("/console/webhooks/{endpoint}"),
    ];
    for path in &pages {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
        for (what, secret) in [
            ("API key", admin.as_str()),
            ("stream key", stream_key.as_str()),
            ("webhook secret", webhook_secret.as_str()),
            ("session token", token.as_str()),
            ("any webhook secret", "whsec_"),
            ("a private key", "PRIVATE KEY"),
        ] {
            assert!(!page.text.contains(secret), "{what} in {path}");
        }
    }
    let channel_page = browser.get(&format!("/console/channels/{id}")).await;
    assert!(
        channel_page
            .text
            .contains(r#"data-testid="stream-key-hidden""#)
    );
    let reveal = browser
        .act(&format!("/console/channels/{id}/reveal-stream-key"), &[])
        .await;
    assert_eq!(reveal.status, StatusCode::OK, "{}", reveal.text);
    assert!(reveal.text.contains(&stream_key));
    assert!(reveal.header("cache-control").unwrap().contains("no-store"));
    assert_eq!(reveal.header("referrer-policy"), Some("no-referrer"));
}

#[tokio::test]
async fn phase_changes_reach_an_open_event_stream() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let browser = sign_in(&app, &admin).await;
    let mut stream = app
        .request(Method::GET, "/console/events")
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(stream.status(), StatusCode::OK);
    let id = id_of(&app.create_channel(&admin, &channel("acme", "live-1")).await);
    let mut text = String::new();
    let arrived = tokio::time::timeout(Duration::from_secs(10), async {
        while !text.contains(&id) {
            match stream.chunk().await {
                Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
    })
    .await;
    assert!(arrived.is_ok(), "no event within 10 s: {text}");
    assert!(
        text.contains("event: channel") && text.contains(r#""phase":"pending""#),
        "{text}"
    );
}

#[tokio::test]
async fn sessions_and_recordings_show_with_their_s3_locations_to_their_tenant_only() {
    use ivs_provisioner::domain::broadcast::{
        FactSource, RecordingFact, RecordingStatus, SessionFact,
    };
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_channel(&app, &admin, "acme", "recorded").await;
    let arn: String =
        sqlx::query_scalar("select outputs ->> 'channel_arn' from channels where id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let channel = db::broadcasts::channel_by_arn(&app.pool, &arn)
        .await
        .unwrap()
        .expect("the channel as the facts see it");
    let started = chrono::Utc::now() - chrono::Duration::hours(2);
    let session = SessionFact {
        started_at: Some(started),
        ended_at: Some(started + chrono::Duration::hours(1)),
        ..SessionFact::new("st-console-1")
    };
    let prefix = "ivs/v1/123456789012/abc/2026/12/2/10/0/rec-console-1";
    let recording = RecordingFact {
        recording_id: "rec-console-1".into(),
        status: RecordingStatus::Ready,
        reason: None,
        started_at: Some(started),
        ended_at: Some(started + chrono::Duration::hours(1)),
        duration_ms: Some(3_600_000),
        bucket: Some("acme-recordings".into()),
        master_playlist_key: Some(format!("{prefix}/media/hls/master.m3u8")),
        prefix: Some(prefix.into()),
        byte_range_playlist_key: None,
        renditions: None,
        thumbnails_prefix: None,
        stream_ids: vec!["st-console-1".into()],
        recording_session_id: None,
    };
    let mut tx = app.pool.begin().await.unwrap();
    db::broadcasts::record_session_fact(&mut tx, &channel, &session, FactSource::Event)
        .await
        .unwrap();
    db::broadcasts::record_recording_fact(&mut tx, &channel, &recording, FactSource::Event)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let browser = sign_in(&app, &admin).await;
    let page = browser.get(&format!("/console/channels/{id}")).await;
    assert!(
        page.text.contains(r#"data-testid="stream-session""#),
        "{}",
        page.text
    );
    assert!(page.text.contains("st-console-1"));
    assert!(
        page.text
            .contains(&format!("s3://acme-recordings/{prefix}"))
    );
    assert!(page.text.contains("media/hls/master.m3u8") && page.text.contains("1:00:00"));
    let overview = browser.get("/console/").await;
    assert!(
        overview
            .text
            .contains(&format!("s3://acme-recordings/{prefix}"))
    );

    let other = app.key(&[Scope::ChannelsRead], Some("globex")).await;
    let other = sign_in(&app, &other).await;
    let overview = other.get("/console/").await;
    assert!(
        !overview.text.contains("rec-console-1"),
        "another tenant's recording"
    );
}
