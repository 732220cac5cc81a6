//! The live checks, which prove rather than guess: one probe is a test-assume,
//! the credential chain as the app sees it, and IMDS reachability; the loop
//! runs it on the jittered schedule of `schedule`, early after a token
//! refresh, and on demand for `POST /debug/probe` (at most once per 10 s).
//!
//! STS calls per probe on a healthy pod: 1, the `AssumeRoleWithWebIdentity`;
//! `GetCallerIdentity` follows only when the assumed-role ARN is new (the first
//! success, after a failure, on a change). The chain is resolved separately
//! only when it would *not* take the same web-identity path (static keys, a
//! profile, no IRSA env), so the healthy case never doubles its calls. With
//! `--expect-access`, the role's policies are read with the same credentials
//! (`iam`) on the first probe, then at most hourly.

pub mod chain;
pub mod errors;
pub mod iam;
pub mod oidc;
pub mod pod_identity;
pub mod sts;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_types::SdkConfig;

use crate::http::Prober;
use crate::state::State;
use chain::ChainOutcome;
use irsa_doctor_core::outcome::{AgentCredentials, AgentFailure, AgentOutcome, AssumeOutcome};
use irsa_doctor_core::policy::access::RolePolicies;
use irsa_doctor_core::schedule::{self, Backoff};
use irsa_doctor_core::snapshot::{
    AccessReadError, AccessSnapshot, RegionSnapshot, SignatureSnapshot,
};
use irsa_doctor_core::token;
use oidc::{Signature, Verifier};
use sts::StsProbe;

pub use irsa_doctor_core::schedule::ON_DEMAND_WINDOW;

/// Runs live checks; shared by the scheduled loop and the HTTP handler.
pub struct LiveProbe {
    state: Arc<State>,
    sdk: SdkConfig,
    sts: StsProbe,
    session_name: String,
    imds_endpoint: String,
    backoff: Mutex<Backoff>,
    last_run: Mutex<Option<Instant>>,
    running: tokio::sync::Mutex<()>,
    verifier: Result<Verifier, String>,
    last_policy_fetch: Mutex<Option<Instant>>,
    /// When and for which role `--expect-access` last read the role's policies.
    last_access_read: Mutex<Option<(Instant, String)>>,
    /// Set by `POST /debug/probe`: the next probe re-reads the role's policies.
    access_forced: AtomicBool,
}

impl LiveProbe {
    /// Loads the SDK configuration from the environment, as the application's SDK does.
    pub async fn new(state: Arc<State>) -> LiveProbe {
        // With `check --pid` this process runs in the target's environment (`target`), so the
        // SDK configuration is the target's by construction.
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let region = sdk.region().map(|r| r.to_string());
        state.update(|s| {
            s.region = RegionSnapshot {
                checked: true,
                region,
            }
        });
        let lookup = crate::host::var;
        let pod = lookup("POD_NAME").or_else(|| lookup("HOSTNAME"));
        let state_discovery_url = state.config.oidc_discovery_url.clone();
        LiveProbe {
            sts: StsProbe::new(&sdk, state.config.probe_timeout),
            // The SDK's web-identity provider uses AWS_ROLE_SESSION_NAME verbatim; a trust
            // policy may pin sts:RoleSessionName, so the test-assume must send the same.
            session_name: lookup("AWS_ROLE_SESSION_NAME")
                .unwrap_or_else(|| sts::session_name(pod.as_deref())),
            imds_endpoint: state.env.imds_endpoint.clone(),
            sdk,
            state,
            backoff: Mutex::new(Backoff::default()),
            last_run: Mutex::new(None),
            running: tokio::sync::Mutex::new(()),
            last_policy_fetch: Mutex::new(None),
            last_access_read: Mutex::new(None),
            access_forced: AtomicBool::new(false),
            verifier: Verifier::new(state_discovery_url)
                .map_err(|e| format!("cannot load the system's root certificates: {e}")),
        }
    }

    fn backoff(&self) -> Backoff {
        *self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one full probe now and records it.
    pub async fn run_once(&self) {
        let _one_at_a_time = self.running.lock().await;
        *self.last_run.lock().unwrap_or_else(|p| p.into_inner()) = Some(crate::host::instant());
        let config = &self.state.config;
        let token_file = config.token_file.display().to_string();

        // The SDK re-reads the token on every call; so do we.
        let token_text = crate::files::read_file(&config.token_file).ok();
        let role = config.role_arn.clone();
        let assume = async {
            match (&role, &token_text) {
                (Some(role), Some(text)) => {
                    let started = crate::host::now();
                    // A mounted policy file wins over fetching it.
                    let fetch = config.fetch_trust_policy
                        && config.trust_policy_file.is_none()
                        && self.policy_fetch_due();
                    let read_access = self.access_read_due(role);
                    let verified = self.state.snapshot().sts.caller_arn;
                    let outcome = self
                        .sts
                        .assume(
                            role,
                            &self.session_name,
                            text.trim(),
                            fetch,
                            read_access,
                            verified.as_deref(),
                        )
                        .await;
                    self.record_assume(started, &outcome, token::fingerprint(text));
                    Some(outcome)
                }
                _ => None,
            }
        };
        // Without an IRSA test-assume, `--expect-access` reads with the agent's credentials.
        let irsa_assumes = role.is_some() && token_text.is_some();
        // Discovery may time out on a pod without egress; never let it delay the test-assume.
        let (assumed, (), ()) = tokio::join!(
            assume,
            self.check_signature(token_text.as_deref()),
            self.probe_pod_identity(!irsa_assumes)
        );

        let chain = if let Some(pid) = config.target_pid {
            predicted_chain(&self.state.env, pid, assumed.as_ref())
        } else if chain::chain_is_web_identity(&self.state.env, role.as_deref(), &token_file) {
            reuse_for_chain(assumed.as_ref())
        } else {
            chain::resolve(&self.sdk, &self.sts, config.probe_timeout).await
        };
        let imds = if config.imds_check {
            Some(chain::probe_imds(&self.imds_endpoint).await)
        } else {
            None
        };
        // With the application's calls observed, the node role's current key id tells whether
        // they are signed with it; only its fingerprint is kept.
        let node_key = if self.state.csm_listen.is_some() && imds.is_some_and(|i| i.v2 || i.v1) {
            chain::imds_access_key_id(&self.imds_endpoint)
                .await
                .map(|k| irsa_doctor_core::app::csm::KeyEvidence::of(&k, &self.state.key_hasher))
                .map(|k| k.fingerprint)
        } else {
            None
        };
        self.state.update(|s| {
            s.chain.node_key = node_key;
            s.chain.provider = chain.provider;
            s.chain.caller_arn = chain.caller_arn;
            s.chain.error = chain.error;
            s.chain.imds_v2_reachable = imds.map(|i| i.v2);
            s.chain.imds_v1_reachable = imds.map(|i| i.v1);
            s.probe_attempted = true;
        });
    }

    /// Whether this probe also reads the trust policy with `iam:GetRole` (and records that it did).
    fn policy_fetch_due(&self) -> bool {
        let mut last = self
            .last_policy_fetch
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = crate::host::instant();
        if !schedule::policy_fetch_due(*last, now) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// `--expect-access` reads the role's policies on the first probe, then at most hourly, on a
    /// changed role, or when `POST /debug/probe` asked (itself at most once per 10 s). `role` is
    /// the IRSA role, or on a Pod Identity pod the agent's (empty before it is known).
    fn access_read_due(&self, role: &str) -> bool {
        // The application's denials are explained against the same policies (no flag needed).
        let app_denied = self
            .state
            .snapshot()
            .app
            .is_some_and(|a| !a.denials.is_empty());
        if self.state.config.expect_access.is_empty() && !app_denied {
            return false;
        }
        let forced = self.access_forced.swap(false, Ordering::Relaxed);
        let last = self
            .last_access_read
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let last = last.as_ref().map(|(at, r)| (*at, r.as_str()));
        schedule::access_read_due(last, role, forced, crate::host::instant())
    }

    /// Records a read of the role's policies (the budget counts reads that were made).
    fn record_access(&self, role: &str, read: &Result<RolePolicies, AccessReadError>) {
        *self
            .last_access_read
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((crate::host::instant(), role.to_owned()));
        if let Err(e) = read {
            tracing::debug!(detail = %e.message, "reading the role's policies failed");
        }
        let policies = read.clone().map(Arc::new);
        self.state.update(|s| {
            s.access = AccessSnapshot {
                checked_at: Some(crate::host::now()),
                role_arn: Some(role.to_owned()),
                policies: Some(policies),
            };
        });
    }

    /// Calls the EKS Pod Identity agent, when configured, and records the outcome; with
    /// `for_access`, the role's policies are read with its credentials when due.
    async fn probe_pod_identity(&self, for_access: bool) {
        let Some(pi) = &self.state.config.pod_identity else {
            return;
        };
        let started = crate::host::now();
        let read_access = for_access && {
            // The role is known once the agent's credentials were identified.
            let role = self
                .state
                .snapshot()
                .pod_identity
                .caller_arn
                .as_deref()
                .and_then(irsa_doctor_core::arn::role_of_session);
            let last_role = self
                .last_access_read
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|(_, r)| r.clone());
            self.access_read_due(role.or(last_role).as_deref().unwrap_or_default())
        };
        let outcome = match crate::files::read_file(&pi.token_file) {
            Ok(text) => pod_identity::probe(&pi.endpoint, &text, &self.sts, read_access).await,
            // The token findings explain this; the agent cannot be asked without it.
            Err(e) => AgentOutcome {
                latency: Duration::ZERO,
                http_status: None,
                result: Err((AgentFailure::Denied, format!("no token to present: {e}"))),
            },
        };
        self.state.metrics.pod_identity_attempt(
            outcome.latency.as_secs_f64(),
            pod_identity::error_label(&outcome),
        );
        if let Ok(AgentCredentials {
            access: Some((role, read)),
            ..
        }) = &outcome.result
        {
            self.record_access(role, read);
        }
        self.state
            .update(|s| s.pod_identity.apply(started, &pi.endpoint, &outcome));
    }

    /// Verifies the current token against the issuer's published keys and records the outcome.
    async fn check_signature(&self, token_text: Option<&str>) {
        let Some(text) = token_text else { return };
        let Ok(decoded) = token::decode(text) else {
            return;
        };
        let result = match &self.verifier {
            Ok(v) => {
                v.check(
                    text,
                    decoded.algorithm.as_deref(),
                    decoded.key_id.as_deref(),
                    decoded.claims.issuer.as_deref(),
                    decoded.claims.issued_at,
                )
                .await
            }
            Err(reason) => Signature::Unchecked {
                reason: reason.clone(),
            },
        };
        let fingerprint = token::fingerprint(text);
        self.state.update(|s| {
            s.signature = SignatureSnapshot {
                fingerprint: Some(fingerprint),
                result: Some(result),
            }
        });
    }

    /// Records a trust policy read with `iam:GetRole`; a refusal is an info note, not a failure.
    fn record_fetched_policy(&self, role: &str, fetched: &Result<String, String>) {
        let source = format!("iam:GetRole {role}");
        let parsed = fetched.as_ref().map_err(Clone::clone).and_then(|doc| {
            irsa_doctor_core::policy::trust::parse(doc)
                .map_err(|e| format!("the document iam:GetRole returned: {e}"))
        });
        self.state.update(|s| {
            let tp = &mut s.trust_policy;
            tp.source = Some(source);
            tp.notes.clear();
            match parsed {
                Ok(p) => tp.policy = Some(Ok(std::sync::Arc::new(p))),
                Err(e) if fetched.is_err() => tp.notes.push(format!(
                    "could not read the trust policy ({e}); grant the role iam:GetRole on itself, or mount the policy and use --trust-policy-file"
                )),
                Err(e) => tp.policy = Some(Err(e)),
            }
        });
    }

    /// Records one test-assume of the token whose fingerprint is `fingerprint`.
    fn record_assume(&self, started: SystemTime, outcome: &AssumeOutcome, fingerprint: u64) {
        // Every request sent counts, the retried ones too.
        for r in &outcome.retried {
            self.state
                .metrics
                .sts_attempt(r.latency.as_secs_f64(), Some(r.code.as_str()));
        }
        let failure = outcome.result.as_ref().err();
        self.state.metrics.sts_attempt(
            outcome.latency.as_secs_f64(),
            failure.map(|f| f.code.as_str()),
        );
        self.backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(failure.map(|f| f.kind));
        if let (Ok(a), Some(role)) = (&outcome.result, &self.state.config.role_arn)
            && let Some(fetched) = &a.trust_policy
        {
            self.record_fetched_policy(role, fetched);
        }
        if let (Ok(a), Some(role)) = (&outcome.result, &self.state.config.role_arn)
            && let Some(read) = &a.access
        {
            self.record_access(role, read);
        }
        match &outcome.result {
            Ok(a) => tracing::debug!(
                latency = outcome.latency.as_secs_f64(),
                retried = outcome.retried.len(),
                assumed = a.assumed_role_arn.as_deref(),
                "test-assume succeeded"
            ),
            Err(f) => {
                tracing::debug!(latency = outcome.latency.as_secs_f64(), retried = outcome.retried.len(), code = %f.code, detail = %f.message, "test-assume failed")
            }
        }
        // In the same update as the result: which token STS judged is the live evidence that
        // outranks the findings' predictions.
        self.state.update(|s| {
            s.sts.apply(started, outcome);
            s.sts.token_fingerprint = Some(fingerprint);
        });
    }

    /// The scheduled loop: first probe once the token was read, then on the backoff schedule,
    /// and early (debounced) after a token refresh unless STS is throttling us.
    pub async fn run(self: Arc<Self>) {
        let mut changes = self.state.subscribe();
        // Readiness needs the first probe to see the first token.
        let irsa = self.state.config.irsa_token;
        let _ = changes.wait_for(|s| s.tokens_read(irsa)).await;
        let mut seen_reloads = self.state.snapshot().token.reloads;
        loop {
            self.run_once().await;
            let delay = self
                .backoff()
                .next_delay(self.state.config.probe_interval, fastrand::f64());
            let deadline = tokio::time::Instant::now() + delay;
            // Wait for the schedule, for a refreshed token worth confirming early, or for the
            // application's first denial of an action (its policies are read to explain it).
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => break,
                    () = self.state.app_policy_wanted.notified() => {
                        let last = self
                            .last_access_read
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .as_ref()
                            .map(|(at, _)| *at);
                        tokio::time::sleep(schedule::app_policy_read_delay(last, crate::host::instant())).await;
                        self.access_forced.store(true, Ordering::Relaxed);
                        tracing::debug!("the application was denied: reading the role's policies");
                        break;
                    }
                    r = changes.changed() => {
                        if r.is_err() { return; }
                        let reloads = changes.borrow_and_update().token.reloads;
                        if !schedule::refresh_wants_probe(seen_reloads, reloads, &self.backoff()) {
                            seen_reloads = reloads;
                            continue;
                        }
                        let last_run = *self.last_run.lock().unwrap_or_else(|p| p.into_inner());
                        let scheduled = deadline.saturating_duration_since(tokio::time::Instant::now());
                        tokio::time::sleep(schedule::early_probe_delay(last_run, crate::host::instant(), scheduled)).await;
                        seen_reloads = self.state.snapshot().token.reloads;
                        tracing::debug!("token refreshed: probing early");
                        break;
                    }
                }
            }
        }
    }
}

/// `check --pid`: the chain predicted from the target's environment; its caller is known when it is web identity.
fn predicted_chain(
    env: &crate::environment::EnvFacts,
    pid: u32,
    assumed: Option<&AssumeOutcome>,
) -> ChainOutcome {
    let provider = chain::predict_provider(env);
    let mut out = if provider == "WebIdentityToken" {
        reuse_for_chain(assumed)
    } else {
        ChainOutcome {
            provider: Some(provider.into()),
            ..Default::default()
        }
    };
    out.error = Some(match out.error {
        Some(e) => format!("{e} (provider predicted from process {pid}'s environment)"),
        None => format!(
            "provider predicted from process {pid}'s environment; the SDK cannot resolve another process's chain"
        ),
    });
    out
}

/// The chain's answer when it takes the same web-identity path as the test-assume.
fn reuse_for_chain(assumed: Option<&AssumeOutcome>) -> ChainOutcome {
    let mut out = ChainOutcome {
        provider: Some("WebIdentityToken".into()),
        ..Default::default()
    };
    match assumed.map(|a| &a.result) {
        Some(Ok(a)) => match &a.caller {
            Ok(arn) => out.caller_arn = Some(arn.clone()),
            Err(e) => out.error = Some(format!("GetCallerIdentity failed: {e}")),
        },
        Some(Err(f)) => out.error = Some(format!("web identity failed: {}: {}", f.code, f.message)),
        None => out.error = Some("no token to present".into()),
    }
    out
}

impl Prober for LiveProbe {
    fn probe_now(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            {
                // Check and reserve in one critical section, so two racing callers cannot both run.
                let mut last = self.last_run.lock().unwrap_or_else(|p| p.into_inner());
                let now = crate::host::instant();
                if !schedule::on_demand_allowed(*last, now) {
                    return false;
                }
                *last = Some(now);
            }
            // An operator asking for a probe wants the role's policies re-read too.
            self.access_forced.store(true, Ordering::Relaxed);
            self.run_once().await;
            true
        })
    }
}
