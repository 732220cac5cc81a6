use super::*;
use irsa_doctor_core::fixtures::*;
use irsa_doctor_core::token::ReadError;

fn render(fx: &Fixture, m: &Metrics) -> String {
    let ctx = fx.context();
    m.render(&ctx, &Assessment::new(&ctx))
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
    let m = Metrics::new(&["irsa"]).unwrap();
    m.sts_attempt(0.2, Some("AccessDenied"));
    // Labelled Other before the one table.
    m.sts_attempt(0.2, Some("ThrottlingException"));
    m.sts_attempt(0.2, Some("arn:aws:iam::secret"));
    m.sts_attempt(0.1, None);
    let text = render(&healthy(), &m);
    assert!(has(&text, "irsa_sts_assume_attempts_total 4"), "{text}");
    for line in [
        "irsa_sts_assume_errors_total{code=\"AccessDenied\"} 1",
        "irsa_sts_assume_errors_total{code=\"Throttling\"} 1",
        "irsa_sts_assume_errors_total{code=\"Other\"} 1",
        "irsa_sts_assume_duration_seconds_count 4",
    ] {
        assert!(has(&text, line), "missing {line}\n{text}");
    }
}

/// With a valid nbf and a future iat the gauge once said 1 while TOKEN_NOT_YET_VALID fired.
#[test]
fn token_valid_agrees_with_the_findings() {
    let m = Metrics::new(&["irsa"]).unwrap();
    let mut fx = healthy();
    fx.claims().not_before = Some(NOW - 10);
    fx.claims().issued_at = Some(NOW + 3600);
    let text = render(&fx, &m);
    assert!(has(&text, "irsa_token_valid{token=\"irsa\"} 0"), "{text}");
    assert!(has(
        &text,
        "irsa_finding_active{code=\"TOKEN_NOT_YET_VALID\",severity=\"critical\"} 1"
    ));
}

#[test]
fn access_allowed_per_entry_absent_while_unknown() {
    use irsa_doctor_core::policy::access::{ExpectedAccess, RolePolicies, Source};
    let m = Metrics::new(&["irsa"]).unwrap();
    let mut fx = healthy();
    fx.config.expect_access = [
        "s3:PutObject=arn:aws:s3:::b/k",
        "kms:Decrypt",
        "sqs:SendMessage",
    ]
    .iter()
    .map(|e| ExpectedAccess::parse(e).unwrap())
    .collect();
    let series = |text: &str| -> Vec<String> {
        samples(text)
            .into_iter()
            .filter(|l| l.starts_with("irsa_access_allowed"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(series(&render(&fx, &m)), Vec::<String>::new(), "unread");
    let policy = named_policy(
        "p",
        Source::Inline,
        r#"[{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*",
             "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]"#,
    );
    fx.snapshot.access.policies = Some(Ok(std::sync::Arc::new(RolePolicies {
        identity: vec![policy],
        boundary: None,
        arn: None,
    })));
    assert_eq!(
        series(&render(&fx, &m)),
        [
            "irsa_access_allowed{action=\"kms:Decrypt\",resource=\"*\"} 0",
            "irsa_access_allowed{action=\"s3:PutObject\",resource=\"arn:aws:s3:::b/k\"} 1",
        ],
        "sqs:SendMessage hinges on aws:SourceIp: unknown, so absent"
    );
    fx.snapshot.access.policies = Some(Err(irsa_doctor_core::snapshot::AccessReadError {
        failure: irsa_doctor_core::snapshot::AccessReadFailure::Unreachable,
        message: "iam:GetRole: timeout".into(),
    }));
    assert_eq!(series(&render(&fx, &m)), Vec::<String>::new(), "unreadable");
}

#[test]
fn the_table_registers_every_metric_once() {
    let m = Metrics::new(&["irsa"]).unwrap();
    for d in METRICS {
        assert_eq!(
            METRICS.iter().filter(|o| o.name == d.name).count(),
            1,
            "{}",
            d.name
        );
    }
    let slot = |k: &Kind| match k {
        Kind::Gauge(g) => (0, *g as usize),
        Kind::Counter(c) => (1, *c as usize),
        Kind::Histogram(h, _) => (2, *h as usize),
    };
    for d in METRICS {
        let same = METRICS
            .iter()
            .filter(|o| slot(&o.kind) == slot(&d.kind))
            .count();
        assert_eq!(same, 1, "{} shares its slot", d.name);
    }
    assert_eq!(METRICS.len(), GAUGES + COUNTERS + HISTOGRAMS);
    let zeroed = render(&healthy(), &m);
    for code in AGENT_LABELS {
        let line = format!("irsa_pod_identity_errors_total{{code=\"{code}\"}} 0");
        assert!(has(&zeroed, &line), "missing {line}");
    }
}
