//! Log lines stay in their own span: while several channels are reconciled at once and requests
//! are answered, no line is logged inside two `reconcile` spans, nor inside a request's `http`
//! span and a `reconcile` span at once. A span guard held across an `.await` did exactly that
//! (the span stays entered on the thread while other tasks run); clippy.toml forbids the guard,
//! and this test checks the effect.

use std::sync::{Arc, Mutex};

use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::helpers::{TestApp, channel};

/// For every event, the names of the spans it was logged in, outermost first.
#[derive(Clone, Default)]
struct Scopes(Arc<Mutex<Vec<Vec<&'static str>>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Scopes {
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|span| span.name()).collect())
            .unwrap_or_default();
        self.0.lock().unwrap().push(scope);
    }
}

impl Scopes {
    fn take(&self) -> Vec<Vec<&'static str>> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Scopes that mix two pieces of work: a reconcile in a reconcile, or a request and a
/// reconcile, or two requests.
fn tangled(scopes: &[Vec<&'static str>]) -> Vec<String> {
    scopes
        .iter()
        .filter(|scope| {
            let count = |name| scope.iter().filter(|n| **n == name).count();
            count("reconcile") + count("http") > 1
        })
        .map(|scope| scope.join(":"))
        .collect()
}

/// What the reconciler once did: enter the channel's span and hold the guard across `.await`.
#[expect(
    clippy::await_holding_invalid_type,
    reason = "the pattern clippy.toml forbids, to show what it does to the logs"
)]
async fn reconcile_holding_the_guard(name: &'static str) {
    let span = tracing::info_span!("reconcile", name);
    let _entered = span.enter();
    tokio::task::yield_now().await;
    tracing::info!("working");
}

#[tokio::test]
async fn log_lines_stay_in_their_own_channels_and_requests_span() {
    let scopes = Scopes::default();
    // This thread only: the test's runtime runs every task here (server, reconciler, client).
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(scopes.clone()));

    // The check sees the tangle a held guard makes.
    tokio::join!(
        reconcile_holding_the_guard("a"),
        reconcile_holding_the_guard("b")
    );
    let held = tangled(&scopes.take());
    assert!(
        held.iter().any(|s| s == "reconcile:reconcile"),
        "a guard held across .await should nest the spans: {held:?}"
    );

    // The service: four channels reconciled at once while requests come in.
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    for i in 0..4 {
        app.create_channel(&admin, &channel("acme", &format!("burst-{i}")))
            .await;
    }
    scopes.take();
    let requests = async {
        for _ in 0..20 {
            app.get("/v1/channels", &admin).await;
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(app.reconcile(), requests);

    let seen = scopes.take();
    let within = |name| seen.iter().filter(|s| s.contains(&name)).count();
    assert!(
        within("reconcile") > 0 && within("http") > 0,
        "the test saw {} lines in reconcile spans and {} in request spans",
        within("reconcile"),
        within("http")
    );
    let tangles = tangled(&seen);
    assert!(
        tangles.is_empty(),
        "{} lines were logged in another piece of work's span, e.g. {:?}",
        tangles.len(),
        &tangles[..tangles.len().min(5)]
    );
}
