//! Fair share between tenants, end to end: the channel quota under concurrent creates (enforced in
//! Postgres), idempotent repeats at the limit, a slot freed by a delete, who may read and set a
//! tenant's limits, request budgets with 429 and the RateLimit fields while another tenant is
//! served, and the account-quota guard against the simulator's own channel quota.

use aws_sim::SimConfig;
use ivs_provisioner::api::limits::LimitSettings;
use ivs_provisioner::db;
use ivs_provisioner::domain::EventKind;
use ivs_provisioner::domain::api_key::Scope;
use ivs_provisioner::domain::limits::AccountGuard;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{LIMITS, Reply, TestApp, channel, id_of, send};
use crate::tokens::{mint, ready_private_channel};

async fn put_limits(app: &TestApp, key: &str, tenant: &str, body: &Value) -> Reply {
    send(
        app.request(Method::PUT, &format!("/v1/tenants/{tenant}/limits"))
            .bearer_auth(key)
            .json(body),
    )
    .await
}

async fn set_limits(app: &TestApp, admin: &str, tenant: &str, body: &Value) -> Value {
    let reply = put_limits(app, admin, tenant, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()
}

async fn live_rows(app: &TestApp, tenant: &str) -> i64 {
    sqlx::query_scalar("select count(*) from channels where tenant = $1 and deleted_at is null")
        .bind(tenant)
        .fetch_one(&app.pool)
        .await
        .expect("count live channels")
}

fn create_channel_calls(app: &TestApp) -> u64 {
    app.sim.simulator.calls_of("CreateChannel")
}

#[tokio::test]
async fn ten_concurrent_creates_against_a_limit_of_three_leave_exactly_three() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let limits = set_limits(&app, &admin, "acme", &json!({"max_live_channels": 3})).await;
    assert_eq!(limits["effective"]["max_live_channels"], 3, "{limits}");
    let booking = app
        .key(&[Scope::ChannelsRead, Scope::ChannelsWrite], Some("acme"))
        .await;

    let bodies: Vec<Value> = (0..10)
        .map(|i| channel("acme", &format!("class-{i}")))
        .collect();
    let replies =
        futures::future::join_all(bodies.iter().map(|b| app.post("/v1/channels", &booking, b)))
            .await;
    let accepted = replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .count();
    assert_eq!(accepted, 3, "{replies:#?}");
    for refused in replies.iter().filter(|r| r.status != StatusCode::ACCEPTED) {
        let problem = refused.problem(StatusCode::CONFLICT);
        assert_eq!(
            problem["type"], "urn:ivs-provisioner:problem:tenant-channel-limit",
            "{problem}"
        );
        assert_eq!(
            (problem["limit"].clone(), problem["current"].clone()),
            (json!(3), json!(3))
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("limit of 3 live channels") && detail.contains("3 live now"),
            "the refusal names the limit and the count: {detail}"
        );
    }
    assert_eq!(
        live_rows(&app, "acme").await,
        3,
        "exactly the limit, in Postgres"
    );
    let limits = app.get("/v1/tenants/acme/limits", &booking).await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);
    assert_eq!(limits.json()["usage"]["live_channels"], 3);
}

#[tokio::test]
async fn an_idempotent_repeat_at_the_limit_still_answers_200() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    set_limits(&app, &admin, "acme", &json!({"max_live_channels": 1})).await;
    let first = app.create_channel(&admin, &channel("acme", "yoga")).await;
    let again = app
        .post("/v1/channels", &admin, &channel("acme", "yoga"))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(id_of(&again.json()), id_of(&first));
    let other = app
        .post("/v1/channels", &admin, &channel("acme", "pilates"))
        .await;
    other.problem(StatusCode::CONFLICT);
    // Other tenants are not limited by acme's cap (the default is unlimited).
    app.create_channel(&admin, &channel("globex", "pilates"))
        .await;
}

#[tokio::test]
async fn a_deleted_channel_frees_its_slot_and_a_deleting_one_still_holds_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    set_limits(&app, &admin, "acme", &json!({"max_live_channels": 1})).await;
    let id = id_of(&app.create_channel(&admin, &channel("acme", "yoga")).await);
    app.reconcile().await;

    let deleting = app.delete(&format!("/v1/channels/{id}"), &admin).await;
    assert_eq!(deleting.status, StatusCode::ACCEPTED, "{}", deleting.text);
    assert_eq!(deleting.json()["status"]["phase"], "deleting");
    let refused = app
        .post("/v1/channels", &admin, &channel("acme", "pilates"))
        .await;
    let problem = refused.problem(StatusCode::CONFLICT);
    assert_eq!(
        problem["current"], 1,
        "a deleting channel still counts: {problem}"
    );

    app.reconcile().await;
    let deleted = app.get(&format!("/v1/channels/{id}"), &admin).await.json();
    assert_eq!(deleted["status"]["phase"], "deleted");
    app.create_channel(&admin, &channel("acme", "pilates"))
        .await;
    assert_eq!(live_rows(&app, "acme").await, 1);
}

#[tokio::test]
async fn a_tenant_key_cannot_change_its_own_limits_nor_read_another_tenants() {
    let app = TestApp::spawn().await;
    let booking = app
        .key(&[Scope::ChannelsRead, Scope::ChannelsWrite], Some("acme"))
        .await;
    let tenant_admin = app.key(&[Scope::Admin], Some("acme")).await;

    let own = put_limits(&app, &booking, "acme", &json!({"max_live_channels": 100})).await;
    own.problem(StatusCode::FORBIDDEN);
    let own = put_limits(
        &app,
        &tenant_admin,
        "acme",
        &json!({"max_live_channels": 100}),
    )
    .await;
    let problem = own.problem(StatusCode::FORBIDDEN);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("bound to no tenant"),
        "{problem}"
    );
    app.get("/v1/tenants/globex/limits", &booking)
        .await
        .problem(StatusCode::NOT_FOUND);
    put_limits(&app, &tenant_admin, "globex", &json!({}))
        .await
        .problem(StatusCode::NOT_FOUND);

    // Its own: the defaults, nothing set, no channels.
    let mine = app.get("/v1/tenants/acme/limits", &booking).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    let mine = mine.json();
    assert_eq!(mine["limits"]["max_live_channels"], Value::Null);
    assert_eq!(mine["effective"]["max_live_channels"], 0, "0 = unlimited");
    assert_eq!(mine["effective"]["requests_per_second"], 50);
    assert_eq!(mine["effective"]["token_burst"], 1000);
    assert_eq!(mine["usage"]["live_channels"], 0);
    assert!(rate_limit_headers(&app.get("/v1/tenants/acme/limits", &booking).await).is_some());
    assert_eq!(
        app.get("/v1/tenants/acme/limits", &tenant_admin)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn limits_are_validated_and_every_change_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let bad = put_limits(
        &app,
        &admin,
        "acme",
        &json!({"max_live_channels": -1, "burst": 0, "token_requests_per_second": 2_000_000}),
    )
    .await;
    bad.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.error_fields(),
        ["/max_live_channels", "/burst", "/token_requests_per_second"]
    );
    let unknown = put_limits(&app, &admin, "acme", &json!({"channels": 3})).await;
    unknown.problem(StatusCode::BAD_REQUEST);
    let bad_tenant = put_limits(&app, &admin, "not%20a%20tenant", &json!({})).await;
    bad_tenant.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_tenant.error_fields(), ["tenant"]);

    let set = set_limits(
        &app,
        &admin,
        "acme",
        &json!({"max_live_channels": 5, "burst": 20}),
    )
    .await;
    assert_eq!(set["limits"]["burst"], 20);
    assert_eq!(set["effective"]["burst"], 20);
    assert_eq!(set["effective"]["requests_per_second"], 50, "the default");
    assert!(
        set["updated_by"].is_string() && set["updated_at"].is_string(),
        "{set}"
    );
    // The same again changes nothing and is not audited; null goes back to the default.
    set_limits(
        &app,
        &admin,
        "acme",
        &json!({"max_live_channels": 5, "burst": 20}),
    )
    .await;
    let reset = set_limits(&app, &admin, "acme", &json!({"max_live_channels": 5})).await;
    assert_eq!(reset["limits"]["burst"], Value::Null);
    assert_eq!(reset["effective"]["burst"], 100);

    let events = db::tenant_limits::events(&app.pool, "acme").await.unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e.kind == EventKind::LimitsChanged));
    assert_eq!(events[0].details.0["from"]["burst"], Value::Null);
    assert_eq!(events[0].details.0["to"]["burst"], 20);
    assert_eq!(events[1].details.0["to"]["burst"], Value::Null);
    assert!(events[0].actor.starts_with("key-"), "{}", events[0].actor);
}

/// `(RateLimit-Policy, RateLimit)`, when the answer carries them.
fn rate_limit_headers(reply: &Reply) -> Option<(String, String)> {
    Some((
        reply.header("ratelimit-policy")?.to_owned(),
        reply.header("ratelimit")?.to_owned(),
    ))
}

#[tokio::test]
async fn beyond_its_budget_a_tenant_gets_429_while_another_tenant_is_served() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    set_limits(
        &app,
        &admin,
        "noisy",
        &json!({"requests_per_second": 1, "burst": 3}),
    )
    .await;
    let noisy = app.key(&[Scope::ChannelsRead], Some("noisy")).await;
    let quiet = app.key(&[Scope::ChannelsRead], Some("quiet")).await;

    let mut refused = None;
    let mut remaining = Vec::new();
    for _ in 0..20 {
        let reply = app.get("/v1/channels", &noisy).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(reply);
            break;
        }
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let (policy, state) = rate_limit_headers(&reply).expect("RateLimit fields on a 200");
        assert_eq!(policy, "\"api\";q=3;w=3");
        remaining.push(state);
        // Another tenant's requests pass between the noisy ones, with their own budget.
        let other = app.get("/v1/channels", &quiet).await;
        assert_eq!(other.status, StatusCode::OK, "{}", other.text);
        let (policy, _) = rate_limit_headers(&other).expect("RateLimit fields");
        assert_eq!(policy, "\"api\";q=100;w=2");
    }
    let refused = refused.expect("the noisy tenant is refused within 20 requests");
    assert_eq!(
        remaining.first().map(String::as_str),
        Some("\"api\";r=2;t=1")
    );
    let problem = refused.problem(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(problem["type"], "urn:ivs-provisioner:problem:rate-limited");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("tenant 'noisy'"),
        "{problem}"
    );
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("Retry-After on a 429")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let (policy, state) = rate_limit_headers(&refused).expect("RateLimit fields on the 429");
    assert_eq!(policy, "\"api\";q=3;w=3");
    assert_eq!(state, "\"api\";r=0;t=3");

    // The quiet tenant keeps being served at once.
    for _ in 0..5 {
        let reply = app.get("/v1/channels", &quiet).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    // And the noisy one again after Retry-After.
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    assert_eq!(app.get("/v1/channels", &noisy).await.status, StatusCode::OK);
}

#[tokio::test]
async fn minting_spends_from_a_budget_of_its_own() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let id = ready_private_channel(&app, &admin, "acme", "yoga").await;
    set_limits(
        &app,
        &admin,
        "acme",
        &json!({"requests_per_second": 1, "burst": 1, "token_burst": 500}),
    )
    .await;
    let key = app
        .key(&[Scope::ChannelsRead, Scope::TokensMint], Some("acme"))
        .await;
    assert_eq!(app.get("/v1/channels", &key).await.status, StatusCode::OK);
    let spent = app.get("/v1/channels", &key).await;
    spent.problem(StatusCode::TOO_MANY_REQUESTS);
    // The API budget is spent; viewers still get their tokens.
    for _ in 0..3 {
        let token = mint(&app, &key, &id, &json!({})).await;
        assert_eq!(token.status, StatusCode::OK, "{}", token.text);
        let (policy, _) = rate_limit_headers(&token).expect("RateLimit fields on a token");
        assert_eq!(policy, "\"tokens\";q=500;w=3");
    }
}

/// An app whose account-quota guard allows `quota` channels, against a simulator that holds at
/// most `ivs_quota`.
async fn app_with_quotas(quota: u32, ivs_quota: usize) -> TestApp {
    let mut sim = SimConfig::for_tests();
    sim.quotas.channels = ivs_quota;
    let limits = LimitSettings {
        account: AccountGuard { quota, reserve: 0 },
        ..LimitSettings::default()
    };
    TestApp::spawn_configured(LIMITS, limits, sim).await
}

#[tokio::test]
async fn the_account_guard_refuses_before_ivs_is_asked() {
    let app = app_with_quotas(2, 2).await;
    let admin = app.admin_key().await;
    app.create_channel(&admin, &channel("acme", "a")).await;
    app.create_channel(&admin, &channel("globex", "b")).await;
    app.reconcile().await;
    assert_eq!(create_channel_calls(&app), 2);

    let refused = app
        .post("/v1/channels", &admin, &channel("initech", "c"))
        .await;
    let problem = refused.problem(StatusCode::CONFLICT);
    assert_eq!(problem["type"], "urn:ivs-provisioner:problem:account-full");
    assert_eq!(
        (problem["limit"].clone(), problem["current"].clone()),
        (json!(2), json!(2))
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("account is full") && detail.contains("nothing was sent to IVS"),
        "{detail}"
    );
    app.reconcile().await;
    assert_eq!(create_channel_calls(&app), 2, "IVS was never asked");
    assert_eq!(live_rows(&app, "initech").await, 0);
}

#[tokio::test]
async fn when_ivs_says_the_account_is_full_the_channel_says_so_and_the_guard_learns() {
    // The guard believes in 5000 channels; IVS holds 2, one of them made outside the service.
    let app = app_with_quotas(5000, 2).await;
    let ivs = app.raw_ivs().await;
    let foreign = ivs
        .create_channel()
        .name("made-in-the-console")
        .send()
        .await
        .expect("a channel made outside the service");
    let foreign_arn = foreign.channel().and_then(|c| c.arn()).unwrap().to_owned();
    let admin = app.admin_key().await;
    let first = id_of(&app.create_channel(&admin, &channel("acme", "a")).await);
    app.reconcile().await;
    let second = id_of(&app.create_channel(&admin, &channel("acme", "b")).await);
    app.reconcile().await;
    let first = app
        .get(&format!("/v1/channels/{first}"), &admin)
        .await
        .json();
    assert_eq!(first["status"]["phase"], "ready", "{first}");
    let failed = app
        .get(&format!("/v1/channels/{second}"), &admin)
        .await
        .json();
    assert_eq!(failed["status"]["phase"], "failed", "{failed}");
    let error = &failed["status"]["last_error"];
    assert_eq!(error["code"], "ServiceQuotaExceededException", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("the AWS account is full"),
        "{error}"
    );

    // The guard now knows the account is full at the 1 channel the service holds.
    let calls = create_channel_calls(&app);
    let refused = app
        .post("/v1/channels", &admin, &channel("acme", "c"))
        .await;
    let problem = refused.problem(StatusCode::CONFLICT);
    assert_eq!(problem["type"], "urn:ivs-provisioner:problem:account-full");
    assert_eq!(problem["limit"], 1, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("while the service held 1"),
        "{problem}"
    );
    assert_eq!(create_channel_calls(&app), calls, "refused before IVS");

    // Once the foreign channel is gone, a retry gets its channel and the guard forgets.
    ivs.delete_channel()
        .arn(foreign_arn)
        .send()
        .await
        .expect("delete the foreign channel");
    let retry = app
        .post(
            &format!("/v1/channels/{second}/reconcile"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(retry.status, StatusCode::ACCEPTED, "{}", retry.text);
    app.reconcile().await;
    let retried = app
        .get(&format!("/v1/channels/{second}"), &admin)
        .await
        .json();
    assert_eq!(retried["status"]["phase"], "ready", "{retried}");
    assert_eq!(
        db::tenant_limits::ivs_full_at(&app.pool, 86_400)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn an_account_full_record_lapses_and_is_made_again_while_ivs_is_still_full() {
    let app = app_with_quotas(5000, 1).await;
    let admin = app.admin_key().await;
    app.create_channel(&admin, &channel("acme", "a")).await;
    app.reconcile().await;
    app.create_channel(&admin, &channel("acme", "b")).await;
    app.reconcile().await;
    let refused = app
        .post("/v1/channels", &admin, &channel("acme", "c"))
        .await;
    refused.problem(StatusCode::CONFLICT);

    // An hour later the guard no longer trusts the record: the next create goes to IVS, which
    // is still full, so that channel fails and the record is made again.
    sqlx::query(
        "update ivs_channel_quota_observations set observed_at = now() - interval '2 hours'",
    )
    .execute(&app.pool)
    .await
    .expect("age the record");
    let c = id_of(&app.create_channel(&admin, &channel("acme", "c")).await);
    app.reconcile().await;
    let c = app.get(&format!("/v1/channels/{c}"), &admin).await.json();
    assert_eq!(
        c["status"]["last_error"]["code"], "ServiceQuotaExceededException",
        "{c}"
    );
    let refused = app
        .post("/v1/channels", &admin, &channel("acme", "d"))
        .await;
    let problem = refused.problem(StatusCode::CONFLICT);
    assert_eq!(problem["type"], "urn:ivs-provisioner:problem:account-full");
}
