//! The trust family: signature, trust policy, and live evidence over inference.

use super::*;

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

#[test]
fn trust_policy_cases() {
    let host = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
    let with = |text: String| {
        move |f: &mut Fixture| {
            f.snapshot.trust_policy.source = Some("file /etc/irsa/trust-policy.json".into());
            f.snapshot.trust_policy.policy = Some(
                crate::policy::trust::parse(&text)
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
