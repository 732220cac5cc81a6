//! Finding tables, one file per family (as `findings/` has); shared helpers here.

use super::*;
use crate::environment::StaticSource;
use crate::fixtures::*;
use crate::snapshot::{StsFailure, StsResult};
use crate::token::MalformedToken;
use crate::token::ReadError;

mod access;
mod app;
mod chain;
mod pod;
mod pod_identity;
mod sts;
mod tokens;
mod trust;

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
        assert!(
            !cites_outside_the_repository(&finding.remediation),
            "case {name}: {:?} cites a catalogue users cannot open: {}",
            finding.code,
            finding.remediation
        );
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

/// A bracketed row-number citation (`[` + `r` or `f` + digits + `]`, of a catalogue outside
/// the repository) or a `shared/` path: remediations name the fix and public URLs only.
fn cites_outside_the_repository(text: &str) -> bool {
    let bytes = text.as_bytes();
    let citation = bytes.windows(3).enumerate().any(|(i, w)| {
        w[0] == b'['
            && (w[1] == b'r' || w[1] == b'f')
            && w[2].is_ascii_digit()
            && bytes[i + 3..]
                .iter()
                .find(|b| !b.is_ascii_digit())
                .is_some_and(|b| *b == b']')
    });
    citation || text.contains("shared/")
}

#[test]
fn citation_guard_sees_citations() {
    assert!(cites_outside_the_repository(&format!("fix it [r{}]", 8)));
    assert!(cites_outside_the_repository(&format!(
        "fix it [f{}][r{}]",
        12, 20
    )));
    assert!(cites_outside_the_repository(&format!(
        "see {}/research/x.md",
        "shared"
    )));
    assert!(!cites_outside_the_repository(
        "fix it; see https://docs.aws.amazon.com/eks/latest/userguide/pod-configuration.html"
    ));
    // Brackets that are not citations: IPv6 literals, `[irsa token]` prefixes, `[r]` alone.
    for text in ["[fd00:ec2::23]", "[irsa token] expired", "[r] [f]", "[r8x]"] {
        assert!(!cites_outside_the_repository(text), "{text}");
    }
}

#[test]
fn healthy_pod_has_no_findings() {
    check("healthy", |_| {}, &[]);
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
    #[allow(clippy::disallowed_methods)] // a developer's switch for regenerating the file
    let update = std::env::var_os("UPDATE_FINDINGS_JSON").is_some();
    if update {
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

// --- field-true verdicts: live evidence, healthy look-alikes -----------------

/// The last test-assume presented exactly the fixture's current token (fingerprint 1).
fn sts_accepted_it(f: &mut Fixture) {
    f.snapshot.sts.token_fingerprint = Some(1);
}

fn with_policy(f: &mut Fixture, text: &str) {
    f.snapshot.trust_policy.source = Some("file /etc/irsa/trust-policy.json".into());
    f.snapshot.trust_policy.policy = Some(
        crate::policy::trust::parse(text)
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

fn role_in(f: &mut Fixture, arn: &str) {
    f.env.role_arn = Some(arn.into());
    f.config.role_arn = Some(arn.into());
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

// --- the recipe, held: every code is raised, tested, exercised and documented ---

/// Reads the repository file at `path` (relative to the repository root).
fn repository_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The text of every `.rs` file directly in `dir` (relative to this crate's `src/`).
fn sources_in(dir: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(dir);
    let mut out = String::new();
    for entry in std::fs::read_dir(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display())) {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|x| x == "rs") {
            out += &std::fs::read_to_string(&path).expect("a source file");
        }
    }
    out
}

/// Codes that no `check --format json` run can raise, so `tests/field.rs` has no row for
/// them; each says where its real-binary test is instead.
const NOT_IN_THE_FIELD_SUITE: &[(Code, &str)] = &[
    (
        Code::AppAccessDenied,
        "raised by `serve` from the application's client-side monitoring; `check` listens for none (tests/csm.rs)",
    ),
    (
        Code::AppNotUsingPodIdentity,
        "raised by `serve` from the application's client-side monitoring (tests/csm.rs)",
    ),
    (
        Code::AppSdkTooOld,
        "raised by `serve` from the application's client-side monitoring (tests/csm.rs)",
    ),
    (
        Code::AppCredentialsFailing,
        "raised by `serve` from the application's client-side monitoring (tests/csm.rs)",
    ),
];

/// ARCHITECTURE.md's recipe for a new finding, checked: a code raised by no check, asserted
/// by no row of its family's table, run by no realistic pod, or explained by no runbook
/// section fails here.
#[test]
fn every_code_follows_the_recipe() {
    let checks = sources_in("findings");
    let tables = sources_in("findings/tests");
    let field = repository_file("tests/field.rs");
    let runbook = repository_file("docs/runbook.md");
    let mut problems = Vec::new();
    for code in Code::ALL {
        let variant = format!("Code::{code:?}");
        if !checks.contains(&variant) {
            problems.push(format!(
                "{}: no check in findings/ raises it",
                code.as_str()
            ));
        }
        if !tables.contains(&variant) {
            problems.push(format!(
                "{}: no row in findings/tests/ asserts it",
                code.as_str()
            ));
        }
        let exempt = NOT_IN_THE_FIELD_SUITE.iter().any(|(c, _)| c == code);
        if !exempt && !field.contains(&format!("\"{}\"", code.as_str())) {
            problems.push(format!(
                "{}: no row of tests/field.rs expects it (or list it, with the reason, in NOT_IN_THE_FIELD_SUITE)",
                code.as_str()
            ));
        }
        let heading = format!("\n## {}\n", code.as_str());
        match runbook.split_once(&heading) {
            None => problems.push(format!(
                "{}: no `## {0}` section in docs/runbook.md",
                code.as_str()
            )),
            Some((_, rest)) => {
                let section = rest.split("\n## ").next().unwrap_or_default();
                for part in ["**Severity:**", "**Meaning.**", "**Confirm.**", "**Fix.**"] {
                    if !section.contains(part) {
                        problems.push(format!(
                            "{}: its runbook section lacks {part}",
                            code.as_str()
                        ));
                    }
                }
                let severity = format!("**Severity:** {}.", code.severity().as_str());
                if !section.contains(&severity) {
                    problems.push(format!(
                        "{}: its runbook section does not say {severity}",
                        code.as_str()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the recipe is not followed:\n{}",
        problems.join("\n")
    );
}
