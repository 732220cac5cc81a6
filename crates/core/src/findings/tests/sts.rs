//! The STS family: the live test-assume, its failures and their remediations.

use super::*;

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
                "IAM/latest/UserGuide/id_credentials_temp_enable-regions.html",
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
                "eks/latest/userguide/pod-id-association.html",
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

/// What happened (the `failure` table's class) decides the code here, and only here.
#[test]
fn each_failure_class_raises_one_code() {
    use crate::findings::sts::finding_code;
    let cases = [
        (StsFailure::Rejected, Code::StsAssumeFailed),
        (StsFailure::Throttled, Code::StsThrottled),
        (StsFailure::Unreachable, Code::StsUnreachable),
    ];
    for (class, code) in cases {
        assert_eq!(finding_code(class), code, "{class:?}");
    }
}
