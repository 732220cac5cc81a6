//! The `serve` daemon: wires the token watcher, the finding supervisor and the
//! HTTP server around one shared `State`, and stops on SIGTERM/SIGINT.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::http::{self, App};
use crate::state::State;
use crate::watch;
use crate::web_config::Web;
use irsa_doctor_core::assessment::{self, Transition};
use irsa_doctor_core::findings::{Finding, Severity};

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
    let csm = state
        .csm_listen
        .map(|addr| crate::csm::spawn(Arc::clone(&state), addr));
    // Its own task: an absent, refusing or slow API server never delays anything else.
    let pod_spec = tokio::spawn(crate::kubernetes::run(Arc::clone(&state)));
    http::serve_with(listener, app, web, shutdown).await;
    for w in watchers {
        w.abort();
    }
    if let Some(w) = policy_watcher {
        w.abort();
    }
    supervisor.abort();
    if let Some(c) = csm {
        c.stop();
    }
    pod_spec.abort();
    tracing::info!("irsa-doctor stopped");
}

/// Resolves on SIGTERM (what Kubernetes sends) or SIGINT.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    // Registered now, in the runtime, before "serving" is logged: a SIGTERM that arrives
    // right after start-up is a clean stop, not the default action killing the process.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let term = async {
            match term {
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
}

/// Re-reads the assessment when the snapshot changes or time passes, and logs each raise
/// and clear once per (token, code).
async fn supervise(state: Arc<State>) {
    let mut changes = state.subscribe();
    let mut active: Vec<Finding> = Vec::new();
    loop {
        let now = state.assessment(crate::host::now());
        log_transitions(&active, &now.findings);
        active = now.findings.clone();
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            () = tokio::time::sleep(SUPERVISE_INTERVAL) => {}
        }
    }
}

/// Logs what appeared or disappeared since the last assessment (see `assessment::transitions`).
fn log_transitions(before: &[Finding], after: &[Finding]) {
    for t in assessment::transitions(before, after) {
        match t {
            Transition::Raised(f) => {
                let (code, token) = (f.code.as_str(), f.token.as_deref());
                match f.severity {
                    Severity::Critical => {
                        tracing::error!(code, token, severity = "critical", detail = %f.message, remediation = %f.remediation, "finding raised")
                    }
                    Severity::Warning => {
                        tracing::warn!(code, token, severity = "warning", detail = %f.message, remediation = %f.remediation, "finding raised")
                    }
                    Severity::Info => {
                        tracing::info!(code, token, severity = "info", detail = %f.message, remediation = %f.remediation, "finding raised")
                    }
                }
            }
            Transition::Cleared { code, token } => {
                tracing::info!(
                    code = code.as_str(),
                    token = token.as_deref(),
                    "finding cleared"
                )
            }
        }
    }
}
