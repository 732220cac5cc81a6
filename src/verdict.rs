//! The verdict that outlives the pod: a backup CronJob's pod lives for minutes, Prometheus
//! may scrape it once or never, and `/debug` is gone with it. `serve` leaves its verdict
//! where SREs look afterwards: the termination message (`kubectl describe pod`) and a
//! Prometheus Pushgateway.
//!
//! The termination log is rewritten whenever the verdict changes (so a container killed
//! without warning still leaves its last one) and once more at exit; the Pushgateway gets
//! the workload's group every `--push-interval` and once more at exit, after the
//! termination message and within `EXIT_PUSH_BUDGET`, so a slow or absent Pushgateway
//! never holds the pod's shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use irsa_doctor_core::assessment::Assessment;
use irsa_doctor_core::findings::{Code, Status};
use irsa_doctor_core::termination;

use crate::config::Opts;
use crate::push::{Naming, Pusher, Target, TargetError};
use crate::state::State;
use crate::termination::TerminationLog;

/// How long the push at exit may take. It runs while the HTTP server drains (at most
/// 500 ms), so `serve` still exits within the second a sidecar is allowed.
pub const EXIT_PUSH_BUDGET: Duration = Duration::from_millis(400);

/// Why the flags for the verdict's destinations cannot work. Never repeats the URL.
#[derive(Debug, thiserror::Error)]
pub enum VerdictError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(
        "--push-gateway needs the pod's namespace: set POD_NAMESPACE from the downward API (fieldRef metadata.namespace)"
    )]
    NoNamespace,
    #[error(
        "--push-gateway needs a workload name: set --workload, or POD_NAME from the downward API (fieldRef metadata.name)"
    )]
    NoWorkload,
    #[error("--push-gateway: cannot load the system's root certificates to verify https: {0}")]
    Roots(String),
}

/// The key of what the termination log says (status, probed, findings, whether the
/// application's calls were seen): it is rewritten when this changes, and at exit.
type Said = (Status, bool, Vec<(Option<String>, Code)>, bool);

/// Where `serve` leaves its verdict.
pub struct Verdict {
    termination: Option<TerminationLog>,
    push: Option<Arc<Pusher>>,
    said: Mutex<Option<Said>>,
}

impl Verdict {
    /// Nowhere: no termination log, no Pushgateway.
    pub fn none() -> Verdict {
        Verdict {
            termination: None,
            push: None,
            said: Mutex::new(None),
        }
    }

    /// From `--termination-log`, `--push-gateway`, `--push-interval`, `--workload` and the
    /// downward API's `POD_NAMESPACE`/`POD_NAME` (read through `lookup`).
    pub fn from_opts(
        opts: &Opts,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Verdict, VerdictError> {
        let termination = TerminationLog::from_flag(opts.termination_log.as_deref());
        let non_empty = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let url = opts
            .push_gateway
            .as_ref()
            .map(|u| u.expose())
            .filter(|u| !u.trim().is_empty());
        let push = match url {
            None => None,
            Some(url) => {
                let target = Target::parse(url)?;
                let naming = Naming {
                    namespace: non_empty("POD_NAMESPACE").ok_or(VerdictError::NoNamespace)?,
                    workload: opts.workload.clone().filter(|w| !w.trim().is_empty()),
                    pod_name: non_empty("POD_NAME"),
                };
                if naming.workload.is_none() && naming.pod_name.is_none() {
                    return Err(VerdictError::NoWorkload);
                }
                let pusher = Pusher::new(target, naming, opts.push_interval)
                    .map_err(|e| VerdictError::Roots(e.to_string()))?;
                Some(Arc::new(pusher))
            }
        };
        Ok(Verdict {
            termination,
            push,
            said: Mutex::new(None),
        })
    }

    /// Starts the periodic pushes, when a Pushgateway is configured.
    pub fn spawn_pushes(&self, state: &Arc<State>) -> Option<tokio::task::JoinHandle<()>> {
        let pusher = Arc::clone(self.push.as_ref()?);
        Some(tokio::spawn(pusher.run(Arc::clone(state))))
    }

    /// Rewrites the termination log when the verdict differs from what it last said.
    pub fn record(&self, state: &State, assessment: &Assessment) {
        let Some(log) = &self.termination else {
            return;
        };
        let probed = state.is_ready();
        let said: Said = (
            assessment.status,
            probed,
            assessment
                .findings
                .iter()
                .map(|f| (f.token.clone(), f.code))
                .collect(),
            state.read(|s| s.app.as_ref().is_some_and(|a| a.total_calls() > 0)),
        );
        {
            let mut last = self.said.lock().unwrap_or_else(|p| p.into_inner());
            if last.as_ref() == Some(&said) {
                return;
            }
            *last = Some(said);
        }
        log.write(&message(state, assessment, probed));
    }

    /// At exit: the termination message, then the push, within `EXIT_PUSH_BUDGET`.
    pub async fn finish(&self, state: &State) {
        if let Some(log) = &self.termination {
            let assessment = state.assessment(crate::host::now());
            log.write(&message(state, &assessment, state.is_ready()));
        }
        if let Some(pusher) = &self.push {
            pusher.push_at_exit(state, EXIT_PUSH_BUDGET).await;
        }
    }
}

/// The termination message of `assessment`.
fn message(state: &State, assessment: &Assessment, probed: bool) -> String {
    let app = app_summary(state, assessment.now);
    termination::message(assessment, probed, app.as_deref())
}

/// The one line summarising the application's own AWS calls, once any were seen.
fn app_summary(state: &State, now: std::time::SystemTime) -> Option<String> {
    state.read(|s| irsa_doctor_core::app::app_summary(s.app.as_ref()?, now))
}
