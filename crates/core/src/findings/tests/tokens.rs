//! The token family: files, lifetimes, rotation, `warnafter`.

use super::*;

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
            // Refresh point NOW-110: the kubelet may take up to ~100 s (the finding allows 120).
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

/// The kubelet's refresh lag: over a full rotation cycle of 10-minute, 1-hour and 24-hour tokens
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
