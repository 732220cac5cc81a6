//! The daemon's one shared state: immutable configuration and environment
//! facts, the latest `Snapshot` behind a `watch` channel, and the metrics.
//! Writers (the token watcher, the prober) go through the `apply_*` methods
//! so the snapshot, the counters and the logs never disagree.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use tokio::sync::watch;

use crate::config::Config;
use crate::environment::EnvFacts;
use crate::metrics::{Metrics, MetricsError};
use irsa_doctor_core::assessment::Assessment;
use irsa_doctor_core::findings::Context;
use irsa_doctor_core::report::{self, Report};
use irsa_doctor_core::snapshot::{Snapshot, TokenChange};
use irsa_doctor_core::startup::{self, Opened};
use irsa_doctor_core::time;
use irsa_doctor_core::token::{Decoded, ReadError};

/// The `token` label of every configured token.
fn token_names(config: &Config) -> Vec<&str> {
    let irsa = config.irsa_token.then_some(crate::config::IRSA);
    irsa.into_iter()
        .chain(config.extra_tokens.iter().map(|t| t.name.as_str()))
        .collect()
}

/// Shared by every task; cheap to read, written only through its methods.
pub struct State {
    /// Validated configuration.
    pub config: Config,
    /// The pod's environment, gathered once at start.
    pub env: EnvFacts,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// `--csm-listen`: where the client-side monitoring listener binds; `None` when off.
    pub csm_listen: Option<std::net::SocketAddr>,
    /// Hashes access key ids into comparable fingerprints; random per process, never exported.
    pub key_hasher: std::hash::RandomState,
    /// Woken on the first denial of an action the application calls: read the role's policies.
    pub app_policy_wanted: tokio::sync::Notify,
    snapshot: watch::Sender<Snapshot>,
    /// Bumped on every write, so cached renders know they are stale.
    generation: AtomicU64,
    assessment_cache: Mutex<Option<Cached<Arc<Assessment>>>>,
    metrics_cache: Mutex<Option<Cached<bytes::Bytes>>>,
    /// When the state was created: the start gate's timeout counts from here.
    started: Instant,
    /// The start gate, latched the first time it opens.
    gate: OnceLock<Opened>,
}

/// A value derived from one snapshot generation, judged within one whole Unix second: every
/// finding and gauge is computed in whole seconds, so within that second it cannot change.
struct Cached<T> {
    generation: u64,
    second: i64,
    value: T,
}

/// The cached value for `(generation, second)`, or a fresh one from `make`, remembered.
fn cached<T: Clone>(
    slot: &Mutex<Option<Cached<T>>>,
    generation: u64,
    second: i64,
    make: impl FnOnce() -> T,
) -> T {
    // A poisoned lock only means a render panicked; the cache is still a valid Option.
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = slot.as_ref()
        && c.generation == generation
        && c.second == second
    {
        return c.value.clone();
    }
    let value = make();
    *slot = Some(Cached {
        generation,
        second,
        value: value.clone(),
    });
    value
}

impl State {
    /// Creates the state with an empty snapshot.
    pub fn new(config: Config, env: EnvFacts) -> Result<State, MetricsError> {
        let snapshot = Snapshot {
            extra_tokens: vec![Default::default(); config.extra_tokens.len()],
            ..Default::default()
        };
        Ok(State {
            metrics: Metrics::new(&token_names(&config))?,
            csm_listen: None,
            key_hasher: std::hash::RandomState::new(),
            app_policy_wanted: tokio::sync::Notify::new(),
            config,
            env,
            snapshot: watch::Sender::new(snapshot),
            generation: AtomicU64::new(0),
            assessment_cache: Mutex::new(None),
            metrics_cache: Mutex::new(None),
            started: crate::host::instant(),
            gate: OnceLock::new(),
        })
    }

    /// The same state with the client-side monitoring listener configured (`--csm-listen`):
    /// the report's `app` section exists from the start, `null` only when it is off.
    pub fn with_csm_listen(mut self, addr: Option<std::net::SocketAddr>) -> State {
        self.csm_listen = addr;
        let app = addr.map(|_| irsa_doctor_core::app::AppSnapshot::new());
        self.snapshot.send_modify(|s| s.app = app);
        self
    }

    /// `GET /debug/policy`: the least-privilege policy of the application's calls so far.
    pub fn policy_document(&self) -> String {
        let snap = self.snapshot();
        let policies = snap
            .access
            .policies
            .as_ref()
            .and_then(|p| p.as_ref().ok())
            .map(|p| p.as_ref());
        let doc = irsa_doctor_core::app::least_privilege::document(
            snap.app.as_ref(),
            &self.config.expect_access,
            policies,
        );
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// A copy of the latest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    /// `f` of the latest snapshot, without copying it (up to 512 call series and 64
    /// denials); `f` holds the snapshot's read lock, so it must be quick and never await.
    pub fn read<T>(&self, f: impl FnOnce(&Snapshot) -> T) -> T {
        f(&self.snapshot.borrow())
    }

    /// A receiver that wakes on every snapshot change.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.subscribe()
    }

    /// Applies any change to the snapshot and notifies subscribers.
    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        self.snapshot.send_modify(f);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Applies one read of a token file (`None`: the IRSA token, `Some(i)`: `extra_tokens[i]`):
    /// snapshot, counters and a log line on change.
    pub fn apply_token_read(
        &self,
        which: Option<usize>,
        read: Result<(Decoded, u64), ReadError>,
        now: SystemTime,
    ) -> TokenChange {
        let name = match which {
            None => crate::config::IRSA,
            Some(i) => self
                .config
                .extra_tokens
                .get(i)
                .map_or("unknown", |t| t.name.as_str()),
        };
        let mut change = TokenChange::Unchanged;
        self.snapshot.send_if_modified(|s| {
            let Some(token) = (match which {
                None => Some(&mut s.token),
                Some(i) => s.extra_tokens.get_mut(i),
            }) else {
                return false;
            };
            let before = token.clone();
            change = token.apply(read, now);
            *token != before
        });
        self.metrics.token_read(name, &change);
        self.generation.fetch_add(1, Ordering::AcqRel);
        match &change {
            TokenChange::Reloaded => {
                let snap = self.snapshot.borrow();
                let token = match which {
                    None => Some(&snap.token),
                    Some(i) => snap.extra_tokens.get(i),
                };
                let claims = token.and_then(|t| t.decoded()).map(|d| &d.claims);
                tracing::info!(
                    token = name,
                    subject = claims.and_then(|c| c.subject.as_deref()),
                    audiences = claims.map(|c| c.audiences.join(",")),
                    expires_at = claims.and_then(|c| c.expires_at).and_then(time::rfc3339),
                    issued_at = claims.and_then(|c| c.issued_at).and_then(time::rfc3339),
                    reloads = token.map(|t| t.reloads),
                    "token loaded"
                );
            }
            TokenChange::Failed { error, first: true } => {
                tracing::warn!(token = name, reason = error.metric_label(), error = %error, "token read failed");
            }
            TokenChange::Failed { first: false, .. } | TokenChange::Unchanged => {}
        }
        change
    }

    /// Reads and parses the `--trust-policy-file`, logging when the outcome changes.
    pub fn reload_trust_policy(&self, path: &std::path::Path) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let loaded = crate::files::read_policy_file(path).map(std::sync::Arc::new);
        let source = format!("file {}", path.display());
        self.snapshot.send_if_modified(|s| {
            let tp = &mut s.trust_policy;
            let changed = tp.source.as_deref() != Some(source.as_str())
                || tp.policy.as_ref() != Some(&loaded);
            if changed {
                match &loaded {
                    Ok(_) => tracing::info!(source = %source, "trust policy loaded"),
                    Err(e) => tracing::warn!(source = %source, error = %e, "trust policy unusable"),
                }
                tp.source = Some(source);
                tp.policy = Some(loaded);
            }
            changed
        });
    }

    /// The assessment of the latest snapshot at `now`: computed once per snapshot change and
    /// clock second, then shared by `/debug`, `/metrics` and the finding log.
    pub fn assessment(&self, now: SystemTime) -> Arc<Assessment> {
        self.assessed(now).1
    }

    /// The latest snapshot with its assessment at `now`. The generation is read before the
    /// snapshot, so a write racing with this call can only make the cache entry stale-marked
    /// (recomputed next time), never pair a new snapshot with an old assessment unnoticed.
    fn assessed(&self, now: SystemTime) -> (Snapshot, Arc<Assessment>, u64) {
        let generation = self.generation.load(Ordering::Acquire);
        let snap = self.snapshot();
        let assessment = cached(&self.assessment_cache, generation, time::unix(now), || {
            Arc::new(Assessment::new(&self.context(&snap, now)))
        });
        (snap, assessment, generation)
    }

    /// The report of the latest snapshot at `now`.
    pub fn report(&self, now: SystemTime) -> Report {
        let (snap, assessment, _) = self.assessed(now);
        report::build(&self.context(&snap, now), &assessment)
    }

    /// The metrics exposition for the latest snapshot at `now`. Rendered at most once per
    /// clock second while nothing changes: on the one runtime thread, a scrape storm would
    /// otherwise queue behind repeated renders of the same numbers.
    pub fn metrics_text(&self, now: SystemTime) -> bytes::Bytes {
        let (snap, assessment, generation) = self.assessed(now);
        cached(&self.metrics_cache, generation, time::unix(now), || {
            bytes::Bytes::from(self.metrics.render(&self.context(&snap, now), &assessment))
        })
    }

    /// `/startupz`: whether and why the start gate is open. Latched: once open, it stays
    /// open whatever later probes find (a probe must never restart the app's containers).
    pub fn startup_gate(&self) -> Option<Opened> {
        if let Some(opened) = self.gate.get() {
            return Some(*opened);
        }
        let elapsed = crate::host::instant().saturating_duration_since(self.started);
        let opened = startup::gate(
            &self.snapshot.borrow(),
            elapsed,
            self.config.startup_gate_timeout,
        )?;
        if self.gate.set(opened).is_ok() {
            match opened {
                Opened::Credentials => {
                    tracing::info!(reason = opened.describe(), "start gate open")
                }
                Opened::Timeout => {
                    tracing::warn!(reason = opened.describe(), timeout = %humantime::format_duration(self.config.startup_gate_timeout), "start gate open")
                }
            }
        }
        self.gate.get().copied()
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.snapshot.borrow().is_ready(self.config.irsa_token)
    }

    fn context<'a>(&'a self, snap: &'a Snapshot, now: SystemTime) -> Context<'a> {
        Context {
            config: &self.config,
            env: &self.env,
            snapshot: snap,
            now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use irsa_doctor_core::fixtures::{NOW, at, healthy};

    fn state() -> State {
        let fx = healthy();
        let state = State::new(fx.config, fx.env).expect("metrics register");
        state.update(|s| *s = fx.snapshot);
        state
    }

    /// One assessment per snapshot generation and clock second, shared by every view.
    #[test]
    fn assessment_is_computed_once_per_generation_and_second() {
        let s = state();
        let first = s.assessment(at(NOW));
        let same_second = s.assessment(at(NOW) + std::time::Duration::from_millis(900));
        assert!(
            Arc::ptr_eq(&first, &same_second),
            "reused within the second"
        );
        let next_second = s.assessment(at(NOW + 1));
        assert!(!Arc::ptr_eq(&first, &next_second), "a new second re-judges");
        s.update(|snap| snap.sts.consecutive_failures = 1);
        let changed = s.assessment(at(NOW + 1));
        assert!(
            !Arc::ptr_eq(&next_second, &changed),
            "a snapshot change re-judges"
        );
        assert_eq!(
            s.report(at(NOW + 1)).findings,
            changed.findings,
            "the report reads the same assessment"
        );
    }

    #[test]
    fn metrics_render_at_most_once_per_second_while_nothing_changes() {
        let s = state();
        let a = s.metrics_text(at(NOW));
        s.metrics.sts_attempt(0.1, None);
        let b = s.metrics_text(at(NOW));
        assert_eq!(a, b, "same generation and second: the cached body");
        let c = s.metrics_text(at(NOW + 1));
        assert_ne!(a, c, "the next second shows the new counter");
        assert!(
            String::from_utf8_lossy(&c).contains("irsa_sts_assume_attempts_total 1"),
            "rendered anew"
        );
    }
}
