use super::*;
use crate::findings::Code;
use crate::fixtures::{NOW, at, healthy};

fn finding(code: Code, message: &str) -> Finding {
    Finding {
        code,
        severity: code.severity(),
        message: message.into(),
        remediation: "a remediation never shown in the message".into(),
        token: None,
    }
}

fn verdict<'a>(findings: &'a [Finding], probed: bool, app: Option<&'a str>) -> Verdict<'a> {
    Verdict {
        status: Status::of(findings),
        findings,
        at: at(NOW),
        probed,
        app_summary: app,
    }
}

/// One row: the findings (in the assessment's order), whether a probe ran, the
/// application summary, and the whole message expected.
struct Row {
    why: &'static str,
    findings: Vec<Finding>,
    probed: bool,
    app: Option<&'static str>,
    want: &'static str,
}

#[test]
fn messages() {
    let expired = finding(
        Code::TokenExpired,
        "token expired at 2026-11-23T09:00:00Z (1h ago)",
    );
    let denied = finding(
        Code::StsAssumeFailed,
        "AssumeRoleWithWebIdentity failed: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity; 2 attempt(s) in a row",
    );
    let imds = finding(Code::ImdsReachable, "IMDS answers the pod: v2 yes, v1 no");
    let global = finding(
        Code::GlobalStsEndpoint,
        "AWS_STS_REGIONAL_ENDPOINTS is legacy",
    );
    let rows = vec![
        Row {
            why: "healthy",
            findings: vec![],
            probed: true,
            app: None,
            want: "status: ok at 2026-11-23T10:00:00Z",
        },
        Row {
            why: "info findings are not shown and leave the status ok",
            findings: vec![global.clone()],
            probed: true,
            app: None,
            want: "status: ok at 2026-11-23T10:00:00Z",
        },
        Row {
            why: "most severe first, whatever the input order; info left out",
            findings: vec![
                imds.clone(),
                global.clone(),
                expired.clone(),
                denied.clone(),
            ],
            probed: true,
            app: None,
            want: "status: critical (2 critical, 1 warning) at 2026-11-23T10:00:00Z\n\
                   TOKEN_EXPIRED: token expired at 2026-11-23T09:00:00Z (1h ago)\n\
                   STS_ASSUME_FAILED: AssumeRoleWithWebIdentity failed: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity; 2 attempt(s) in a row\n\
                   IMDS_REACHABLE: IMDS answers the pod: v2 yes, v1 no",
        },
        Row {
            why: "warnings only",
            findings: vec![imds.clone()],
            probed: true,
            app: None,
            want: "status: warning (1 warning) at 2026-11-23T10:00:00Z\n\
                   IMDS_REACHABLE: IMDS answers the pod: v2 yes, v1 no",
        },
        Row {
            why: "stopped before the first probe: an ok says it is not a verdict",
            findings: vec![],
            probed: false,
            app: None,
            want: "status: ok at 2026-11-23T10:00:00Z; stopped before the first probe completed",
        },
        Row {
            why: "the application's summary comes last",
            findings: vec![denied.clone()],
            probed: true,
            app: Some("app: 12 calls, 3 denied (s3:PutObject ×3)"),
            want: "status: critical (1 critical) at 2026-11-23T10:00:00Z\n\
                   STS_ASSUME_FAILED: AssumeRoleWithWebIdentity failed: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity; 2 attempt(s) in a row\n\
                   app: 12 calls, 3 denied (s3:PutObject ×3)",
        },
        Row {
            why: "a healthy pod still gets the application's summary",
            findings: vec![],
            probed: true,
            app: Some("app: 40 calls"),
            want: "status: ok at 2026-11-23T10:00:00Z\napp: 40 calls",
        },
        Row {
            why: "line breaks inside a message never split a finding over lines",
            findings: vec![finding(Code::StsAssumeFailed, "first\nsecond\r\tthird")],
            probed: true,
            app: Some("app\nsummary"),
            want: "status: critical (1 critical) at 2026-11-23T10:00:00Z\n\
                   STS_ASSUME_FAILED: first second  third\n\
                   app summary",
        },
    ];
    for r in rows {
        let got = compose(&verdict(&r.findings, r.probed, r.app), MAX_BYTES);
        assert_eq!(got, r.want, "{}", r.why);
    }
}

/// The message of a real assessment: the fixture's healthy pod, then an expired token.
#[test]
fn from_an_assessment() {
    let fx = healthy();
    let ok = Assessment::new(&fx.context());
    assert_eq!(
        message(&ok, true, None),
        "status: ok at 2026-11-23T10:00:00Z"
    );
    let mut fx = healthy();
    fx.claims().expires_at = Some(NOW - 60);
    let expired = Assessment::new(&fx.context());
    let text = message(&expired, true, None);
    assert!(
        text.starts_with(
            "status: critical (1 critical, 1 warning) at 2026-11-23T10:00:00Z\nTOKEN_EXPIRED: token expired at 2026-11-23T09:59:00Z"
        ) && text.lines().nth(2).is_some_and(|l| l.starts_with("TOKEN_NOT_ROTATED: ")),
        "{text}"
    );
    assert!(!text.contains("a remediation"), "{text}");
}

/// 40 findings do not fit in 4,096 bytes: whole lines are kept, most severe first, and a
/// marker counts the rest; the application's summary survives the cut.
#[test]
fn cut_at_a_whole_line_with_a_marker() {
    let mut findings: Vec<Finding> = (0..30)
        .map(|i| {
            finding(
                Code::TokenExpired,
                &format!("[t{i:02} token] token expired at 2026-11-23T09:00:00Z (1h ago); the kubelet stopped refreshing it, or it is not a projected token at all"),
            )
        })
        .collect();
    findings.extend((0..10).map(|i| {
        finding(
            Code::TokenNotRotated,
            &format!("[w{i:02} token] not refreshed since its refresh point"),
        )
    }));
    findings.reverse(); // warnings first in the input: the message still leads with criticals
    let app = "app: 7 calls, 7 denied (s3:PutObject ×7)";
    let text = compose(&verdict(&findings, true, Some(app)), MAX_BYTES);
    assert!(text.len() <= MAX_BYTES, "{} bytes", text.len());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "status: critical (30 critical, 10 warning) at 2026-11-23T10:00:00Z"
    );
    assert_eq!(lines.last(), Some(&app));
    let marker = lines[lines.len() - 2];
    let shown = lines.len() - 3;
    assert_eq!(marker, format!("… {} more", 40 - shown), "{text}");
    assert!(shown > 10, "most of the budget is used: {shown} lines");
    assert!(
        lines[1..=shown]
            .iter()
            .all(|l| l.starts_with("TOKEN_EXPIRED: [t")),
        "criticals first:\n{text}"
    );
    assert!(
        text.len() > MAX_BYTES - 200,
        "the budget is used: {} bytes",
        text.len()
    );
}

/// The cut as a table: how many finding lines fit in a given budget.
#[test]
fn cut_boundaries() {
    let findings: Vec<Finding> = (0..3)
        .map(|i| finding(Code::StsAssumeFailed, &format!("m{i}")))
        .collect();
    let v = verdict(&findings, true, None);
    let status = "status: critical (3 critical) at 2026-11-23T10:00:00Z";
    let line = "\nSTS_ASSUME_FAILED: m0".len(); // every line is as long
    let marker = "\n… 1 more".len();
    let cases = [
        ("everything fits exactly", status.len() + 3 * line, 3, None),
        (
            "one byte short: the last line gives way to a marker",
            status.len() + 3 * line - 1,
            2,
            Some("… 1 more"),
        ),
        (
            "two lines and a marker exactly",
            status.len() + 2 * line + marker,
            2,
            Some("… 1 more"),
        ),
        (
            "one byte short of that: one line and a marker",
            status.len() + 2 * line + marker - 1,
            1,
            Some("… 2 more"),
        ),
        (
            "nothing but the status and a marker",
            status.len() + marker,
            0,
            Some("… 3 more"),
        ),
    ];
    for (why, limit, kept, tail) in cases {
        let text = compose(&v, limit);
        assert!(text.len() <= limit, "{why}: {} > {limit}", text.len());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], status, "{why}");
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("STS_ASSUME_FAILED"))
                .count(),
            kept,
            "{why}:\n{text}"
        );
        assert_eq!(
            lines.last().copied().filter(|l| l.starts_with('…')),
            tail,
            "{why}"
        );
    }
}

/// A message longer than a line's share is cut within it, never inside a character.
#[test]
fn long_lines_are_cut_at_a_character_boundary() {
    for pad in 0..4 {
        let long = format!("{}{}", "x".repeat(pad), "é€🦀".repeat(400));
        let findings = [finding(Code::StsAssumeFailed, &long)];
        let text = compose(&verdict(&findings, true, None), MAX_BYTES);
        let line = text.lines().nth(1).expect("a finding line");
        assert!(line.len() <= MAX_LINE_BYTES, "{}", line.len());
        assert!(line.len() > MAX_LINE_BYTES - 8, "{}", line.len());
        assert!(line.ends_with('…'), "{line}");
        assert!(line.starts_with("STS_ASSUME_FAILED: "));
    }
    let app = "€".repeat(2000);
    let text = compose(&verdict(&[], true, Some(&app)), MAX_BYTES);
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.len() <= MAX_LINE_BYTES)
    );
}

/// The worst case still fits: a thousand findings of the longest lines, with a summary.
#[test]
fn never_over_the_kubelet_limit() {
    let long = "y".repeat(5000);
    let findings: Vec<Finding> = (0..1000)
        .map(|_| finding(Code::StsAssumeFailed, &long))
        .collect();
    let text = compose(&verdict(&findings, false, Some(&long)), MAX_BYTES);
    assert!(text.len() <= MAX_BYTES, "{}", text.len());
    assert!(text.contains("\n… 998 more\n"), "{text}");
}
