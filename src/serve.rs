//! The `serve` daemon: wires the token watcher, the finding supervisor and the
//! HTTP server around one shared `State`, and stops on SIGTERM/SIGINT.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::http::{self, App};
use crate::state::State;
use crate::verdict::Verdict;
use crate::watch;
use crate::web_config::Web;
use irsa_doctor_core::assessment::{self, Transition};
use irsa_doctor_core::findings::{Finding, Severity};

/// How often findings are re-judged without an input change (time-based ones: expiry, rotation).
const SUPERVISE_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the daemon on an already bound listener until `shutdown` resolves, with the
/// `--web-config-file` settings (TLS, basic auth), leaving the verdict where `verdict` says
/// (termination log, Pushgateway).
pub async fn run(
    app: App,
    listener: TcpListener,
    web: Option<Arc<Web>>,
    verdict: Verdict,
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
    let verdict = Arc::new(verdict);
    let supervisor = tokio::spawn(supervise(Arc::clone(&state), Arc::clone(&verdict)));
    let csm = state
        .csm_listen
        .map(|addr| crate::csm::spawn(Arc::clone(&state), addr));
    // Its own task: an absent, refusing or slow API server never delays anything else.
    let pod_spec = tokio::spawn(crate::kubernetes::run(Arc::clone(&state)));
    let pushes = verdict.spawn_pushes(&state);
    // At the signal the final verdict is written and pushed while the server drains, so
    // both fit in the second a sidecar has to stop.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = http::serve_with(listener, app, web, async {
        let _ = stopped.await;
    });
    tokio::pin!(server);
    let server_ended = tokio::select! {
        () = shutdown => false,
        () = &mut server => true,
    };
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
    if let Some(p) = pushes {
        p.abort();
    }
    let _ = stop.send(());
    if server_ended {
        verdict.finish(&state).await;
    } else {
        tokio::join!(server, verdict.finish(&state));
    }
    tracing::info!("irsa-doctor stopped");
}

/// Resolves on SIGTERM (what Kubernetes sends) or SIGINT. The handlers are installed when
/// this is called, not when the future is first polled: `serve` logs that it serves before
/// it polls it, and a SIGTERM in between must stop it gracefully, not kill it.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn received(signal: std::io::Result<Signal>, name: &'static str) -> &'static str {
        match signal {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, signal = name, "cannot listen for the signal");
                std::future::pending::<()>().await;
            }
        }
        name
    }
    let term = received(signal(SignalKind::terminate()), "SIGTERM");
    let int = received(signal(SignalKind::interrupt()), "SIGINT");
    async move {
        let name = tokio::select! {
            name = term => name,
            name = int => name,
        };
        tracing::info!(signal = name, "shutting down");
    }
}

/// Re-reads the assessment when the snapshot changes or time passes, logs each raise
/// and clear once per (token, code), and keeps the termination log's verdict current.
async fn supervise(state: Arc<State>, verdict: Arc<Verdict>) {
    let mut changes = state.subscribe();
    let mut active: Vec<Finding> = Vec::new();
    loop {
        let now = state.assessment(crate::host::now());
        log_transitions(&active, &now.findings);
        verdict.record(&state, &now);
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
