use super::*;
use crate::token::{Claims, MalformedToken};
use std::time::Duration;

fn decoded(sub: &str) -> Decoded {
    Decoded {
        header: Default::default(),
        raw_claims: Default::default(),
        algorithm: Some("RS256".into()),
        key_id: None,
        claims: Claims {
            subject: Some(sub.into()),
            ..Default::default()
        },
    }
}

#[test]
fn reloads_count_new_tokens_only() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
    let t1 = t0 + Duration::from_secs(30);
    let missing = ReadError::Missing { path: "/t".into() };
    let mut s = TokenSnapshot::default();

    /// (read, expected change, expected reloads, expected loaded_at)
    type Step = (
        Result<(Decoded, u64), ReadError>,
        TokenChange,
        u64,
        Option<SystemTime>,
    );
    let steps: Vec<Step> = vec![
        (
            Err(missing.clone()),
            TokenChange::Failed {
                error: missing.clone(),
                first: true,
            },
            0,
            None,
        ),
        (
            Err(missing.clone()),
            TokenChange::Failed {
                error: missing.clone(),
                first: false,
            },
            0,
            None,
        ),
        (Ok((decoded("a"), 1)), TokenChange::Reloaded, 1, Some(t0)),
        (Ok((decoded("a"), 1)), TokenChange::Unchanged, 1, Some(t0)),
        (
            Err(ReadError::Malformed {
                path: "/t".into(),
                source: MalformedToken::Empty,
            }),
            TokenChange::Failed {
                error: ReadError::Malformed {
                    path: "/t".into(),
                    source: MalformedToken::Empty,
                },
                first: true,
            },
            1,
            Some(t0),
        ),
        (Ok((decoded("a"), 1)), TokenChange::Unchanged, 1, Some(t0)),
        (Ok((decoded("b"), 2)), TokenChange::Reloaded, 2, Some(t1)),
    ];
    for (i, (read, change, reloads, loaded_at)) in steps.into_iter().enumerate() {
        let now = if i >= 6 { t1 } else { t0 };
        assert_eq!(s.apply(read, now), change, "step {i}");
        assert_eq!(s.reloads, reloads, "step {i}");
        assert_eq!(s.loaded_at, loaded_at, "step {i}");
    }
}

#[test]
fn readiness_needs_token_read_and_probe_attempt() {
    let missing = |path: &str| Err(ReadError::Missing { path: path.into() });
    let mut s = Snapshot::default();
    assert!(!s.is_ready(true));
    s.token.apply(missing("/t"), SystemTime::UNIX_EPOCH);
    assert!(!s.is_ready(true), "probe not attempted yet");
    s.probe_attempted = true;
    assert!(
        s.is_ready(true),
        "a failed read still counts as the first read"
    );
    s.extra_tokens.push(TokenSnapshot::default());
    assert!(!s.is_ready(true), "every configured token is read first");
    s.extra_tokens[0].apply(missing("/k"), SystemTime::UNIX_EPOCH);
    assert!(s.is_ready(true));
    let mut pod_identity_only = Snapshot {
        probe_attempted: true,
        ..Default::default()
    };
    assert!(
        pod_identity_only.is_ready(false),
        "no IRSA token to wait for"
    );
    pod_identity_only.probe_attempted = false;
    assert!(!pod_identity_only.is_ready(false));
}
fn assume(result: Result<crate::outcome::Assumed, crate::outcome::AssumeFailure>) -> AssumeOutcome {
    AssumeOutcome {
        endpoint: Some("https://sts.us-east-1.amazonaws.com".into()),
        latency: Duration::from_millis(120),
        clock_skew_seconds: None,
        retried: Vec::new(),
        session_name: "irsa-doctor-web".into(),
        result,
    }
}

fn assumed(arn: &str, caller: Result<&str, &str>) -> crate::outcome::Assumed {
    crate::outcome::Assumed {
        assumed_role_arn: Some(arn.into()),
        credentials_expire_at: None,
        caller: caller.map(str::to_owned).map_err(str::to_owned),
        trust_policy: None,
        access: None,
    }
}

fn failed(kind: StsFailure, code: &str) -> crate::outcome::AssumeFailure {
    crate::outcome::AssumeFailure {
        kind,
        code: code.into(),
        message: "detail".into(),
        http_status: None,
    }
}

/// One row per transition: what each attempt does to failures, the caller and the last success.
#[test]
fn sts_snapshot_transitions() {
    let arn = "arn:aws:sts::1:assumed-role/demo/irsa-doctor-web";
    let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    /// (attempt, result, consecutive_failures, caller_arn, last_success_at, error_code)
    type Row<'a> = (
        &'a str,
        AssumeOutcome,
        u64,
        Option<&'a str>,
        Option<SystemTime>,
        Option<&'a str>,
    );
    let rows: Vec<Row> = vec![
        (
            "first success",
            assume(Ok(assumed(arn, Ok(arn)))),
            0,
            Some(arn),
            Some(t(1)),
            None,
        ),
        (
            "denied clears the caller, keeps last success",
            assume(Err(failed(StsFailure::Rejected, "AccessDenied"))),
            1,
            None,
            Some(t(1)),
            Some("AccessDenied"),
        ),
        (
            "throttled counts as a failure",
            assume(Err(failed(StsFailure::Throttled, "Throttling"))),
            2,
            None,
            Some(t(1)),
            Some("Throttling"),
        ),
        (
            "success resets the count",
            assume(Ok(assumed(arn, Ok(arn)))),
            0,
            Some(arn),
            Some(t(4)),
            None,
        ),
        (
            "caller lookup failing leaves no caller",
            assume(Ok(assumed(arn, Err("Timeout")))),
            0,
            None,
            Some(t(5)),
            None,
        ),
    ];
    let mut s = StsSnapshot::default();
    for (i, (name, outcome, failures, caller, last_success, code)) in rows.into_iter().enumerate() {
        s.apply(t(i as u64 + 1), &outcome);
        assert_eq!(s.consecutive_failures, failures, "{name}");
        assert_eq!(s.caller_arn.as_deref(), caller, "{name}");
        assert_eq!(s.last_success_at, last_success, "{name}");
        assert_eq!(s.error_code.as_deref(), code, "{name}");
        assert_eq!(s.last_attempt_at, Some(t(i as u64 + 1)), "{name}");
        assert_eq!(
            s.assumed_role_arn.as_deref(),
            Some(arn),
            "{name}: the last assumed ARN stays"
        );
        assert_eq!(s.session_name.as_deref(), Some("irsa-doctor-web"), "{name}");
    }
}

#[test]
fn endpoint_and_skew_survive_an_attempt_that_did_not_learn_them() {
    let mut s = StsSnapshot::default();
    let mut first = assume(Err(failed(StsFailure::Unreachable, "Timeout")));
    first.clock_skew_seconds = Some(3.0);
    s.apply(SystemTime::UNIX_EPOCH, &first);
    let mut second = first.clone();
    second.endpoint = None;
    second.clock_skew_seconds = None;
    s.apply(SystemTime::UNIX_EPOCH, &second);
    assert_eq!(
        s.endpoint.as_deref(),
        Some("https://sts.us-east-1.amazonaws.com")
    );
    assert_eq!(s.clock_skew_seconds, Some(3.0));
}

#[test]
fn pod_identity_snapshot_transitions() {
    use crate::outcome::{AgentCredentials, AgentOutcome};
    let ok = AgentOutcome {
        latency: Duration::from_millis(5),
        http_status: Some(200),
        result: Ok(AgentCredentials {
            account_id: Some("111122223333".into()),
            expires_at: None,
            caller: Ok("arn:aws:sts::111122223333:assumed-role/pi/eks-x".into()),
            access: None,
        }),
    };
    let throttled = AgentOutcome {
        latency: Duration::from_millis(5),
        http_status: Some(429),
        result: Err((AgentFailure::Throttled, "Too Many Requests".into())),
    };
    let mut p = PodIdentitySnapshot::default();
    p.apply(
        SystemTime::UNIX_EPOCH,
        "http://169.254.170.23/v1/credentials",
        &ok,
    );
    assert_eq!((p.result, p.consecutive_failures), (StsResult::Success, 0));
    assert!(p.caller_arn.is_some());
    for n in 1..=2 {
        p.apply(
            SystemTime::UNIX_EPOCH,
            "http://169.254.170.23/v1/credentials",
            &throttled,
        );
        assert_eq!(p.consecutive_failures, n);
    }
    assert_eq!(p.failure, Some(AgentFailure::Throttled));
    assert_eq!(p.http_status, Some(429));
    assert_eq!(p.caller_arn, None);
    assert_eq!(
        p.account_id.as_deref(),
        Some("111122223333"),
        "last good account stays"
    );
    p.apply(
        SystemTime::UNIX_EPOCH,
        "http://169.254.170.23/v1/credentials",
        &ok,
    );
    assert_eq!(
        (
            p.failure,
            p.error_message.as_deref(),
            p.consecutive_failures
        ),
        (None, None, 0)
    );
}
