//! The `serve` daemon: wires the token watcher, the finding supervisor and the
//! HTTP server around one shared `State`, and stops on SIGTERM/SIGINT.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;

use crate::findings::{Code, Finding, Severity};
use crate::http::{self, App};
use crate::state::State;
use crate::watch;
use crate::web_config::Web;

/// How often findings are re-judged without an input change (time-based ones: expiry, rotation).
const SUPERVISE_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the daemon on an already bound listener until `shutdown` resolves.
pub async fn run(app: App, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    run_with(app, listener, None, shutdown).await
}

/// `run` with the `--web-config-file` settings (TLS, basic auth).
pub async fn run_with(
    app: App,
    listener: TcpListener,
    web: Option<Arc<Web>>,
    shutdown: impl Future<Output = ()>,
) {
    let state = Arc::clone(&app.state);
    if let Ok(addr) = listener.local_addr() {
        let (scheme, basic_auth) = web.as_deref().map_or(("http", false), Web::describe);
        tracing::info!(listen = %addr, scheme, basic_auth, token_file = %state.config.token_file.display(),
            role_arn = state.config.role_arn.as_deref(), "irsa-doctor serving");
    }
    let irsa = state.config.irsa_token.then_some(None);
    let extras = (0..state.config.extra_tokens.len()).map(Some);
    let watchers: Vec<_> = irsa
        .into_iter()
        .chain(extras)
        .map(|which| tokio::spawn(watch::run(Arc::clone(&state), which)))
        .collect();
    let policy_watcher = state.config.trust_policy_file.clone().map(|path| {
        let state = Arc::clone(&state);
        tokio::spawn(
            async move { watch::watch_file(&path, || state.reload_trust_policy(&path)).await },
        )
    });
    let supervisor = tokio::spawn(supervise(Arc::clone(&state)));
    http::serve_with(listener, app, web, shutdown).await;
    for w in watchers {
        w.abort();
    }
    if let Some(w) = policy_watcher {
        w.abort();
    }
    supervisor.abort();
    tracing::info!("irsa-doctor stopped");
}

/// Resolves on SIGTERM (what Kubernetes sends) or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => tracing::info!(signal = "SIGTERM", "shutting down"),
        r = tokio::signal::ctrl_c() => match r {
            Ok(()) => tracing::info!(signal = "SIGINT", "shutting down"),
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGINT"),
        },
    }
}

/// Re-judges findings when the snapshot changes or time passes, and logs each raise and clear once.
async fn supervise(state: Arc<State>) {
    let mut changes = state.subscribe();
    let mut active = BTreeMap::new();
    loop {
        log_transitions(&mut active, state.findings(SystemTime::now()));
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            () = tokio::time::sleep(SUPERVISE_INTERVAL) => {}
        }
    }
}

/// Logs findings that appeared or disappeared since the last call. A message that only
/// changes its numbers (time to expiry) is not a transition.
fn log_transitions(active: &mut BTreeMap<Code, Finding>, now: Vec<Finding>) {
    let mut next = BTreeMap::new();
    for f in now {
        if !active.contains_key(&f.code) {
            match f.severity {
                Severity::Critical => {
                    tracing::error!(code = f.code.as_str(), severity = "critical", detail = %f.message, remediation = %f.remediation, "finding raised")
                }
                Severity::Warning => {
                    tracing::warn!(code = f.code.as_str(), severity = "warning", detail = %f.message, remediation = %f.remediation, "finding raised")
                }
                Severity::Info => {
                    tracing::info!(code = f.code.as_str(), severity = "info", detail = %f.message, remediation = %f.remediation, "finding raised")
                }
            }
        }
        next.insert(f.code, f);
    }
    for code in active.keys().filter(|c| !next.contains_key(c)) {
        tracing::info!(code = code.as_str(), "finding cleared");
    }
    *active = next;
}
