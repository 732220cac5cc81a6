//! Prometheus metrics (docs/reference.md#metrics is generated from the table here).
//!
//! Counters are bumped by the shell when events happen (a token read, an STS
//! attempt); gauges are set from the latest snapshot at scrape time, so a
//! scrape is always consistent with `/debug` and never triggers I/O.
//! Labels are bounded: never a token, a credential, a pod UID or an error text.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use irsa_doctor_core::assessment::Assessment;
use irsa_doctor_core::failure::{self, AGENT_LABELS, STS_LABELS};
use irsa_doctor_core::findings::{AccessEvaluation, Code, Context};
use irsa_doctor_core::policy::access::Decision;
use irsa_doctor_core::snapshot::{TokenChange, TokenSnapshot};
use irsa_doctor_core::time;
use irsa_doctor_core::token::READ_ERROR_REASONS;

/// The `Content-Type` Prometheus 3 requires for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const NO_LABELS: &[&str] = &[];

/// The gauges, by position in `Metrics::gauges`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G {
    TokenExpiry,
    TokenIssued,
    TokenLifetime,
    TokenValid,
    TokenInfo,
    TokenLastReload,
    StsSuccess,
    StsLastSuccess,
    StsCredentialsExpiry,
    PiSuccess,
    PiLastSuccess,
    PiCredentialsExpiry,
    ProviderInfo,
    NodeRoleFallback,
    ImdsReachable,
    FindingActive,
    AccessAllowed,
    AppSdkInfo,
    AppLastEvent,
    BuildInfo,
}
const GAUGES: usize = G::BuildInfo as usize + 1;

/// The counters, by position in `Metrics::counters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum C {
    TokenReloads,
    TokenReadErrors,
    StsAttempts,
    StsErrors,
    PiAttempts,
    PiErrors,
    AppCalls,
    AppEvents,
}
const COUNTERS: usize = C::AppEvents as usize + 1;

/// The histograms, by position in `Metrics::histograms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum H {
    StsDuration,
    PiDuration,
}
const HISTOGRAMS: usize = H::PiDuration as usize + 1;

/// A metric's type (and, for histograms, its buckets).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Gauge(G),
    Counter(C),
    Histogram(H, &'static [f64]),
}

/// One row of the metric table: everything registration needs.
#[derive(Debug, Clone, Copy)]
struct Def {
    kind: Kind,
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
}

const fn def(
    kind: Kind,
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
) -> Def {
    Def {
        kind,
        name,
        help,
        labels,
    }
}

const TOKEN: &[&str] = &["token"];
/// Every `irsa_app_events_total{result}` value, zeroed at start.
const APP_EVENT_RESULTS: [&str; 4] = ["accepted", "malformed", "oversized", "dropped"];
const STS_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const AGENT_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Every metric irsa-doctor exports, one row each.
#[rustfmt::skip]
const METRICS: &[Def] = &[
    def(Kind::Gauge(G::TokenExpiry), "irsa_token_expiry_timestamp_seconds", "Expiry (exp) of the token, Unix seconds.", TOKEN),
    def(Kind::Gauge(G::TokenIssued), "irsa_token_issued_timestamp_seconds", "Issue time (iat) of the token, Unix seconds.", TOKEN),
    def(Kind::Gauge(G::TokenLifetime), "irsa_token_lifetime_seconds", "Lifetime the token was issued with (exp - iat).", TOKEN),
    def(Kind::Gauge(G::TokenValid), "irsa_token_valid", "1 when the token was read, decoded and is within nbf..exp now.", TOKEN),
    def(Kind::Gauge(G::TokenInfo), "irsa_token_info", "Claims of the current token (value always 1).", &["token", "issuer", "subject", "audience", "namespace", "service_account"]),
    def(Kind::Counter(C::TokenReloads), "irsa_token_reloads_total", "New tokens loaded from the file (the first load counts).", TOKEN),
    def(Kind::Counter(C::TokenReadErrors), "irsa_token_read_errors_total", "Failed reads of the token file, by reason.", &["token", "reason"]),
    def(Kind::Gauge(G::TokenLastReload), "irsa_token_last_reload_timestamp_seconds", "When the current token was loaded, Unix seconds.", TOKEN),
    def(Kind::Counter(C::StsAttempts), "irsa_sts_assume_attempts_total", "AssumeRoleWithWebIdentity test-assumes attempted.", NO_LABELS),
    def(Kind::Counter(C::StsErrors), "irsa_sts_assume_errors_total", "Failed test-assumes, by bounded STS error code.", &["code"]),
    def(Kind::Histogram(H::StsDuration, STS_BUCKETS), "irsa_sts_assume_duration_seconds", "Latency of AssumeRoleWithWebIdentity test-assumes.", NO_LABELS),
    def(Kind::Gauge(G::StsSuccess), "irsa_sts_assume_success", "1 when the last test-assume succeeded (cached: probes run on an interval).", NO_LABELS),
    def(Kind::Gauge(G::StsLastSuccess), "irsa_sts_last_success_timestamp_seconds", "When a test-assume last succeeded, Unix seconds.", NO_LABELS),
    def(Kind::Gauge(G::StsCredentialsExpiry), "irsa_sts_credentials_expiry_timestamp_seconds", "Expiry of the last test-assumed credentials, Unix seconds.", NO_LABELS),
    def(Kind::Gauge(G::ProviderInfo), "irsa_credential_provider_info", "The default chain's provider that answered (value always 1).", &["provider"]),
    def(Kind::Gauge(G::NodeRoleFallback), "irsa_node_role_fallback", "1 when the default chain resolves the node's instance role.", NO_LABELS),
    def(Kind::Gauge(G::ImdsReachable), "irsa_imds_reachable", "1 when the pod can reach IMDS (v1 or v2).", NO_LABELS),
    def(Kind::Gauge(G::FindingActive), "irsa_finding_active", "1 while the finding is raised; one series per code.", &["code", "severity"]),
    def(Kind::Gauge(G::BuildInfo), "irsa_doctor_build_info", "irsa-doctor build (value always 1).", &["version"]),
    def(Kind::Counter(C::PiAttempts), "irsa_pod_identity_attempts_total", "EKS Pod Identity agent calls attempted.", NO_LABELS),
    def(Kind::Counter(C::PiErrors), "irsa_pod_identity_errors_total", "Failed agent calls: Unreachable, Denied (4xx), AgentError (5xx or unusable answer), Throttled (429).", &["code"]),
    def(Kind::Histogram(H::PiDuration, AGENT_BUCKETS), "irsa_pod_identity_duration_seconds", "Latency of EKS Pod Identity agent calls.", NO_LABELS),
    def(Kind::Gauge(G::PiSuccess), "irsa_pod_identity_success", "1 when the last agent call returned credentials (cached: calls run on the probe interval).", NO_LABELS),
    def(Kind::Gauge(G::PiLastSuccess), "irsa_pod_identity_last_success_timestamp_seconds", "When an agent call last succeeded, Unix seconds.", NO_LABELS),
    def(Kind::Gauge(G::PiCredentialsExpiry), "irsa_pod_identity_credentials_expiry_timestamp_seconds", "Expiry of the agent's last credentials, Unix seconds.", NO_LABELS),
    def(Kind::Counter(C::AppCalls), "irsa_app_api_calls_total", "The application's own AWS calls (client-side monitoring), by IAM prefix, action and outcome; at most 512 series, beyond that folded into action=\"other\".", &["service", "action", "outcome"]),
    def(Kind::Gauge(G::AppSdkInfo), "irsa_app_sdk_info", "The application's SDKs and where their credentials come from (value always 1; at most 64).", &["sdk", "version", "credential_source"]),
    def(Kind::Counter(C::AppEvents), "irsa_app_events_total", "Client-side monitoring datagrams received, by result: accepted, malformed, oversized, dropped (beyond a cap).", &["result"]),
    def(Kind::Gauge(G::AppLastEvent), "irsa_app_last_event_timestamp_seconds", "When the latest client-side monitoring datagram arrived, Unix seconds.", NO_LABELS),
    def(Kind::Gauge(G::AccessAllowed), "irsa_access_allowed", "1 when the role's identity policies and boundary allow the --expect-access action on the resource, 0 when they deny it; absent while unknown.", &["action", "resource"]),
];

/// The metrics table as the reference documents it (`docs/reference.md#metrics`): one
/// markdown row per metric with its type, labels and help, generated so it cannot drift.
pub fn reference_markdown() -> String {
    let mut out = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for d in METRICS {
        let kind = match d.kind {
            Kind::Gauge(_) => "gauge",
            Kind::Counter(_) => "counter",
            Kind::Histogram(..) => "histogram",
        };
        let labels = d
            .labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | {kind} | {labels} | {} |\n",
            d.name, d.help
        ));
    }
    out
}

/// Every metric irsa-doctor exports, in its own registry.
pub struct Metrics {
    registry: Registry,
    gauges: Vec<GaugeVec>,
    counters: Vec<IntCounterVec>,
    histograms: Vec<HistogramVec>,
}

/// Registration can only fail on a duplicate or invalid name, or a table that misses a
/// metric: programming errors caught by every test.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Prometheus refused a metric.
    #[error("metric registration failed: {0}")]
    Register(#[from] prometheus::Error),
    /// The metric table lacks a row for one of the metrics the code sets.
    #[error("the metric table has no row for one of the {0} metrics")]
    Incomplete(&'static str),
}

/// Fills slot `i` of `slots` with a freshly registered collector.
fn put<T: Clone + prometheus::core::Collector + 'static>(
    r: &Registry,
    slots: &mut [Option<T>],
    i: usize,
    c: T,
) -> Result<(), MetricsError> {
    r.register(Box::new(c.clone()))?;
    if let Some(slot) = slots.get_mut(i) {
        *slot = Some(c);
    }
    Ok(())
}

fn complete<T>(slots: Vec<Option<T>>, what: &'static str) -> Result<Vec<T>, MetricsError> {
    slots
        .into_iter()
        .collect::<Option<Vec<T>>>()
        .ok_or(MetricsError::Incomplete(what))
}

impl Metrics {
    /// Registers every row of the metric table, with zeroed counters for every bounded label
    /// value and every configured token name.
    pub fn new(tokens: &[&str]) -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let r = &registry;
        let mut gauges: Vec<Option<GaugeVec>> = vec![None; GAUGES];
        let mut counters: Vec<Option<IntCounterVec>> = vec![None; COUNTERS];
        let mut histograms: Vec<Option<HistogramVec>> = vec![None; HISTOGRAMS];
        for d in METRICS {
            let opts = Opts::new(d.name, d.help);
            match d.kind {
                Kind::Gauge(g) => put(r, &mut gauges, g as usize, GaugeVec::new(opts, d.labels)?)?,
                Kind::Counter(c) => put(
                    r,
                    &mut counters,
                    c as usize,
                    IntCounterVec::new(opts, d.labels)?,
                )?,
                Kind::Histogram(h, buckets) => put(
                    r,
                    &mut histograms,
                    h as usize,
                    HistogramVec::new(
                        HistogramOpts::from(opts).buckets(buckets.to_vec()),
                        d.labels,
                    )?,
                )?,
            }
        }
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let m = Metrics {
            registry,
            gauges: complete(gauges, "gauge")?,
            counters: complete(counters, "counter")?,
            histograms: complete(histograms, "histogram")?,
        };
        m.g(G::BuildInfo)
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        for token in tokens {
            m.c(C::TokenReloads).with_label_values(&[*token]).reset();
            for reason in READ_ERROR_REASONS {
                m.c(C::TokenReadErrors)
                    .with_label_values(&[*token, reason])
                    .reset();
            }
        }
        m.c(C::StsAttempts).with_label_values(NO_LABELS).reset();
        for code in STS_LABELS {
            m.c(C::StsErrors).with_label_values(&[code]).reset();
        }
        for result in APP_EVENT_RESULTS {
            m.c(C::AppEvents).with_label_values(&[result]).reset();
        }
        m.c(C::PiAttempts).with_label_values(NO_LABELS).reset();
        for code in AGENT_LABELS {
            m.c(C::PiErrors).with_label_values(&[code]).reset();
        }
        Ok(m)
    }

    // `new` fills every slot or fails, so these index within bounds.
    fn g(&self, g: G) -> &GaugeVec {
        &self.gauges[g as usize]
    }

    fn c(&self, c: C) -> &IntCounterVec {
        &self.counters[c as usize]
    }

    fn h(&self, h: H) -> &HistogramVec {
        &self.histograms[h as usize]
    }

    /// Counts one read of the token file named `token`.
    pub fn token_read(&self, token: &str, change: &TokenChange) {
        match change {
            TokenChange::Reloaded => self.c(C::TokenReloads).with_label_values(&[token]).inc(),
            TokenChange::Unchanged => {}
            TokenChange::Failed { error, .. } => self
                .c(C::TokenReadErrors)
                .with_label_values(&[token, error.metric_label()])
                .inc(),
        }
    }

    /// Counts one Pod Identity agent call; `error_code` (an `AGENT_LABELS` value) is `None` on success.
    pub fn pod_identity_attempt(&self, latency_seconds: f64, error_code: Option<&str>) {
        self.c(C::PiAttempts).with_label_values(NO_LABELS).inc();
        self.h(H::PiDuration)
            .with_label_values(NO_LABELS)
            .observe(latency_seconds);
        if let Some(code) = error_code {
            self.c(C::PiErrors).with_label_values(&[code]).inc();
        }
    }

    /// Counts one client-side monitoring datagram by result (`accepted`, `malformed`, ...).
    pub fn app_event(&self, result: &str, at: std::time::SystemTime) {
        self.c(C::AppEvents).with_label_values(&[result]).inc();
        self.g(G::AppLastEvent)
            .with_label_values(NO_LABELS)
            .set(time::unix_f64(at));
    }

    /// Counts one application call; the core's snapshot bounds the label sets it passes.
    pub fn app_call(&self, service: &str, action: &str, outcome: &str) {
        self.c(C::AppCalls)
            .with_label_values(&[service, action, outcome])
            .inc();
    }

    /// Counts one STS test-assume request; `error_code` is `None` on success.
    pub fn sts_attempt(&self, latency_seconds: f64, error_code: Option<&str>) {
        self.c(C::StsAttempts).with_label_values(NO_LABELS).inc();
        self.h(H::StsDuration)
            .with_label_values(NO_LABELS)
            .observe(latency_seconds);
        if let Some(code) = error_code {
            self.c(C::StsErrors)
                .with_label_values(&[failure::sts_label(code)])
                .inc();
        }
    }

    /// Sets every gauge from the snapshot and its assessment, and renders the text exposition.
    pub fn render(&self, ctx: &Context<'_>, assessment: &Assessment) -> String {
        self.set_gauges(ctx, assessment);
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    fn set_gauges(&self, ctx: &Context<'_>, assessment: &Assessment) {
        let snap = ctx.snapshot;
        for g in [
            G::TokenExpiry,
            G::TokenIssued,
            G::TokenLifetime,
            G::TokenInfo,
            G::TokenLastReload,
        ] {
            self.g(g).reset();
        }
        for (name, token) in ctx.tokens() {
            self.set_token(name, token, assessment.token_valid(name));
        }

        let sts = &snap.sts;
        set_optional(self.g(G::StsSuccess), sts.result.gauge());
        set_optional(
            self.g(G::StsLastSuccess),
            sts.last_success_at.map(time::unix_f64),
        );
        set_optional(
            self.g(G::StsCredentialsExpiry),
            sts.credentials_expire_at.map(time::unix_f64),
        );

        let pi = &snap.pod_identity;
        set_optional(self.g(G::PiSuccess), pi.result.gauge());
        set_optional(
            self.g(G::PiLastSuccess),
            pi.last_success_at.map(time::unix_f64),
        );
        set_optional(
            self.g(G::PiCredentialsExpiry),
            pi.credentials_expire_at.map(time::unix_f64),
        );

        let chain = &snap.chain;
        self.g(G::ProviderInfo).reset();
        if let Some(p) = &chain.provider {
            self.g(G::ProviderInfo).with_label_values(&[p]).set(1.0);
        }
        set_optional(
            self.g(G::NodeRoleFallback),
            chain
                .provider
                .as_ref()
                .map(|_| f64::from(u8::from(assessment.is_active(Code::NodeRoleFallback)))),
        );
        set_optional(
            self.g(G::ImdsReachable),
            chain.imds_reachable().map(|r| f64::from(u8::from(r))),
        );
        for code in Code::ALL {
            self.g(G::FindingActive)
                .with_label_values(&[code.as_str(), code.severity().as_str()])
                .set(f64::from(u8::from(assessment.is_active(*code))));
        }
        self.set_access(&assessment.access);
        self.set_app(snap, assessment);
    }

    /// `irsa_app_sdk_info` from the snapshot's (bounded) SDK identities.
    fn set_app(&self, snap: &irsa_doctor_core::snapshot::Snapshot, assessment: &Assessment) {
        let g = self.g(G::AppSdkInfo);
        g.reset();
        let Some(app) = &snap.app else { return };
        for (i, e) in app.sdks.iter().enumerate() {
            let source = assessment
                .app
                .as_ref()
                .and_then(|a| a.sdks.get(i))
                .map_or("unknown", |v| v.source.as_str());
            g.with_label_values(&[&e.sdk.name, &e.sdk.version, source])
                .set(1.0);
        }
    }

    /// 1 allowed, 0 denied; absent while unknown or unread (a 0 would page for nothing).
    fn set_access(&self, access: &AccessEvaluation) {
        let g = self.g(G::AccessAllowed);
        g.reset();
        let AccessEvaluation::Checked { checks, .. } = access else {
            return;
        };
        for c in checks {
            let value = match c.decision {
                Decision::Allowed => 1.0,
                Decision::ImplicitDeny | Decision::ExplicitDeny => 0.0,
                Decision::Unknown => continue,
            };
            g.with_label_values(&[&c.action, &c.resource]).set(value);
        }
    }

    fn set_token(&self, name: &str, token: &TokenSnapshot, valid: bool) {
        let t = [name];
        if let Some(d) = token.decoded() {
            let c = &d.claims;
            if let Some(exp) = c.expires_at {
                self.g(G::TokenExpiry).with_label_values(&t).set(exp as f64);
            }
            if let Some(iat) = c.issued_at {
                self.g(G::TokenIssued).with_label_values(&t).set(iat as f64);
            }
            if let Some(l) = c.lifetime_seconds() {
                self.g(G::TokenLifetime).with_label_values(&t).set(l as f64);
            }
            let audience = c.audiences.join(",");
            self.g(G::TokenInfo)
                .with_label_values(&[
                    name,
                    c.issuer.as_deref().unwrap_or(""),
                    c.subject.as_deref().unwrap_or(""),
                    &audience,
                    c.kubernetes.namespace.as_deref().unwrap_or(""),
                    c.kubernetes.service_account.as_deref().unwrap_or(""),
                ])
                .set(1.0);
        }
        self.g(G::TokenValid)
            .with_label_values(&t)
            .set(f64::from(u8::from(valid)));
        if let Some(at) = token.loaded_at {
            self.g(G::TokenLastReload)
                .with_label_values(&t)
                .set(time::unix_f64(at));
        }
    }
}

/// A label-less gauge that is absent while its value is unknown (rather than a misleading 0).
fn set_optional(g: &GaugeVec, value: Option<f64>) {
    g.reset();
    if let Some(v) = value {
        g.with_label_values(NO_LABELS).set(v);
    }
}

#[cfg(test)]
mod tests;
