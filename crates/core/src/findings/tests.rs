use super::*;
use crate::environment::StaticSource;
use crate::fixtures::*;
use crate::snapshot::{StsFailure, StsResult};
use crate::token::MalformedToken;
use crate::token::ReadError;

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
        "short-lived token within the kubelet's refresh lag",
        |f| {
            // Refresh point NOW-110: the kubelet may take up to ~100 s (SPEC 5 allows 120).
            f.snapshot
                .token
                .apply(Ok((token(NOW - 2990, 3600), 2)), at(NOW));
        },
        &[],
    );
    check(
        "short-lived token past refresh point and lag",
        |f| {
            f.snapshot
                .token
                .apply(Ok((token(NOW - 3100, 3600), 2)), at(NOW));
        },
        &[(Code::TokenExpiringSoon, &["in 500s"])],
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

/// Issue 12: one row per healthy configuration that must stay quiet, and per real interception.
#[test]
fn proxy_cases() {
    type Setup = fn(&mut Fixture);
    let proxy = |vars: &'static [&'static str], no_proxy: Option<&'static str>, setup: Setup| {
        move |f: &mut Fixture| {
            setup(f);
            f.env.proxy_vars = vars.to_vec();
            f.env.no_proxy = no_proxy.map(str::to_owned);
        }
    };
    let irsa: Setup = |_| {};
    let pi: Setup = pod_identity_only;
    let pi6: Setup = |f| {
        pod_identity_only(f);
        f.env.container_credentials_uri = Some("http://[fd00:ec2::23]/v1/credentials".into());
    };
    let no_region: Setup = |f| f.env.region = None;
    let no_region_in_profile: Setup = |f| {
        f.env.region = None;
        f.env.profile_region = Some("eu-west-1".into());
    };
    let no_region_imds_off: Setup = |f| {
        f.env.region = None;
        f.env.imds_disabled = true;
    };
    let both: Setup = with_pod_identity;
    const H: &[&str] = &["HTTP_PROXY"];
    const HS: &[&str] = &["HTTPS_PROXY"];
    const ALL: &[&str] = &["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];
    let quiet: &[(&str, &[&str], Option<&str>, Setup)] = &[
        (
            "IRSA pod, HTTPS_PROXY, no NO_PROXY: IRSA never calls IMDS or the agent",
            HS,
            None,
            irsa,
        ),
        (
            "IRSA pod, every proxy variable, no NO_PROXY",
            ALL,
            None,
            irsa,
        ),
        (
            "Pod Identity, HTTPS_PROXY only: plain-http agent is not proxied",
            HS,
            None,
            pi,
        ),
        (
            "Pod Identity, CIDR blocks",
            H,
            Some("169.254.0.0/16,fd00:ec2::/64"),
            pi,
        ),
        (
            "Pod Identity over IPv6, CIDR blocks",
            H,
            Some("169.254.0.0/16,fd00:ec2::/64"),
            pi6,
        ),
        (
            "Pod Identity over IPv6, bracketed entry",
            H,
            Some("[fd00:ec2::23]"),
            pi6,
        ),
        (
            "Pod Identity, .amazonaws.com suffix plus the agent",
            H,
            Some(".amazonaws.com, 169.254.170.23"),
            pi,
        ),
        (
            "Pod Identity, lowercase variables",
            &["http_proxy"],
            Some("169.254.170.23"),
            pi,
        ),
        ("Pod Identity, star", H, Some("*"), pi),
        (
            "Pod Identity, host:port entry",
            H,
            Some("169.254.170.23:80"),
            pi,
        ),
        (
            "no region, IMDS in NO_PROXY",
            H,
            Some("169.254.169.254"),
            no_region,
        ),
        (
            "region from the profile: IMDS not needed",
            H,
            None,
            no_region_in_profile,
        ),
        ("no region, but IMDS disabled", H, None, no_region_imds_off),
        (
            "both mechanisms: web identity answers, agent unused",
            H,
            None,
            both,
        ),
    ];
    for (name, vars, no_proxy, setup) in quiet {
        let mut fx = healthy();
        proxy(vars, *no_proxy, *setup)(&mut fx);
        let codes: Vec<Code> = fx.findings().iter().map(|f| f.code).collect();
        assert!(
            !codes.contains(&Code::ProxyInterceptsCredentials),
            "{name}: {codes:?}"
        );
    }
    check(
        "Pod Identity, HTTP_PROXY, no NO_PROXY",
        proxy(H, None, pi),
        &[(
            Code::ProxyInterceptsCredentials,
            &[
                "HTTP_PROXY set, and NO_PROXY (unset) does not cover the EKS Pod Identity agent (http://169.254.170.23/v1/credentials)",
                "add 169.254.170.23 to both NO_PROXY and no_proxy",
            ],
        )],
    );
    check(
        "Pod Identity over IPv6, NO_PROXY misses it",
        proxy(
            &["HTTPS_PROXY", "http_proxy"],
            Some("localhost,169.254.0.0/16"),
            pi6,
        ),
        &[(
            Code::ProxyInterceptsCredentials,
            &[
                "http_proxy set, and NO_PROXY (localhost,169.254.0.0/16) does not cover the EKS Pod Identity agent (http://[fd00:ec2::23]/v1/credentials)",
                "add fd00:ec2::23,[fd00:ec2::23] to",
            ],
        )],
    );
    check(
        "Pod Identity, port-specific entry for another port",
        proxy(H, Some("169.254.170.23:8080"), pi),
        &[(Code::ProxyInterceptsCredentials, &["169.254.170.23"])],
    );
    check(
        "no region: the SDK asks IMDS through the proxy",
        proxy(H, Some(".svc"), no_region),
        &[(
            Code::ProxyInterceptsCredentials,
            &["does not cover IMDS (http://169.254.169.254)"],
        )],
    );
    check(
        "no identity at all: the chain falls through to IMDS",
        proxy(ALL, None, |f| {
            f.env.role_arn = None;
            f.env.token_file = None;
        }),
        &[
            (Code::IrsaEnvMissing, &[]),
            (
                Code::ProxyInterceptsCredentials,
                &[
                    "HTTP_PROXY and http_proxy set",
                    "IMDS (http://169.254.169.254)",
                ],
            ),
        ],
    );
    check(
        "agent and IMDS both intercepted: each variable named once",
        proxy(&["HTTP_PROXY", "http_proxy"], None, |f| {
            pod_identity_only(f);
            f.env.region = None;
        }),
        &[(
            Code::ProxyInterceptsCredentials,
            &[
                "HTTP_PROXY and http_proxy set, and NO_PROXY (unset) does not cover the EKS Pod Identity agent (http://169.254.170.23/v1/credentials), IMDS (http://169.254.169.254)",
                "add 169.254.170.23,169.254.169.254 to",
            ],
        )],
    );
    check("no proxy at all", |_| {}, &[]);
}

/// Issue 12: the chain as the SDK sees it decides `STATIC_CREDENTIALS_SHADOW`.
#[test]
fn shadow_cases() {
    check(
        "a profile pinning web identity shadows nothing",
        |f| f.env.profile_web_identity_role = Some(ROLE.into()),
        &[],
    );
    check(
        "default profile keys with IRSA: SDKs differ, say so",
        |f| {
            f.env.static_sources = vec![StaticSource::ProfileKeys {
                profile: "default".into(),
                keys: vec!["aws_access_key_id".into()],
            }]
        },
        &[(
            Code::StaticCredentialsShadow,
            &["profile [default]", "botocore reads AWS_ROLE_ARN"],
        )],
    );
    check(
        "nothing to shadow without web identity or Pod Identity",
        |f| {
            f.env.role_arn = None;
            f.env.token_file = None;
            f.env.static_sources = vec![StaticSource::EnvKeys(vec!["AWS_ACCESS_KEY_ID"])];
        },
        &[(Code::IrsaEnvMissing, &[])],
    );
    check(
        "env keys shadow Pod Identity too",
        |f| {
            pod_identity_only(f);
            f.env.static_sources = vec![StaticSource::EnvKeys(vec!["AWS_ACCESS_KEY_ID"])];
        },
        &[(
            Code::StaticCredentialsShadow,
            &["AWS_ACCESS_KEY_ID in the environment"],
        )],
    );
}

/// Issue 12: the partition of AWS_ROLE_ARN (else the region) decides texts and the global-endpoint note.
#[test]
fn partition_cases() {
    let cn_role = "arn:aws-cn:iam::111122223333:role/demo";
    let gov_role = "arn:aws-us-gov:iam::111122223333:role/demo";
    let in_partition = |role: &'static str, region: &'static str| {
        move |f: &mut Fixture| {
            f.env.role_arn = Some(role.into());
            f.config.role_arn = Some(role.into());
            f.env.region = Some(region.into());
            f.snapshot.sts.caller_arn = None;
        }
    };
    for (name, role, region) in [
        ("aws-cn", cn_role, "cn-north-1"),
        ("aws-us-gov", gov_role, "us-gov-west-1"),
    ] {
        let mut fx = healthy();
        in_partition(role, region)(&mut fx);
        fx.env.sts_regional_endpoints = None;
        assert_eq!(fx.findings(), vec![], "{name}: no global endpoint there");
    }
    let mut fx = healthy();
    fx.env.role_arn = None;
    fx.config.role_arn = None;
    fx.env.region = Some("cn-northwest-1".into());
    fx.env.sts_regional_endpoints = None;
    assert!(
        !fx.findings()
            .iter()
            .any(|f| f.code == Code::GlobalStsEndpoint),
        "no role: the region's partition decides"
    );
    check(
        "aws partition keeps the note, naming the global host",
        |f| f.env.sts_regional_endpoints = None,
        &[(
            Code::GlobalStsEndpoint,
            &["global endpoint sts.amazonaws.com"],
        )],
    );
    let denied = |role: &'static str, region: &'static str| {
        move |f: &mut Fixture| {
            in_partition(role, region)(f);
            f.sts_error(StsFailure::Rejected, "AccessDenied", "Not authorized");
        }
    };
    for (role, region, prefix) in [
        (
            cn_role,
            "cn-north-1",
            "arn:aws-cn:iam::111122223333:oidc-provider/",
        ),
        (
            gov_role,
            "us-gov-east-1",
            "arn:aws-us-gov:iam::111122223333:oidc-provider/",
        ),
        // AccessDenied names the role's own account.
        (
            ROLE,
            "us-east-1",
            "arn:aws:iam::111122223333:oidc-provider/",
        ),
    ] {
        let mut fx = healthy();
        denied(role, region)(&mut fx);
        let f = fx.findings();
        let sts = f.iter().find(|f| f.code == Code::StsAssumeFailed).unwrap();
        assert!(
            sts.remediation.contains(prefix),
            "{role}: {}",
            sts.remediation
        );
        if !prefix.starts_with("arn:aws:") {
            assert!(
                !sts.remediation.contains("arn:aws:"),
                "{role}: {}",
                sts.remediation
            );
        }
    }
    check(
        "issuer mismatch in GovCloud",
        |f: &mut Fixture| {
            in_partition(gov_role, "us-gov-west-1")(f);
            f.snapshot.trust_policy.source = Some("file p.json".into());
            f.snapshot.trust_policy.policy = Some(
                crate::trust_policy::parse(&policy(
                    "oidc.eks.us-gov-west-1.amazonaws.com/id/OTHER",
                    "StringEquals",
                    SUB,
                ))
                .map(std::sync::Arc::new)
                .map_err(|e| e.to_string()),
            );
        },
        &[(
            Code::IssuerMismatch,
            &["arn:aws-us-gov:iam::<account>:oidc-provider/oidc.eks.us-east-1"],
        )],
    );
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

/// `docs/findings.json` is `Code::ALL`: the runbook check and `scripts/validate/ship.py` read
/// it instead of keeping their own copy. `UPDATE_FINDINGS_JSON=1` rewrites it.
#[test]
fn docs_findings_json_is_code_all() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/findings.json");
    let want = catalogue_json();
    if std::env::var_os("UPDATE_FINDINGS_JSON").is_some() {
        std::fs::write(&path, &want).expect("write docs/findings.json");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/findings.json is out of date: run UPDATE_FINDINGS_JSON=1 cargo test -p irsa-doctor-core findings_json"
    );
    let parsed: serde_json::Value = serde_json::from_str(&have).expect("JSON");
    let codes = parsed["findings"].as_array().expect("a list");
    assert_eq!(codes.len(), Code::ALL.len());
    for (entry, code) in codes.iter().zip(Code::ALL) {
        assert_eq!(entry["code"], code.as_str());
        assert_eq!(entry["severity"], code.severity().as_str());
    }
}

#[test]
fn refresh_points() {
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

// --- issue 12: field-true verdicts ------------------------------------------

/// The last test-assume presented exactly the fixture's current token (fingerprint 1).
fn sts_accepted_it(f: &mut Fixture) {
    f.snapshot.sts.token_fingerprint = Some(1);
}

fn with_policy(f: &mut Fixture, text: &str) {
    f.snapshot.trust_policy.source = Some("file /etc/irsa/trust-policy.json".into());
    f.snapshot.trust_policy.policy = Some(
        crate::trust_policy::parse(text)
            .map(std::sync::Arc::new)
            .map_err(|e| e.to_string()),
    );
}

/// A trust policy for the fixture's issuer whose `:aud` condition expects `aud`.
fn policy_with_aud(aud: &str) -> String {
    let host = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Irsa",
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::111122223333:oidc-provider/{host}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {format!("{host}:sub"): SUB, format!("{host}:aud"): aud}}
        }]
    })
    .to_string()
}

fn custom_audience(f: &mut Fixture) {
    f.claims().audiences = vec!["api.example.com".into()];
}

#[test]
fn live_evidence_outranks_inference() {
    let host = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
    check(
        "custom audience that STS accepted with this very token",
        |f| {
            custom_audience(f);
            sts_accepted_it(f);
        },
        &[],
    );
    check(
        "custom audience, STS accepted an earlier token only",
        |f| {
            custom_audience(f);
            f.snapshot.sts.token_fingerprint = Some(7);
        },
        &[(
            Code::AudienceMismatch,
            &["api.example.com", "--expected-audience"],
        )],
    );
    check(
        "custom audience, STS refused it",
        |f| {
            custom_audience(f);
            sts_accepted_it(f);
            f.sts_error(
                StsFailure::Rejected,
                "InvalidIdentityToken",
                "Incorrect token audience",
            );
        },
        &[
            (Code::AudienceMismatch, &["api.example.com"]),
            (Code::StsAssumeFailed, &["Incorrect token audience"]),
        ],
    );
    check(
        "custom audience the trust policy's :aud condition expects",
        |f| {
            custom_audience(f);
            with_policy(f, &policy_with_aud("api.example.com"));
        },
        &[],
    );
    check(
        "trust-policy copy denies, STS accepted: outdated copy",
        |f| {
            with_policy(
                f,
                &policy(
                    host,
                    "StringEquals",
                    "system:serviceaccount:payments:s3-backup",
                ),
            );
            sts_accepted_it(f);
        },
        &[(
            Code::TrustPolicyOutdated,
            &[
                "file /etc/irsa/trust-policy.json would not allow this token",
                "yet STS accepted it",
                "system:serviceaccount:payments:s3-backup",
                "--fetch-trust-policy",
            ],
        )],
    );
    check(
        "trust-policy copy for another issuer, STS accepted: outdated copy",
        |f| {
            with_policy(
                f,
                &policy(
                    "oidc.eks.us-east-1.amazonaws.com/id/OTHER",
                    "StringEquals",
                    SUB,
                ),
            );
            sts_accepted_it(f);
        },
        &[(
            Code::TrustPolicyOutdated,
            &[
                "no statement trusts the token's issuer",
                "yet STS accepted it",
            ],
        )],
    );
    check(
        "signature invalid by our keys, STS accepted: info only",
        |f| {
            f.snapshot.signature = crate::snapshot::SignatureSnapshot {
                fingerprint: Some(1),
                result: Some(crate::snapshot::Signature::Invalid {
                    reason: "the published key abc does not verify the token".into(),
                }),
            };
            sts_accepted_it(f);
        },
        &[(
            Code::OidcDiscoveryFailed,
            &["yet STS accepted it", "does not verify"],
        )],
    );
    // Everything that predicts a refusal at once: only the outdated copy warns.
    let mut fx = healthy();
    custom_audience(&mut fx);
    with_policy(
        &mut fx,
        &policy(
            "oidc.eks.us-east-1.amazonaws.com/id/OTHER",
            "StringEquals",
            SUB,
        ),
    );
    fx.snapshot.signature = crate::snapshot::SignatureSnapshot {
        fingerprint: Some(1),
        result: Some(crate::snapshot::Signature::Invalid {
            reason: "bad".into(),
        }),
    };
    sts_accepted_it(&mut fx);
    let loud: Vec<Code> = fx
        .findings()
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| f.code)
        .collect();
    assert_eq!(loud, vec![Code::TrustPolicyOutdated]);
}

fn no_region(f: &mut Fixture) {
    f.env.region = None;
    f.snapshot.region = crate::snapshot::RegionSnapshot {
        checked: true,
        region: None,
    };
}

#[test]
fn region_cases() {
    check(
        "no region anywhere",
        no_region,
        &[(
            Code::RegionMissing,
            &["AWS_REGION", "--aws-default-region", "[f12]"],
        )],
    );
    check(
        "region from the profile or IMDS",
        |f| {
            no_region(f);
            f.snapshot.region.region = Some("eu-west-1".into());
        },
        &[],
    );
    check(
        "SDK configuration not loaded yet",
        |f| {
            no_region(f);
            f.snapshot.region.checked = false;
        },
        &[],
    );
    check(
        "a Pod Identity pod needs no region for its credentials",
        |f| {
            pod_identity_only(f);
            no_region(f);
        },
        &[],
    );
    // The STS failure that follows names the region, not the network (SPEC order puts the
    // STS code first; its text points at REGION_MISSING).
    for (failure, code, want) in [
        (StsFailure::Unreachable, "Unreachable", Code::StsUnreachable),
        (
            StsFailure::Rejected,
            "InvalidRequest",
            Code::StsAssumeFailed,
        ),
    ] {
        let mut fx = healthy();
        no_region(&mut fx);
        fx.sts_error(failure, code, "failed to construct request: no region");
        let got = fx.findings();
        let codes: Vec<Code> = got.iter().map(|f| f.code).collect();
        assert_eq!(codes, vec![want, Code::RegionMissing], "{got:#?}");
        let sts = &got[0];
        assert!(sts.message.contains("no region is configured"), "{sts:#?}");
        for blame in ["DNS", "egress", "NetworkPolicy", "trust policy"] {
            assert!(
                !sts.message.contains(blame) && !sts.remediation.contains(blame),
                "{code}: blames {blame}: {sts:#?}"
            );
        }
    }
}

fn role_in(f: &mut Fixture, arn: &str) {
    f.env.role_arn = Some(arn.into());
    f.config.role_arn = Some(arn.into());
}

#[test]
fn remediation_cases() {
    check(
        "AccessDenied names a missing role and the wrong account",
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
                "arn:aws:iam::111122223333:oidc-provider/",
                "role does not exist",
                "wrong account",
                "get-role --role-name demo in account 111122223333",
            ],
        )],
    );
    check(
        "aws-cn AccessDenied",
        |f| {
            role_in(f, "arn:aws-cn:iam::111122223333:role/demo");
            f.sts_error(StsFailure::Rejected, "AccessDenied", "Not authorized");
        },
        &[(
            Code::StsAssumeFailed,
            &["arn:aws-cn:iam::111122223333:oidc-provider/"],
        )],
    );
    check(
        "No OpenIDConnect provider may be STS deactivated in the region",
        |f| {
            f.sts_error(
                StsFailure::Rejected,
                "InvalidIdentityToken",
                "No OpenIDConnect provider found in your account for https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
            )
        },
        &[(
            Code::StsAssumeFailed,
            &[
                "create the IAM OIDC provider",
                "deactivated STS in this region",
                "[f1]",
            ],
        )],
    );
    check(
        "IRSA env missing hints at the annotation typo",
        |f| {
            f.env.role_arn = None;
            f.config.role_arn = None;
        },
        &[(
            Code::IrsaEnvMissing,
            &[
                "eks.amazonaws.com/role-arn: arn:aws:iam::<account>:role/<name>",
                "eks.amazon.com/role-arn",
                "Pod Identity association",
            ],
        )],
    );
    check(
        "IRSA env missing in aws-us-gov",
        |f| {
            f.env.role_arn = None;
            f.config.role_arn = Some("arn:aws-us-gov:iam::111122223333:role/demo".into());
        },
        &[(
            Code::IrsaEnvMissing,
            &["arn:aws-us-gov:iam::<account>:role/<name>"],
        )],
    );
    check(
        "a pod meant for Pod Identity gets Pod Identity advice",
        |f| {
            f.env.role_arn = None;
            f.env.token_file = None;
            f.config.role_arn = None;
            f.env.container_credentials_uri = Some("http://169.254.170.23/v1/credentials".into());
        },
        &[(
            Code::IrsaEnvMissing,
            &[
                "meant for EKS Pod Identity",
                "create-pod-identity-association",
                "[f5]",
            ],
        )],
    );
    let mut fx = healthy();
    fx.env.role_arn = None;
    fx.env.token_file = None;
    fx.config.role_arn = None;
    fx.env.container_token_file = Some(
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token".into(),
    );
    let pi = fx.findings();
    assert!(
        pi.iter()
            .all(|f| !f.remediation.contains("annotate the pod's ServiceAccount")),
        "no IRSA advice for a Pod Identity pod: {pi:#?}"
    );
    // 5xx and unknown codes do not blame the trust policy.
    for code in ["InternalFailure", "ServiceUnavailable", "SomethingNew"] {
        let mut fx = healthy();
        fx.sts_error(
            StsFailure::Rejected,
            code,
            "We encountered an internal error",
        );
        let got = fx.findings();
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            !got[0].remediation.contains("trust policy"),
            "{code}: {:#?}",
            got[0]
        );
    }
}

/// Every remediation follows the partition of AWS_ROLE_ARN: none says `arn:aws:` in aws-cn.
#[test]
fn no_remediation_hard_codes_the_aws_partition() {
    let cn = "arn:aws-cn:iam::111122223333:role/demo";
    type Breaker = Box<dyn Fn(&mut Fixture)>;
    let breakers: Vec<(&str, Breaker)> = vec![
        (
            "access denied",
            Box::new(|f| f.sts_error(StsFailure::Rejected, "AccessDenied", "x")),
        ),
        (
            "bad parameters",
            Box::new(|f| f.sts_error(StsFailure::Rejected, "ValidationError", "x")),
        ),
        ("irsa env", Box::new(|f| f.env.role_arn = None)),
        (
            "issuer mismatch",
            Box::new(|f| {
                with_policy(
                    f,
                    &policy(
                        "oidc.eks.cn-north-1.amazonaws.com.cn/id/OTHER",
                        "StringEquals",
                        SUB,
                    ),
                )
            }),
        ),
    ];
    for (name, breaker) in breakers {
        let mut fx = healthy();
        role_in(&mut fx, cn);
        fx.snapshot.sts.assumed_role_arn = None;
        fx.snapshot.sts.caller_arn = None;
        breaker(&mut fx);
        let got = fx.findings();
        assert!(!got.is_empty(), "{name}: nothing raised");
        for f in &got {
            assert!(
                !f.remediation.contains("arn:aws:"),
                "{name}: {:?} says arn:aws: in aws-cn: {}",
                f.code,
                f.remediation
            );
        }
    }
}

/// SPEC 5 refresh lag: over a full rotation cycle of 10-minute, 1-hour and 24-hour tokens
/// with the kubelet on time (the new token written up to 100 s after the refresh point), no
/// second raises anything at warning or above; a stalled kubelet does.
#[test]
fn rotation_cycles_raise_nothing_while_the_kubelet_is_on_time() {
    // (lifetime, --expiry-warning): the 24 h token with a 6 h window, so the window matters.
    for (lifetime, warning) in [(600, 3600), (3600, 3600), (86_400, 6 * 3600)] {
        for lag in [0, 100] {
            let mut fx = healthy();
            fx.config.expiry_warning = std::time::Duration::from_secs(warning);
            let start = NOW;
            let (mut iat, mut fingerprint) = (start, 10);
            fx.snapshot
                .token
                .apply(Ok((token(iat, lifetime), fingerprint)), at(iat));
            // One full cycle, through the first rotation and a little of the next token.
            let end = refresh_point(start, start + lifetime) + lag + 300;
            for now in start..=end {
                if now >= refresh_point(iat, iat + lifetime) + lag {
                    (iat, fingerprint) = (now, fingerprint + 1);
                    fx.snapshot
                        .token
                        .apply(Ok((token(iat, lifetime), fingerprint)), at(now));
                }
                let found = evaluate(&Context {
                    now: at(now),
                    ..fx.context()
                });
                assert!(
                    found.iter().all(|f| f.severity < Severity::Warning),
                    "{lifetime}s token, kubelet {lag}s late, {}s after issue: {found:#?}",
                    now - iat
                );
            }
            assert!(fingerprint > 10, "{lifetime}s token: the cycle rotated");
        }
        // Stalled: no refresh at all. Just past the allowed lag something warns (a 10-minute
        // token's lag reaches its expiry, so it is already TOKEN_EXPIRED).
        let fx = {
            let mut fx = healthy();
            fx.config.expiry_warning = std::time::Duration::from_secs(warning);
            fx.snapshot
                .token
                .apply(Ok((token(NOW, lifetime), 10)), at(NOW));
            fx
        };
        let late = refresh_point(NOW, NOW + lifetime) + REFRESH_LAG_SECS + 1;
        let found = evaluate(&Context {
            now: at(late),
            ..fx.context()
        });
        let want = if lifetime == 600 {
            Code::TokenExpired
        } else {
            Code::TokenExpiringSoon
        };
        assert!(
            found.iter().any(|f| f.code == want),
            "{lifetime}s token, kubelet stalled: {found:#?}"
        );
    }
}
