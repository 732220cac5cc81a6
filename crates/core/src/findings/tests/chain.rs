//! The environment and credential-chain family: IRSA variables, region, proxy, static
//! credentials, partitions.

use super::*;

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

/// One row per healthy configuration that must stay quiet, and per real interception.
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

/// The chain as the SDK sees it decides `STATIC_CREDENTIALS_SHADOW`.
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

/// The partition of AWS_ROLE_ARN (else the region) decides texts and the global-endpoint note.
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
                crate::policy::trust::parse(&policy(
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
            &[
                "AWS_REGION",
                "--aws-default-region",
                "sdkref/latest/guide/feature-region.html",
            ],
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
    // The STS failure that follows names the region, not the network (`Code::ALL` order puts the
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
