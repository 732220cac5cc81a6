//! Prometheus metrics (SPEC section 6).
//!
//! Counters are bumped by the shell when events happen (a token read, an STS
//! attempt); gauges are set from the latest snapshot at scrape time, so a
//! scrape is always consistent with `/debug` and never triggers I/O.
//! Labels are bounded: never a token, a credential, a pod UID or an error text.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use irsa_doctor_core::findings::{Code, Context, Finding};
use irsa_doctor_core::snapshot::{TokenChange, TokenSnapshot};
use irsa_doctor_core::time;
use irsa_doctor_core::token::READ_ERROR_REASONS;

/// The `Content-Type` Prometheus 3 requires for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const NO_LABELS: &[&str] = &[];

/// Bounded `code` label values of `irsa_sts_assume_errors_total` (SPEC 6).
pub const STS_ERROR_CODES: [&str; 10] = [
    "AccessDenied",
    "InvalidIdentityToken",
    "ExpiredTokenException",
    "IDPCommunicationError",
    "IDPRejectedClaim",
    "RegionDisabledException",
    "Throttling",
    "Unreachable",
    "Timeout",
    "Other",
];

/// Maps any STS error code to its bounded label value.
pub fn sts_error_label(code: &str) -> &'static str {
    // "TooManyRequests" is how some STS paths spell throttling.
    let code = if code == "TooManyRequests" {
        "Throttling"
    } else {
        code
    };
    STS_ERROR_CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .unwrap_or("Other")
}

/// Every metric irsa-doctor exports, in its own registry.
pub struct Metrics {
    registry: Registry,
    token_expiry: GaugeVec,
    token_issued: GaugeVec,
    token_lifetime: GaugeVec,
    token_valid: GaugeVec,
    token_info: GaugeVec,
    token_reloads: IntCounterVec,
    token_read_errors: IntCounterVec,
    token_last_reload: GaugeVec,
    sts_attempts: IntCounterVec,
    sts_errors: IntCounterVec,
    sts_duration: HistogramVec,
    sts_success: GaugeVec,
    sts_last_success: GaugeVec,
    sts_credentials_expiry: GaugeVec,
    pi_attempts: IntCounterVec,
    pi_errors: IntCounterVec,
    pi_duration: HistogramVec,
    pi_success: GaugeVec,
    pi_last_success: GaugeVec,
    pi_credentials_expiry: GaugeVec,
    provider_info: GaugeVec,
    node_role_fallback: GaugeVec,
    imds_reachable: GaugeVec,
    finding_active: GaugeVec,
    /// issue 14: `irsa_access_allowed{action,resource}`.
    access_allowed: GaugeVec,
}

/// Registration can only fail on a duplicate or invalid name: a programming error caught by every test.
#[derive(Debug, thiserror::Error)]
#[error("metric registration failed: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    /// Creates and registers every metric, with zeroed counters for every bounded label value
    /// and every configured token name.
    pub fn new(tokens: &[&str]) -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let r = &registry;
        let m = Metrics {
            token_expiry: gauge(
                r,
                "irsa_token_expiry_timestamp_seconds",
                "Expiry (exp) of the token, Unix seconds.",
                &["token"],
            )?,
            token_issued: gauge(
                r,
                "irsa_token_issued_timestamp_seconds",
                "Issue time (iat) of the token, Unix seconds.",
                &["token"],
            )?,
            token_lifetime: gauge(
                r,
                "irsa_token_lifetime_seconds",
                "Lifetime the token was issued with (exp - iat).",
                &["token"],
            )?,
            token_valid: gauge(
                r,
                "irsa_token_valid",
                "1 when the token was read, decoded and is within nbf..exp now.",
                &["token"],
            )?,
            token_info: gauge(
                r,
                "irsa_token_info",
                "Claims of the current token (value always 1).",
                &[
                    "token",
                    "issuer",
                    "subject",
                    "audience",
                    "namespace",
                    "service_account",
                ],
            )?,
            token_reloads: counter(
                r,
                "irsa_token_reloads_total",
                "New tokens loaded from the file (the first load counts).",
                &["token"],
            )?,
            token_read_errors: counter(
                r,
                "irsa_token_read_errors_total",
                "Failed reads of the token file, by reason.",
                &["token", "reason"],
            )?,
            token_last_reload: gauge(
                r,
                "irsa_token_last_reload_timestamp_seconds",
                "When the current token was loaded, Unix seconds.",
                &["token"],
            )?,
            sts_attempts: counter(
                r,
                "irsa_sts_assume_attempts_total",
                "AssumeRoleWithWebIdentity test-assumes attempted.",
                &[],
            )?,
            sts_errors: counter(
                r,
                "irsa_sts_assume_errors_total",
                "Failed test-assumes, by bounded STS error code.",
                &["code"],
            )?,
            sts_duration: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "irsa_sts_assume_duration_seconds",
                        "Latency of AssumeRoleWithWebIdentity test-assumes.",
                    )
                    .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
                    &[],
                )?;
                r.register(Box::new(h.clone()))?;
                h
            },
            sts_success: gauge(
                r,
                "irsa_sts_assume_success",
                "1 when the last test-assume succeeded (cached: probes run on an interval).",
                &[],
            )?,
            sts_last_success: gauge(
                r,
                "irsa_sts_last_success_timestamp_seconds",
                "When a test-assume last succeeded, Unix seconds.",
                &[],
            )?,
            sts_credentials_expiry: gauge(
                r,
                "irsa_sts_credentials_expiry_timestamp_seconds",
                "Expiry of the last test-assumed credentials, Unix seconds.",
                &[],
            )?,
            pi_attempts: counter(
                r,
                "irsa_pod_identity_attempts_total",
                "EKS Pod Identity agent calls attempted.",
                &[],
            )?,
            pi_errors: counter(
                r,
                "irsa_pod_identity_errors_total",
                "Failed agent calls: Unreachable, Denied (4xx), AgentError (5xx or unusable answer).",
                &["code"],
            )?,
            pi_duration: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "irsa_pod_identity_duration_seconds",
                        "Latency of EKS Pod Identity agent calls.",
                    )
                    .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
                    &[],
                )?;
                r.register(Box::new(h.clone()))?;
                h
            },
            pi_success: gauge(
                r,
                "irsa_pod_identity_success",
                "1 when the last agent call returned credentials (cached: calls run on the probe interval).",
                &[],
            )?,
            pi_last_success: gauge(
                r,
                "irsa_pod_identity_last_success_timestamp_seconds",
                "When an agent call last succeeded, Unix seconds.",
                &[],
            )?,
            pi_credentials_expiry: gauge(
                r,
                "irsa_pod_identity_credentials_expiry_timestamp_seconds",
                "Expiry of the agent's last credentials, Unix seconds.",
                &[],
            )?,
            provider_info: gauge(
                r,
                "irsa_credential_provider_info",
                "The default chain's provider that answered (value always 1).",
                &["provider"],
            )?,
            node_role_fallback: gauge(
                r,
                "irsa_node_role_fallback",
                "1 when the default chain resolves the node's instance role.",
                &[],
            )?,
            imds_reachable: gauge(
                r,
                "irsa_imds_reachable",
                "1 when the pod can reach IMDS (v1 or v2).",
                &[],
            )?,
            finding_active: gauge(
                r,
                "irsa_finding_active",
                "1 while the finding is raised; one series per code.",
                &["code", "severity"],
            )?,
            access_allowed: gauge(
                r,
                "irsa_access_allowed",
                "1 when the role's identity policies and boundary allow the --expect-access action on the resource, 0 when they deny it; absent while unknown.",
                &["action", "resource"],
            )?,
            registry,
        };
        let build = gauge(
            &m.registry,
            "irsa_doctor_build_info",
            "irsa-doctor build (value always 1).",
            &["version"],
        )?;
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        #[cfg(target_os = "linux")]
        m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;

        for token in tokens {
            m.token_reloads.with_label_values(&[*token]).reset();
            for reason in READ_ERROR_REASONS {
                m.token_read_errors
                    .with_label_values(&[*token, reason])
                    .reset();
            }
        }
        m.sts_attempts.with_label_values(NO_LABELS).reset();
        for code in STS_ERROR_CODES {
            m.sts_errors.with_label_values(&[code]).reset();
        }
        m.pi_attempts.with_label_values(NO_LABELS).reset();
        for code in ["Unreachable", "Denied", "AgentError"] {
            m.pi_errors.with_label_values(&[code]).reset();
        }
        Ok(m)
    }

    /// Counts one read of the token file named `token`.
    pub fn token_read(&self, token: &str, change: &TokenChange) {
        match change {
            TokenChange::Reloaded => self.token_reloads.with_label_values(&[token]).inc(),
            TokenChange::Unchanged => {}
            TokenChange::Failed { error, .. } => self
                .token_read_errors
                .with_label_values(&[token, error.metric_label()])
                .inc(),
        }
    }

    /// Counts one Pod Identity agent call; `error_code` is `None` on success.
    pub fn pod_identity_attempt(&self, latency_seconds: f64, error_code: Option<&str>) {
        self.pi_attempts.with_label_values(NO_LABELS).inc();
        self.pi_duration
            .with_label_values(NO_LABELS)
            .observe(latency_seconds);
        if let Some(code) = error_code {
            self.pi_errors.with_label_values(&[code]).inc();
        }
    }

    /// Counts one STS test-assume; `error_code` is `None` on success.
    pub fn sts_attempt(&self, latency_seconds: f64, error_code: Option<&str>) {
        self.sts_attempts.with_label_values(NO_LABELS).inc();
        self.sts_duration
            .with_label_values(NO_LABELS)
            .observe(latency_seconds);
        if let Some(code) = error_code {
            self.sts_errors
                .with_label_values(&[sts_error_label(code)])
                .inc();
        }
    }

    /// Sets every gauge from the snapshot and renders the text exposition.
    pub fn render(&self, ctx: &Context<'_>, findings: &[Finding]) -> String {
        self.set_gauges(ctx, findings);
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    fn set_gauges(&self, ctx: &Context<'_>, findings: &[Finding]) {
        let snap = ctx.snapshot;
        let now = time::unix(ctx.now);
        for g in [
            &self.token_expiry,
            &self.token_issued,
            &self.token_lifetime,
            &self.token_info,
        ] {
            g.reset();
        }
        self.token_last_reload.reset();
        for (name, token) in ctx.tokens() {
            self.set_token(name, token, now);
        }

        let sts = &snap.sts;
        set_optional(&self.sts_success, sts.result.gauge());
        set_optional(
            &self.sts_last_success,
            sts.last_success_at.map(time::unix_f64),
        );
        set_optional(
            &self.sts_credentials_expiry,
            sts.credentials_expire_at.map(time::unix_f64),
        );

        let pi = &snap.pod_identity;
        set_optional(&self.pi_success, pi.result.gauge());
        set_optional(
            &self.pi_last_success,
            pi.last_success_at.map(time::unix_f64),
        );
        set_optional(
            &self.pi_credentials_expiry,
            pi.credentials_expire_at.map(time::unix_f64),
        );

        let chain = &snap.chain;
        self.provider_info.reset();
        if let Some(p) = &chain.provider {
            self.provider_info.with_label_values(&[p]).set(1.0);
        }
        let active = |code: Code| findings.iter().any(|f| f.code == code);
        set_optional(
            &self.node_role_fallback,
            chain
                .provider
                .as_ref()
                .map(|_| f64::from(u8::from(active(Code::NodeRoleFallback)))),
        );
        set_optional(
            &self.imds_reachable,
            chain.imds_reachable().map(|r| f64::from(u8::from(r))),
        );
        for code in Code::ALL {
            self.finding_active
                .with_label_values(&[code.as_str(), code.severity().as_str()])
                .set(f64::from(u8::from(active(*code))));
        }
        self.set_access(ctx);
    }

    /// issue 14: 1 allowed, 0 denied; absent while unknown or unread (not a misleading 0).
    fn set_access(&self, ctx: &Context<'_>) {
        use irsa_doctor_core::findings::access::{AccessState, state};
        use irsa_doctor_core::policy::access::Decision;
        self.access_allowed.reset();
        if let AccessState::Checked(_, checks) = state(ctx) {
            for c in checks {
                let value = match c.decision {
                    Decision::Allowed => 1.0,
                    Decision::ImplicitDeny | Decision::ExplicitDeny => 0.0,
                    Decision::Unknown => continue,
                };
                self.access_allowed
                    .with_label_values(&[&c.action, &c.resource])
                    .set(value);
            }
        }
    }
}

impl Metrics {
    fn set_token(&self, name: &str, token: &TokenSnapshot, now: i64) {
        let t = [name];
        let mut valid = false;
        if let Some(d) = token.decoded() {
            let c = &d.claims;
            if let Some(exp) = c.expires_at {
                self.token_expiry.with_label_values(&t).set(exp as f64);
            }
            if let Some(iat) = c.issued_at {
                self.token_issued.with_label_values(&t).set(iat as f64);
            }
            if let Some(l) = c.lifetime_seconds() {
                self.token_lifetime.with_label_values(&t).set(l as f64);
            }
            let audience = c.audiences.join(",");
            self.token_info
                .with_label_values(&[
                    name,
                    c.issuer.as_deref().unwrap_or(""),
                    c.subject.as_deref().unwrap_or(""),
                    &audience,
                    c.kubernetes.namespace.as_deref().unwrap_or(""),
                    c.kubernetes.service_account.as_deref().unwrap_or(""),
                ])
                .set(1.0);
            let started = c
                .not_before
                .or(c.issued_at)
                .is_none_or(|nbf| nbf <= now + irsa_doctor_core::findings::SKEW_ALLOWANCE_SECS);
            valid = started && c.expires_at.is_some_and(|exp| exp > now);
        }
        self.token_valid
            .with_label_values(&t)
            .set(f64::from(u8::from(valid)));
        if let Some(at) = token.loaded_at {
            self.token_last_reload
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

fn gauge(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<GaugeVec, prometheus::Error> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use irsa_doctor_core::findings::evaluate;
    use irsa_doctor_core::fixtures::*;
    use irsa_doctor_core::token::ReadError;

    fn render(fx: &Fixture, m: &Metrics) -> String {
        let ctx = fx.context();
        m.render(&ctx, &evaluate(&ctx))
    }

    /// Lines of the exposition that are samples (no comments).
    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    fn has(text: &str, line: &str) -> bool {
        samples(text).contains(&line)
    }

    #[test]
    fn healthy_token_series() {
        let m = Metrics::new(&["irsa"]).unwrap();
        let fx = healthy();
        m.token_read("irsa", &TokenChange::Reloaded);
        let text = render(&fx, &m);
        for line in [
            "irsa_token_expiry_timestamp_seconds{token=\"irsa\"} 1795508000",
            "irsa_token_issued_timestamp_seconds{token=\"irsa\"} 1795421600",
            "irsa_token_lifetime_seconds{token=\"irsa\"} 86400",
            "irsa_token_valid{token=\"irsa\"} 1",
            "irsa_token_info{audience=\"sts.amazonaws.com\",issuer=\"https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE\",namespace=\"demo\",service_account=\"demo-sa\",subject=\"system:serviceaccount:demo:demo-sa\",token=\"irsa\"} 1",
            "irsa_token_reloads_total{token=\"irsa\"} 1",
            "irsa_token_read_errors_total{reason=\"missing\",token=\"irsa\"} 0",
            "irsa_token_read_errors_total{reason=\"malformed\",token=\"irsa\"} 0",
            "irsa_token_last_reload_timestamp_seconds{token=\"irsa\"} 1795421600",
            "irsa_sts_assume_success 1",
            "irsa_credential_provider_info{provider=\"WebIdentityToken\"} 1",
            "irsa_node_role_fallback 0",
            "irsa_imds_reachable 0",
            "irsa_sts_assume_attempts_total 0",
            "irsa_sts_assume_errors_total{code=\"Other\"} 0",
            "irsa_finding_active{code=\"TOKEN_EXPIRED\",severity=\"critical\"} 0",
            "irsa_finding_active{code=\"GLOBAL_STS_ENDPOINT\",severity=\"info\"} 0",
        ] {
            assert!(has(&text, line), "missing {line}\n{text}");
        }
        assert!(text.contains(&format!(
            "irsa_doctor_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(
            text.contains("process_resident_memory_bytes"),
            "process collector registered"
        );
    }

    #[test]
    fn every_finding_code_always_has_a_series() {
        let m = Metrics::new(&["irsa"]).unwrap();
        let text = render(&healthy(), &m);
        for code in Code::ALL {
            let line = format!(
                "irsa_finding_active{{code=\"{}\",severity=\"{}\"}} 0",
                code.as_str(),
                code.severity().as_str()
            );
            assert!(has(&text, &line), "missing {line}");
        }
    }

    #[test]
    fn failed_token_drops_claim_series_and_counts_reason() {
        let m = Metrics::new(&["irsa"]).unwrap();
        let mut fx = healthy();
        let change = fx
            .snapshot
            .token
            .apply(Err(ReadError::Missing { path: "/t".into() }), at(NOW));
        m.token_read("irsa", &change);
        m.token_read("irsa", &change);
        let text = render(&fx, &m);
        assert!(
            has(
                &text,
                "irsa_token_read_errors_total{reason=\"missing\",token=\"irsa\"} 2"
            ),
            "{text}"
        );
        assert!(has(&text, "irsa_token_valid{token=\"irsa\"} 0"));
        assert!(has(
            &text,
            "irsa_finding_active{code=\"TOKEN_FILE_MISSING\",severity=\"critical\"} 1"
        ));
        assert!(
            !text.contains("irsa_token_info{"),
            "stale info series must go"
        );
        assert!(!text.contains("irsa_token_expiry_timestamp_seconds{"));
        assert!(
            has(
                &text,
                "irsa_token_last_reload_timestamp_seconds{token=\"irsa\"} 1795421600"
            ),
            "last reload survives"
        );
    }

    #[test]
    fn expired_token_is_not_valid() {
        let m = Metrics::new(&["irsa"]).unwrap();
        let mut fx = healthy();
        fx.claims().expires_at = Some(NOW - 1);
        assert!(has(&render(&fx, &m), "irsa_token_valid{token=\"irsa\"} 0"));
    }

    #[test]
    fn unknown_live_results_are_absent_not_zero() {
        let m = Metrics::new(&["irsa"]).unwrap();
        let mut fx = healthy();
        fx.snapshot.sts = Default::default();
        fx.snapshot.chain = Default::default();
        let text = render(&fx, &m);
        for name in [
            "irsa_sts_assume_success ",
            "irsa_node_role_fallback ",
            "irsa_imds_reachable ",
            "irsa_credential_provider_info{",
        ] {
            assert!(
                !samples(&text).iter().any(|l| l.starts_with(name)),
                "{name} should be absent\n{text}"
            );
        }
    }

    #[test]
    fn sts_error_codes_are_bounded() {
        let cases = [
            ("AccessDenied", "AccessDenied"),
            ("TooManyRequests", "Throttling"),
            ("Timeout", "Timeout"),
            ("SomethingNew", "Other"),
            ("arn:aws:iam::secret", "Other"),
        ];
        for (code, label) in cases {
            assert_eq!(sts_error_label(code), label);
        }
        let m = Metrics::new(&["irsa"]).unwrap();
        m.sts_attempt(0.2, Some("AccessDenied"));
        m.sts_attempt(0.1, None);
        let text = render(&healthy(), &m);
        assert!(has(&text, "irsa_sts_assume_attempts_total 2"), "{text}");
        assert!(has(
            &text,
            "irsa_sts_assume_errors_total{code=\"AccessDenied\"} 1"
        ));
        assert!(has(&text, "irsa_sts_assume_duration_seconds_count 2"));
    }
}
