//! The `--expect-access` family: ACCESS_NOT_ALLOWED and ACCESS_UNVERIFIED.

use std::sync::Arc;

use super::*;
use crate::policy::access::{ExpectedAccess, RolePolicies, Source};
use crate::snapshot::{AccessReadError, AccessReadFailure};

const OBJECT: &str = "arn:aws:s3:::acme-backups/db/x";

/// `--expect-access s3:PutObject=OBJECT --expect-access kms:Decrypt`, and an inline
/// policy `backup` (plus a boundary when given) as last read.
fn expecting(
    statements: &'static str,
    boundary: Option<&'static str>,
) -> impl FnOnce(&mut Fixture) {
    move |f: &mut Fixture| {
        f.config.expect_access = vec![
            ExpectedAccess::parse(&format!("s3:PutObject={OBJECT}")).unwrap(),
            ExpectedAccess::parse("kms:Decrypt").unwrap(),
        ];
        f.snapshot.access.role_arn = Some(ROLE.into());
        f.snapshot.access.policies = Some(Ok(Arc::new(RolePolicies {
            identity: vec![named_policy("backup", Source::Inline, statements)],
            boundary: boundary.map(|b| named_policy("edge", Source::Boundary, b)),
            arn: None,
        })));
    }
}

fn unreadable(failure: AccessReadFailure, message: &'static str) -> impl FnOnce(&mut Fixture) {
    move |f: &mut Fixture| {
        expecting(
            r#"[{"Effect": "Allow", "Action": "*", "Resource": "*"}]"#,
            None,
        )(f);
        f.snapshot.access.policies = Some(Err(AccessReadError {
            failure,
            message: message.into(),
        }));
    }
}

const ALL: &str = r#"[{"Sid": "All", "Effect": "Allow", "Action": ["s3:PutObject", "kms:Decrypt"], "Resource": "*"}]"#;

#[test]
fn access_cases() {
    check("both allowed", expecting(ALL, None), &[]);
    check(
        "one missing: the nearest statement is named",
        expecting(
            r#"[{"Sid": "Put", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]"#,
            None,
        ),
        &[(
            Code::AccessNotAllowed,
            &[
                "kms:Decrypt on * is not allowed",
                "(implicit_deny)",
                "nearest is statement \"Put\"",
                "\"Action\": \"kms:Decrypt\"",
                "POST /debug/probe",
            ],
        )],
    );
    check(
        "explicit deny names the statement and its fix",
        expecting(
            r#"[{"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Sid": "NoPut", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}]"#,
            None,
        ),
        &[(
            Code::AccessNotAllowed,
            &[
                &format!("s3:PutObject on {OBJECT}"),
                "(explicit_deny)",
                "Deny statement NoPut in backup",
            ],
        )],
    );
    check(
        "cut by the permissions boundary",
        expecting(
            ALL,
            Some(r#"[{"Sid": "OnlyS3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]"#),
        ),
        &[(
            Code::AccessNotAllowed,
            &["kms:Decrypt on *", "permissions boundary", "boundary edge"],
        )],
    );
    check(
        "a boundary with no Allow at all: the fix still names it",
        expecting(
            ALL,
            Some(r#"[{"Sid": "NoIam", "Effect": "Deny", "Action": "iam:*", "Resource": "*"}]"#),
        ),
        &[
            (
                Code::AccessNotAllowed,
                &[&format!("s3:PutObject on {OBJECT}"), "to the boundary edge"],
            ),
            (
                Code::AccessNotAllowed,
                &["kms:Decrypt on *", "to the boundary edge"],
            ),
        ],
    );
    check(
        "a condition the pod cannot know is unknown, never a denial",
        expecting(
            r#"[{"Effect": "Allow", "Action": ["s3:PutObject", "kms:Decrypt"], "Resource": "*",
                 "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]"#,
            None,
        ),
        &[],
    );
    check(
        "IAM refused: info, the pod stays ok",
        unreadable(
            AccessReadFailure::Refused,
            "iam:GetRole: AccessDenied: not authorized",
        ),
        &[(
            Code::AccessUnverified,
            &[
                "IAM refused",
                "iam:GetRole: AccessDenied",
                "iam:ListAttachedRolePolicies",
                "unverified, not denied",
            ],
        )],
    );
    check(
        "IAM unreachable",
        unreadable(
            AccessReadFailure::Unreachable,
            "iam:GetRole: Unreachable: dispatch failure: connection refused",
        ),
        &[(
            Code::AccessUnverified,
            &["IAM could not be reached", "AWS_ENDPOINT_URL_IAM"],
        )],
    );
    check(
        "IAM unreachable in aws-cn names that partition's IAM",
        |f: &mut Fixture| {
            unreadable(
                AccessReadFailure::Unreachable,
                "iam:GetRole: Timeout: no answer within 10s",
            )(f);
            f.config.role_arn = Some("arn:aws-cn:iam::111122223333:role/demo".into());
        },
        &[(
            Code::AccessUnverified,
            &[
                "IAM could not be reached",
                "iam.cn-north-1.amazonaws.com.cn",
            ],
        )],
    );
    check(
        "IAM throttled past the SDK's retries",
        unreadable(
            AccessReadFailure::Failed,
            "iam:ListRolePolicies: Throttling: Rate exceeded",
        ),
        &[(
            Code::AccessUnverified,
            &["IAM failed", "Throttling: Rate exceeded", "tries again"],
        )],
    );
    check(
        "a document irsa-doctor cannot parse",
        unreadable(
            AccessReadFailure::Unusable,
            "backup: policy statement #0: \"Effect\" must be \"Allow\" or \"Deny\"",
        ),
        &[(
            Code::AccessUnverified,
            &[
                "could not use IAM's answer",
                "backup: policy statement #0",
                "report it",
            ],
        )],
    );
    check(
        "not read yet: nothing",
        |f: &mut Fixture| {
            expecting(ALL, None)(f);
            f.snapshot.access.policies = None;
        },
        &[],
    );
    check(
        "no --expect-access: nothing, whatever was read",
        |f: &mut Fixture| {
            expecting(
                r#"[{"Effect": "Deny", "Action": "*", "Resource": "*"}]"#,
                None,
            )(f);
            f.config.expect_access.clear();
        },
        &[],
    );
}

#[test]
fn unverified_access_does_not_raise_status() {
    let mut fx = healthy();
    unreadable(AccessReadFailure::Refused, "iam:GetRole: AccessDenied")(&mut fx);
    assert_eq!(Status::of(&fx.findings()), Status::Ok);
}
