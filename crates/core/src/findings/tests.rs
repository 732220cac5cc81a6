use super::*;
use crate::environment::StaticSource;
use crate::fixtures::*;
use crate::token::MalformedToken;

/// `check(break_it, expect)`: the single place that exercises `evaluate`.
fn check(name: &str, break_it: impl FnOnce(&mut Fixture), expect: &[(Code, &[&str])]) {
    let mut fx = healthy();
    break_it(&mut fx);
    let got = fx.findings();
    let codes: Vec<Code> = got.iter().map(|f| f.code).collect();
    let want: Vec<Code> = expect.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, want, "case {name}: {got:#?}");
    for (finding, (_, fragments)) in got.iter().zip(expect) {
        assert_eq!(finding.severity, finding.code.severity(), "case {name}");
        assert!(!finding.remediation.is_empty(), "case {name}");
        for fragment in *fragments {
            assert!(
                finding.message.contains(fragment) || finding.remediation.contains(fragment),
                "case {name}: {:?} lacks {fragment:?}:\n{}\n{}",
                finding.code,
                finding.message,
                finding.remediation
            );
        }
    }
}

#[test]
fn healthy_pod_has_no_findings() {
    check("healthy", |_| {}, &[]);
}

#[test]
fn environment_cases() {
    check(
        "role arn unset",
        |f| f.env.role_arn = None,
        &[(
            Code::IrsaEnvMissing,
            &[
                "AWS_ROLE_ARN not set",
                "--role-arn was given",
                "eks.amazonaws.com/role-arn",
            ],
        )],
    );
    check(
        "both unset, nothing configured",
        |f| {
            f.env.role_arn = None;
            f.env.token_file = None;
            f.config.role_arn = None;
        },
        &[(
            Code::IrsaEnvMissing,
            &["AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE not set"],
        )],
    );
    check(
        "token file var unset",
        |f| f.env.token_file = None,
        &[(
            Code::IrsaEnvMissing,
            &["AWS_WEB_IDENTITY_TOKEN_FILE not set"],
        )],
    );
    check(
        "static keys",
        |f| {
            f.env.static_sources = vec![StaticSource::EnvKeys(vec![
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
            ])]
        },
        &[(
            Code::StaticCredentialsShadow,
            &[
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
                ROLE,
            ],
        )],
    );
    check(
        "profile",
        |f| f.env.static_sources = vec![StaticSource::EnvProfile("dev".into())],
        &[(Code::StaticCredentialsShadow, &["AWS_PROFILE=dev"])],
    );
    check(
        "regional endpoints unset",
        |f| f.env.sts_regional_endpoints = None,
        &[(
            Code::GlobalStsEndpoint,
            &["is not set", "sts-regional-endpoints"],
        )],
    );
    check(
        "legacy endpoints",
        |f| f.env.sts_regional_endpoints = Some("legacy".into()),
        &[(Code::GlobalStsEndpoint, &["is legacy"])],
    );
    check(
        "regional in capitals is fine",
        |f| f.env.sts_regional_endpoints = Some("REGIONAL".into()),
        &[],
    );
}

#[test]
fn token_read_cases() {
    let fail = |e: ReadError| {
        move |f: &mut Fixture| {
            f.snapshot.token.apply(Err(e), at(NOW));
        }
    };
    let path = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";
    check(
        "missing",
        fail(ReadError::Missing { path: path.into() }),
        &[(Code::TokenFileMissing, &[path, "aws-iam-token"])],
    );
    check(
        "unreadable",
        fail(ReadError::Unreadable {
            path: path.into(),
            reason: "Permission denied (os error 13)".into(),
        }),
        &[(Code::TokenUnreadable, &["Permission denied", "fsGroup"])],
    );
    check(
        "malformed",
        fail(ReadError::Malformed {
            path: path.into(),
            source: MalformedToken::WrongPartCount { parts: 1 },
        }),
        &[(Code::TokenMalformed, &["has 1 dot-separated parts"])],
    );
    check(
        "too large",
        fail(ReadError::Malformed {
            path: path.into(),
            source: MalformedToken::TooLarge { size: 20 << 20 },
        }),
        &[(Code::TokenMalformed, &["20971520 bytes"])],
    );
    check(
        "not read yet: no token findings",
        |f| f.snapshot.token = Default::default(),
        &[],
    );
}

#[test]
fn token_claim_cases() {
    check(
        "expired",
        |f| {
            f.snapshot
                .token
                .apply(Ok((token(NOW - 90_000, 86_400), 2)), at(NOW));
        },
        &[
            (
                Code::TokenExpired,
                &[
                    "expired at 2026-11-23T09:00:00Z",
                    "3600s ago",
                    "ip-10-0-1-2",
                ],
            ),
            (Code::TokenNotRotated, &["overdue"]),
        ],
    );
    check(
        "expires exactly now",
        |f| f.claims().expires_at = Some(NOW),
        &[
            (Code::TokenExpired, &["0s ago"]),
            (Code::TokenNotRotated, &["6400s lifetime"]),
        ],
    );
    check(
        "nbf in the future",
        |f| f.claims().not_before = Some(NOW + 120),
        &[(
            Code::TokenNotYetValid,
            &["nbf 2026-11-23T10:02:00Z is 120s ahead"],
        )],
    );
    check(
        "iat in the future",
        |f| f.claims().issued_at = Some(NOW + 300),
        &[(Code::TokenNotYetValid, &["iat", "300s ahead"])],
    );
    check(
        "within skew allowance",
        |f| {
            f.claims().not_before = Some(NOW + 60);
            f.claims().issued_at = Some(NOW + 60);
        },
        &[],
    );
    // 24 h token issued 23.5 h ago: past the 19.2 h refresh point, 30 min left.
    check(
        "expiring soon and not rotated",
        |f| {
            f.snapshot
                .token
                .apply(Ok((token(NOW - 84_600, 86_400), 2)), at(NOW));
        },
        &[
            (
                Code::TokenExpiringSoon,
                &["in 1800s", "within --expiry-warning 3600s"],
            ),
            (
                Code::TokenNotRotated,
                &["should have been refreshed by the kubelet at 2026-11-23T05:42:00Z"],
            ),
        ],
    );
    // A 1 h token is always inside the 1 h window; before its refresh point that is by design.
    check(
        "short-lived token before refresh point",
        |f| {
            f.snapshot
                .token
                .apply(Ok((token(NOW - 600, 3600), 2)), at(NOW));
        },
        &[],
    );
    check(
        "short-lived token past refresh point",
        |f| {
            f.snapshot
                .token
                .apply(Ok((token(NOW - 3000, 3600), 2)), at(NOW));
        },
        &[(Code::TokenExpiringSoon, &["in 600s"])],
    );
    // Refresh point 19.2 h; 5 min late is within the 10 min grace, 11 min is not.
    check(
        "rotation late within grace",
        |f| {
            f.snapshot
                .token
                .apply(Ok((token(NOW - 69_420, 86_400), 2)), at(NOW));
        },
        &[],
    );
    check(
        "rotation stalled",
        |f| {
            f.snapshot
                .token
                .apply(Ok((token(NOW - 69_780, 86_400), 2)), at(NOW));
        },
        &[(Code::TokenNotRotated, &["660s overdue", "86400s lifetime"])],
    );
    // A 48 h token is refreshed at 24 h, not 38.4 h.
    check(
        "24h cap on refresh age",
        |f| {
            f.snapshot
                .token
                .apply(Ok((token(NOW - 87_100, 172_800), 2)), at(NOW));
        },
        &[(Code::TokenNotRotated, &["700s overdue"])],
    );
    check(
        "audience mismatch",
        |f| f.claims().audiences = vec!["api".into()],
        &[(
            Code::AudienceMismatch,
            &[
                "token audience [\"api\"] does not contain sts.amazonaws.com",
                "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:aud",
                "eks.amazonaws.com/audience",
            ],
        )],
    );
    check(
        "no audience",
        |f| f.claims().audiences = vec![],
        &[(Code::AudienceMismatch, &["token audience []"])],
    );
    check(
        "audience among several",
        |f| f.claims().audiences = vec!["api".into(), "sts.amazonaws.com".into()],
        &[],
    );
    check(
        "subject mismatch",
        |f| f.claims().subject = Some("system:serviceaccount:demo:default".into()),
        &[(
            Code::SubjectMismatch,
            &[
                "system:serviceaccount:demo:default differs from the expected system:serviceaccount:demo:demo-sa",
                ":sub",
            ],
        )],
    );
    check(
        "no subject",
        |f| f.claims().subject = None,
        &[(Code::SubjectMismatch, &["no sub claim"])],
    );
    check(
        "no expected subject configured",
        |f| {
            f.config.expected_subject = None;
            f.claims().subject = Some("x".into());
        },
        &[],
    );
    check(
        "hostile timestamps do not panic",
        |f| {
            f.claims().expires_at = Some(i64::MIN);
            f.claims().issued_at = Some(i64::MAX);
            f.claims().not_before = None;
        },
        &[
            (Code::TokenExpired, &["Unix seconds"]),
            (Code::TokenNotYetValid, &["Unix seconds"]),
        ],
    );
}

#[test]
fn live_probe_cases() {
    check(
        "access denied",
        |f| {
            f.sts_error(
                StsFailure::Rejected,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            )
        },
        &[(
            Code::StsAssumeFailed,
            &[
                "AccessDenied: Not authorized",
                "3 attempt(s)",
                "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub",
            ],
        )],
    );
    check(
        "no oidc provider",
        |f| {
            f.sts_error(StsFailure::Rejected, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE")
        },
        &[(Code::StsAssumeFailed, &["create the IAM OIDC provider"])],
    );
    check(
        "throttled",
        |f| f.sts_error(StsFailure::Throttled, "Throttling", "Rate exceeded"),
        &[(
            Code::StsThrottled,
            &["Throttling: Rate exceeded", "backs off"],
        )],
    );
    check(
        "unreachable",
        |f| {
            f.sts_error(StsFailure::Unreachable, "Timeout", "no answer within 10s");
        },
        &[(
            Code::StsUnreachable,
            &[
                "Timeout: no answer within 10s",
                "https://sts.us-east-1.amazonaws.com",
            ],
        )],
    );
    check(
        "role mismatch",
        |f| {
            f.snapshot.sts.caller_arn =
                Some("arn:aws:sts::999999999999:assumed-role/other/s".into())
        },
        &[(
            Code::RoleMismatch,
            &["arn:aws:sts::999999999999:assumed-role/other/s", ROLE],
        )],
    );
    check(
        "role with a path still matches",
        |f| f.config.role_arn = Some("arn:aws:iam::111122223333:role/team/demo".into()),
        &[],
    );
    check(
        "node role via IMDS",
        |f| {
            f.snapshot.chain.provider = Some("IMDSv2".into());
            f.snapshot.chain.caller_arn =
                Some("arn:aws:sts::111122223333:assumed-role/eks-node/i-0123456789abcdef0".into());
        },
        &[(
            Code::NodeRoleFallback,
            &["assumed-role/eks-node/i-0123456789abcdef0", "IMDSv2"],
        )],
    );
    check(
        "node session name alone",
        |f| f.snapshot.chain.caller_arn = Some("arn:aws:sts::1:assumed-role/n/i-0abc".into()),
        &[(Code::NodeRoleFallback, &["i-0abc"])],
    );
    check(
        "imds v1 only",
        |f| f.snapshot.chain.imds_v1_reachable = Some(true),
        &[(
            Code::ImdsReachable,
            &["IMDSv2 token PUT: not reachable; IMDSv1 credentials GET: reachable"],
        )],
    );
    check(
        "imds not checked",
        |f| {
            f.snapshot.chain.imds_v1_reachable = None;
            f.snapshot.chain.imds_v2_reachable = None;
        },
        &[],
    );
    check(
        "clock ahead",
        |f| f.snapshot.sts.clock_skew_seconds = Some(95.0),
        &[(Code::ClockSkew, &["95s ahead of"])],
    );
    check(
        "clock behind",
        |f| f.snapshot.sts.clock_skew_seconds = Some(-61.0),
        &[(Code::ClockSkew, &["61s behind"])],
    );
}

#[test]
fn signature_cases() {
    use crate::snapshot::Signature;
    use crate::snapshot::SignatureSnapshot;
    let sig = |result: Signature, fingerprint: u64| {
        move |f: &mut Fixture| {
            f.snapshot.signature = SignatureSnapshot {
                fingerprint: Some(fingerprint),
                result: Some(result),
            }
        }
    };
    check(
        "verified",
        sig(
            Signature::Verified {
                key_id: "abc".into(),
            },
            1,
        ),
        &[],
    );
    check(
        "invalid",
        sig(
            Signature::Invalid {
                reason: "the issuer publishes no key with kid abc (keys: new)".into(),
            },
            1,
        ),
        &[(
            Code::TokenSignatureInvalid,
            &["no key with kid abc", ISSUER, "projected volume"],
        )],
    );
    check(
        "discovery failed is info",
        sig(
            Signature::Unchecked {
                reason: "http://x: no answer within 3s".into(),
            },
            1,
        ),
        &[(
            Code::OidcDiscoveryFailed,
            &["no answer within 3s", "--oidc-discovery-url"],
        )],
    );
    check(
        "a check of an older token says nothing",
        sig(
            Signature::Invalid {
                reason: "old".into(),
            },
            99,
        ),
        &[],
    );
}

/// The standard EKS trust policy for `host`, pinning `sub` with `op` to `sub`.
fn policy(host: &str, op: &str, sub: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Irsa",
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::111122223333:oidc-provider/{host}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {op: {format!("{host}:sub"): sub, format!("{host}:aud"): "sts.amazonaws.com"}}
        }]
    })
    .to_string()
}

#[test]
fn trust_policy_cases() {
    let host = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
    let with = |text: String| {
        move |f: &mut Fixture| {
            f.snapshot.trust_policy.source = Some("file /etc/irsa/trust-policy.json".into());
            f.snapshot.trust_policy.policy = Some(
                crate::trust_policy::parse(&text)
                    .map(std::sync::Arc::new)
                    .map_err(|e| e.to_string()),
            );
        }
    };
    check("allowed", with(policy(host, "StringEquals", SUB)), &[]);
    check(
        "wildcard with StringLike",
        with(policy(host, "StringLike", "system:serviceaccount:demo:*")),
        &[],
    );
    check(
        "sub denied",
        with(policy(
            host,
            "StringEquals",
            "system:serviceaccount:payments:s3-backup",
        )),
        &[(
            Code::TrustPolicyDenies,
            &[
                "file /etc/irsa/trust-policy.json would not allow this token",
                "statement \"Irsa\": StringEquals oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub expected system:serviceaccount:payments:s3-backup, token has system:serviceaccount:demo:demo-sa",
            ],
        )],
    );
    check(
        "wildcard in StringEquals is literal",
        with(policy(host, "StringEquals", "system:serviceaccount:demo:*")),
        &[(Code::TrustPolicyDenies, &["StringEquals", "use StringLike"])],
    );
    check(
        "policy for another cluster",
        with(policy(
            "oidc.eks.us-east-1.amazonaws.com/id/OTHER",
            "StringEquals",
            SUB,
        )),
        &[(
            Code::IssuerMismatch,
            &[
                "no statement of file /etc/irsa/trust-policy.json trusts this token's issuer https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
                "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OTHER",
                "oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
            ],
        )],
    );
    check(
        "unparseable policy raises nothing by itself",
        |f: &mut Fixture| {
            f.snapshot.trust_policy.policy = Some(Err("not JSON".into()));
        },
        &[],
    );
    check(
        "no token, no verdict",
        |f: &mut Fixture| {
            with(policy(host, "StringEquals", "x"))(f);
            f.snapshot.token = Default::default();
        },
        &[],
    );
}

/// A pod using EKS Pod Identity: its env, config and agent state.
fn with_pod_identity(f: &mut Fixture) {
    use crate::config::{NamedToken, PodIdentityConfig};
    f.env.container_credentials_uri = Some("http://169.254.170.23/v1/credentials".into());
    f.env.container_token_file = Some(
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token".into(),
    );
    let path = std::path::PathBuf::from(f.env.container_token_file.clone().unwrap());
    f.config.pod_identity = Some(PodIdentityConfig {
        endpoint: "http://169.254.170.23/v1/credentials".into(),
        token_file: path.clone(),
    });
    f.config.extra_tokens = vec![NamedToken {
        name: "pod_identity".into(),
        path,
        expected_audience: Some("pods.eks.amazonaws.com".into()),
    }];
    let mut t = token(NOW - 600, 86_400);
    t.claims.audiences = vec!["pods.eks.amazonaws.com".into()];
    let mut snap = crate::snapshot::TokenSnapshot::default();
    snap.apply(Ok((t, 7)), at(NOW - 600));
    f.snapshot.extra_tokens = vec![snap];
}

fn pod_identity_only(f: &mut Fixture) {
    with_pod_identity(f);
    f.env.role_arn = None;
    f.env.token_file = None;
    f.config.role_arn = None;
    f.config.irsa_token = false;
    f.snapshot.token = Default::default();
    f.snapshot.sts = Default::default();
    f.snapshot.chain.provider = Some("EcsContainer".into());
}

#[test]
fn pod_identity_cases() {
    use crate::snapshot::AgentFailure;
    let agent = |failure: AgentFailure, status: Option<u16>, msg: &'static str| {
        move |f: &mut Fixture| {
            pod_identity_only(f);
            let p = &mut f.snapshot.pod_identity;
            p.endpoint = Some("http://169.254.170.23/v1/credentials".into());
            p.result = StsResult::Error;
            p.failure = Some(failure);
            p.http_status = status;
            p.error_message = Some(msg.into());
            p.consecutive_failures = 2;
        }
    };
    check(
        "pod identity alone raises no IRSA findings",
        pod_identity_only,
        &[],
    );
    check(
        "agent unreachable",
        agent(AgentFailure::Unreachable, None, "no answer within 2s"),
        &[(
            Code::PodIdentityAgentUnreachable,
            &[
                "no answer within 2s",
                "2 attempt(s)",
                "eks-pod-identity-agent",
            ],
        )],
    );
    check(
        "agent denies",
        agent(AgentFailure::Denied, Some(400), "Invalid token: expired"),
        &[(
            Code::PodIdentityDenied,
            &[
                "HTTP 400: Invalid token: expired",
                "list-pod-identity-associations",
            ],
        )],
    );
    check(
        "agent fails",
        agent(AgentFailure::AgentError, Some(500), "internal error"),
        &[(
            Code::PodIdentityAgentError,
            &["HTTP 500: internal error", "EKS Auth"],
        )],
    );
    check(
        "both mechanisms",
        with_pod_identity,
        &[(
            Code::BothIdentityMechanisms,
            &["both configured", "gets the IRSA role", ROLE],
        )],
    );
    check(
        "pod identity token with the wrong audience",
        |f: &mut Fixture| {
            pod_identity_only(f);
            if let crate::snapshot::TokenState::Loaded(d) = &mut f.snapshot.extra_tokens[0].state {
                d.claims.audiences = vec!["sts.amazonaws.com".into()];
            }
        },
        &[(
            Code::AudienceMismatch,
            &[
                "[pod_identity token] audience [\"sts.amazonaws.com\"] does not contain pods.eks.amazonaws.com",
            ],
        )],
    );
    check(
        "pod identity token missing",
        |f: &mut Fixture| {
            pod_identity_only(f);
            f.snapshot.extra_tokens[0].apply(Err(ReadError::Missing { path: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token".into() }), at(NOW));
        },
        &[(
            Code::TokenFileMissing,
            &["[pod_identity token] token file /var/run/secrets/pods.eks.amazonaws.com"],
        )],
    );
}

#[test]
fn proxy_cases() {
    let proxy = |no_proxy: Option<&'static str>| {
        move |f: &mut Fixture| {
            f.env.proxy_vars = vec!["HTTPS_PROXY"];
            f.env.no_proxy = no_proxy.map(str::to_owned);
        }
    };
    check(
        "proxy without NO_PROXY",
        proxy(None),
        &[(
            Code::ProxyInterceptsCredentials,
            &[
                "HTTPS_PROXY set, and NO_PROXY (unset) does not cover 169.254.170.23, fd00:ec2::23, 169.254.169.254",
            ],
        )],
    );
    check(
        "NO_PROXY covers part",
        proxy(Some("localhost,169.254.169.254")),
        &[(
            Code::ProxyInterceptsCredentials,
            &["does not cover 169.254.170.23, fd00:ec2::23"],
        )],
    );
    check(
        "NO_PROXY covers all",
        proxy(Some("169.254.170.23, [fd00:ec2::23],169.254.169.254,.svc")),
        &[],
    );
    check("NO_PROXY star", proxy(Some("*")), &[]);
    check("no proxy at all", |_| {}, &[]);
}

#[test]
fn warnafter_cases() {
    let kube_api = |warn_after: i64| {
        move |f: &mut Fixture| {
            let mut t = token(NOW - 4000, 31_536_000);
            t.claims.audiences = vec!["https://kubernetes.default.svc".into()];
            t.claims.kubernetes.warn_after = Some(warn_after);
            let mut snap = crate::snapshot::TokenSnapshot::default();
            snap.apply(Ok((t, 9)), at(NOW - 4000));
            f.config.extra_tokens = vec![crate::config::NamedToken {
                name: "kube_api".into(),
                path: "/var/run/secrets/kubernetes.io/serviceaccount/token".into(),
                expected_audience: None,
            }];
            f.snapshot.extra_tokens = vec![snap];
        }
    };
    check(
        "kube api token past warnafter",
        kube_api(NOW - 393),
        &[(
            Code::TokenStaleWarnafter,
            &[
                "[kube_api token] now is 393s past its warnafter",
                "stale-token",
            ],
        )],
    );
    check("kube api token before warnafter", kube_api(NOW + 100), &[]);
}

#[test]
fn sorted_worst_first_and_status() {
    let mut fx = healthy();
    fx.env.sts_regional_endpoints = None;
    fx.env.static_sources = vec![StaticSource::EnvProfile("x".into())];
    fx.claims().audiences = vec![];
    let got = fx.findings();
    let sev: Vec<Severity> = got.iter().map(|f| f.severity).collect();
    assert_eq!(
        sev,
        vec![Severity::Critical, Severity::Warning, Severity::Info]
    );
    assert_eq!(Status::of(&got), Status::Critical);
    assert_eq!(Status::of(&got[1..]), Status::Warning);
    assert_eq!(Status::of(&got[2..]), Status::Ok, "info alone is ok");
    assert_eq!(Status::of(&[]).exit_code(), 0);
    assert_eq!(Status::Critical.exit_code(), 2);
}

#[test]
fn every_spec_code_has_its_spec_severity() {
    let want = [
        ("IRSA_ENV_MISSING", "critical"),
        ("TOKEN_FILE_MISSING", "critical"),
        ("TOKEN_UNREADABLE", "critical"),
        ("TOKEN_MALFORMED", "critical"),
        ("TOKEN_EXPIRED", "critical"),
        ("TOKEN_NOT_YET_VALID", "critical"),
        ("TOKEN_EXPIRING_SOON", "warning"),
        ("TOKEN_NOT_ROTATED", "warning"),
        ("AUDIENCE_MISMATCH", "critical"),
        ("SUBJECT_MISMATCH", "critical"),
        ("TRUST_POLICY_DENIES", "critical"),
        ("ISSUER_MISMATCH", "critical"),
        ("STS_ASSUME_FAILED", "critical"),
        ("STS_UNREACHABLE", "critical"),
        ("STS_THROTTLED", "warning"),
        ("ROLE_MISMATCH", "critical"),
        ("STATIC_CREDENTIALS_SHADOW", "warning"),
        ("NODE_ROLE_FALLBACK", "critical"),
        ("IMDS_REACHABLE", "warning"),
        ("GLOBAL_STS_ENDPOINT", "info"),
        ("CLOCK_SKEW", "warning"),
        // Added by the signature-verification issue (to be added to SPEC.md section 5).
        ("TOKEN_SIGNATURE_INVALID", "critical"),
        ("OIDC_DISCOVERY_FAILED", "info"),
        // Added by the Pod Identity / multiple tokens issue (to be added to SPEC.md section 5).
        ("POD_IDENTITY_AGENT_UNREACHABLE", "critical"),
        ("POD_IDENTITY_DENIED", "critical"),
        ("POD_IDENTITY_AGENT_ERROR", "critical"),
        ("BOTH_IDENTITY_MECHANISMS", "warning"),
        ("PROXY_INTERCEPTS_CREDENTIALS", "warning"),
        ("TOKEN_STALE_WARNAFTER", "warning"),
        // issue 14 (--expect-access), SPEC section 5.
        ("ACCESS_NOT_ALLOWED", "critical"),
        ("ACCESS_UNVERIFIED", "info"),
    ];
    let got: Vec<(&str, &str)> = Code::ALL
        .iter()
        .map(|c| (c.as_str(), c.severity().as_str()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn arn_helpers() {
    assert_eq!(role_identity(ROLE), Some(("111122223333", "demo")));
    assert_eq!(role_identity("arn:aws:iam::1:role/a/b/c"), Some(("1", "c")));
    assert_eq!(
        role_identity("arn:aws:sts::1:assumed-role/c/sess"),
        Some(("1", "c"))
    );
    assert_eq!(role_identity("arn:aws:sts::1:user/moto"), None);
    assert_eq!(role_identity("nonsense"), None);
    assert!(is_node_role_session(
        "arn:aws:sts::1:assumed-role/n/i-0123abcd"
    ));
    assert!(!is_node_role_session(
        "arn:aws:sts::1:assumed-role/n/irsa-doctor-web"
    ));
    assert!(!is_node_role_session("arn:aws:sts::1:assumed-role/n/i-"));
    assert_eq!(refresh_point(0, 86_400), 69_120);
    assert_eq!(refresh_point(0, 172_800), 86_400);
    assert_eq!(
        refresh_point(100, 50),
        100,
        "negative lifetime does not move it back"
    );
}

/// Fuzzer regression (fuzz/regressions/token/expiring-soon-exp-minus-now-overflow): time
/// arithmetic on attacker-shaped claims must saturate, whatever the clock says.
#[test]
fn extreme_claims_and_clocks_do_not_overflow() {
    let mut fx = healthy();
    fx.claims().expires_at = Some(i64::MAX);
    fx.claims().issued_at = Some(i64::MIN);
    fx.claims().not_before = Some(i64::MIN);
    let before_epoch = std::time::UNIX_EPOCH - std::time::Duration::from_secs(4_000_000_000);
    for now in [at(NOW), before_epoch] {
        let found = evaluate(&Context {
            now,
            ..fx.context()
        });
        assert!(
            found.iter().all(|f| f.code != Code::TokenExpired),
            "{found:#?}"
        );
    }
}
