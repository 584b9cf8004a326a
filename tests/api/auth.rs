//! The access matrix: missing, garbage and revoked keys (401 with `WWW-Authenticate: Bearer`),
//! what each scope allows (else 403), and tenant-bound keys (other tenants' channels are 404,
//! lists show only the key's tenant, creates for another tenant are 403).

use ivs_provisioner::db;
use ivs_provisioner::domain::api_key::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, channel, id_of, send};

/// One request of each kind the channel API serves, against an existing channel.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    List,
    Get,
    Events,
    Create,
    Patch,
    Delete,
}

const OPS: [Op; 6] = [
    Op::List,
    Op::Get,
    Op::Events,
    Op::Create,
    Op::Patch,
    Op::Delete,
];

impl Op {
    fn writes(self) -> bool {
        matches!(self, Op::Create | Op::Patch | Op::Delete)
    }

    /// Performs the operation as `key` on the channel `id` (Create declares `name` in `tenant`).
    async fn call(self, app: &TestApp, key: &str, id: &str, tenant: &str, name: &str) -> Reply {
        let path = format!("/v1/channels/{id}");
        match self {
            Op::List => app.get("/v1/channels", key).await,
            Op::Get => app.get(&path, key).await,
            Op::Events => app.get(&format!("{path}/events"), key).await,
            Op::Create => app.post("/v1/channels", key, &channel(tenant, name)).await,
            Op::Patch => {
                app.patch(&path, key, &json!({"latency_mode": "NORMAL"}))
                    .await
            }
            Op::Delete => app.delete(&path, key).await,
        }
    }
}

/// What a set of scopes may do.
type Allowed = fn(Op) -> bool;

fn assert_unauthorized(reply: &Reply) {
    reply.problem(StatusCode::UNAUTHORIZED);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
}

/// The channel every access test acts on.
async fn existing_channel(app: &TestApp) -> String {
    let admin = app.admin_key().await;
    id_of(&app.create_channel(&admin, &channel("acme", "c1")).await)
}

#[tokio::test]
async fn a_request_without_a_key_is_a_401_asking_for_a_bearer_token() {
    let app = TestApp::spawn().await;
    let id = existing_channel(&app).await;
    let path = format!("/v1/channels/{id}");

    let requests = [
        app.request(Method::GET, "/v1/channels"),
        app.request(Method::GET, &path),
        app.request(Method::GET, &format!("{path}/events")),
        app.request(Method::POST, "/v1/channels")
            .json(&channel("acme", "c2")),
        app.request(Method::PATCH, &path).json(&json!({})),
        app.request(Method::DELETE, &path),
    ];
    for request in requests {
        assert_unauthorized(&send(request).await);
    }
}

#[tokio::test]
async fn a_garbage_or_malformed_key_is_a_401() {
    let app = TestApp::spawn().await;
    let real = app.admin_key().await;

    let headers = [
        "Bearer ivsp_not-a-real-key".to_owned(),
        "Bearer garbage".to_owned(),
        "Bearer ".to_owned(),
        format!("Basic {real}"),
        real.clone(),
        format!("Bearer {real}x"),
    ];
    for header in headers {
        let reply = send(
            app.request(Method::GET, "/v1/channels")
                .header("authorization", header.as_str()),
        )
        .await;

        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{header}: {}",
            reply.text
        );
        assert_unauthorized(&reply);
        assert!(!reply.text.contains(&real), "the key is not echoed");
    }
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let key = app
        .named_key("booking-service", &[Scope::Admin], None)
        .await;
    assert_eq!(app.get("/v1/channels", &key).await.status, StatusCode::OK);

    let revoked = db::api_keys::revoke(&app.pool, "booking-service")
        .await
        .expect("revoke");

    assert!(revoked);
    assert_unauthorized(&app.get("/v1/channels", &key).await);
}

#[tokio::test]
async fn each_scope_allows_exactly_its_operations() {
    let app = TestApp::spawn().await;
    let id = existing_channel(&app).await;
    let matrix: [(&[Scope], Allowed); 6] = [
        (&[Scope::ChannelsRead], |op| !op.writes()),
        (&[Scope::ChannelsWrite], |op| op.writes()),
        (&[Scope::ChannelsRead, Scope::ChannelsWrite], |_| true),
        (&[Scope::TokensMint], |_| false),
        (&[Scope::StreamKeysRead], |_| false),
        (&[Scope::Admin], |_| true),
    ];

    for (i, (scopes, allowed)) in matrix.into_iter().enumerate() {
        let key = app.key(scopes, None).await;
        for op in OPS {
            // Delete last, so the channel stays patchable for the keys after this one.
            if op == Op::Delete && allowed(op) {
                continue;
            }
            let reply = op.call(&app, &key, &id, "acme", &format!("new-{i}")).await;

            if allowed(op) {
                assert!(
                    reply.status.is_success(),
                    "{scopes:?} {op:?}: {} {}",
                    reply.status,
                    reply.text
                );
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{scopes:?} {op:?}: {}",
                    reply.text
                );
                reply.problem(StatusCode::FORBIDDEN);
            }
        }
    }
    for scopes in [&[Scope::ChannelsWrite][..], &[Scope::Admin]] {
        let key = app.key(scopes, None).await;

        let reply = Op::Delete.call(&app, &key, &id, "acme", "unused").await;

        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "{scopes:?}: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn a_tenant_bound_key_lists_only_its_tenant() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    for tenant in ["acme", "globex"] {
        for name in ["c1", "c2"] {
            app.create_channel(&admin, &channel(tenant, name)).await;
        }
    }
    let key = app.key(&[Scope::ChannelsRead], Some("acme")).await;

    for query in ["", "?tenant=acme", "?tenant=globex", "?name_prefix=c"] {
        let reply = app.get(&format!("/v1/channels{query}"), &key).await;

        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
        let tenants: Vec<Value> = reply.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["tenant"].clone())
            .collect();
        let expected = if query.contains("globex") { 0 } else { 2 };
        assert_eq!(tenants, vec![json!("acme"); expected], "{query}");
    }
}

#[tokio::test]
async fn another_tenants_channel_is_a_404_for_a_tenant_bound_key() {
    let app = TestApp::spawn().await;
    let id = existing_channel(&app).await;
    let key = app
        .key(&[Scope::ChannelsRead, Scope::ChannelsWrite], Some("globex"))
        .await;
    let unknown = uuid::Uuid::now_v7().to_string();

    for op in [Op::Get, Op::Events, Op::Patch, Op::Delete] {
        let theirs = op.call(&app, &key, &id, "globex", "unused").await;
        let missing = op.call(&app, &key, &unknown, "globex", "unused").await;

        let problem = theirs.problem(StatusCode::NOT_FOUND);
        assert_eq!(
            problem,
            missing.problem(StatusCode::NOT_FOUND),
            "{op:?}: indistinguishable from a missing channel"
        );
    }
    let admin = app.admin_key().await;
    let untouched = app.get(&format!("/v1/channels/{id}"), &admin).await.json();
    assert_eq!(untouched["status"]["generation"], 1);
    assert_eq!(untouched["status"]["phase"], "pending");
}

#[tokio::test]
async fn a_tenant_bound_key_cannot_declare_for_another_tenant_but_can_for_its_own() {
    let app = TestApp::spawn().await;
    let key = app
        .key(&[Scope::ChannelsRead, Scope::ChannelsWrite], Some("acme"))
        .await;

    let other = app
        .post("/v1/channels", &key, &channel("globex", "c1"))
        .await;
    let own = app.post("/v1/channels", &key, &channel("acme", "c1")).await;

    other.problem(StatusCode::FORBIDDEN);
    assert_eq!(app.channel_rows("globex", "c1").await, 0);
    assert_eq!(own.status, StatusCode::ACCEPTED, "{}", own.text);
    let id = id_of(&own.json());
    for op in [Op::Get, Op::Events, Op::Patch, Op::Delete] {
        let reply = op.call(&app, &key, &id, "acme", "unused").await;
        assert!(reply.status.is_success(), "{op:?}: {}", reply.text);
    }
}

#[tokio::test]
async fn only_an_admin_may_ask_for_an_immediate_retry() {
    let app = TestApp::spawn().await;
    let id = existing_channel(&app).await;
    let path = format!("/v1/channels/{id}/reconcile");
    let writer = app
        .key(&[Scope::ChannelsRead, Scope::ChannelsWrite], None)
        .await;
    let other_tenant_admin = app.key(&[Scope::Admin], Some("globex")).await;
    let admin = app.admin_key().await;

    let by_writer = app.post(&path, &writer, &json!({})).await;
    let by_other_tenant = app.post(&path, &other_tenant_admin, &json!({})).await;
    let by_admin = app.post(&path, &admin, &json!({})).await;

    by_writer.problem(StatusCode::FORBIDDEN);
    by_other_tenant.problem(StatusCode::NOT_FOUND);
    assert_eq!(by_admin.status, StatusCode::ACCEPTED, "{}", by_admin.text);
}
