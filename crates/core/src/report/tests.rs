use serde_json::Value;

use super::*;
use crate::fixtures::*;
use crate::snapshot::Snapshot;
use crate::token::ReadError;

/// The report as the daemon builds it: from the assessment of the same context.
fn build_now(ctx: &crate::findings::Context<'_>) -> Report {
    build(ctx, &crate::assessment::Assessment::new(ctx))
}

fn json(fx: &Fixture) -> Value {
    serde_json::from_str(&build_now(&fx.context()).to_json()).expect("report is JSON")
}

/// The report's fields that every consumer relies on, as JSON pointers.
const REQUIRED_FIELDS: &[&str] = &[
    "/version",
    "/generated_at",
    "/status",
    "/environment/role_arn",
    "/environment/token_file",
    "/environment/region",
    "/environment/sts_regional_endpoints",
    "/environment/static_credentials_in_env",
    "/token/present",
    "/token/read_error",
    "/token/loaded_at",
    "/token/reloads",
    "/token/issuer",
    "/token/subject",
    "/token/audiences",
    "/token/issued_at",
    "/token/not_before",
    "/token/expires_at",
    "/token/expires_in_seconds",
    "/token/age_seconds",
    "/token/lifetime_seconds",
    "/token/kubernetes",
    "/token/algorithm",
    "/token/key_id",
    "/sts/endpoint",
    "/sts/result",
    "/sts/last_attempt_at",
    "/sts/last_success_at",
    "/sts/latency_seconds",
    "/sts/error_code",
    "/sts/error_message",
    "/sts/assumed_role_arn",
    "/sts/credentials_expire_at",
    "/sts/consecutive_failures",
    "/credential_chain/provider",
    "/credential_chain/caller_arn",
    "/credential_chain/node_role_fallback",
    "/credential_chain/imds_reachable",
    "/credential_chain/imds/v2_reachable",
    "/credential_chain/imds/v1_reachable",
    "/access",
    "/findings",
];

#[test]
fn healthy_report_has_every_field_with_values() {
    let j = json(&healthy());
    for p in REQUIRED_FIELDS {
        assert!(j.pointer(p).is_some(), "missing {p}");
    }
    assert_eq!(j["status"], "ok");
    assert_eq!(j["generated_at"], "2026-11-23T10:00:00Z");
    assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
    let t = &j["token"];
    assert_eq!(t["present"], true);
    assert_eq!(t["read_error"], Value::Null);
    assert_eq!(t["subject"], SUB);
    assert_eq!(t["audiences"], serde_json::json!(["sts.amazonaws.com"]));
    assert_eq!(t["issued_at"], "2026-11-23T08:13:20Z");
    assert_eq!(t["expires_in_seconds"], 80000);
    assert_eq!(t["age_seconds"], 6400);
    assert_eq!(t["lifetime_seconds"], 86400);
    assert_eq!(t["reloads"], 1);
    assert_eq!(
        t["kubernetes"],
        serde_json::json!({"namespace": "demo", "service_account": "demo-sa", "pod": "web-7d9f", "node": "ip-10-0-1-2"})
    );
    assert_eq!(t["algorithm"], "RS256");
    assert_eq!(t["key_id"], "abc");
    assert_eq!(j["sts"]["result"], "success");
    assert_eq!(j["credential_chain"]["node_role_fallback"], false);
    assert_eq!(j["credential_chain"]["imds_reachable"], false);
}

#[test]
fn unknown_values_are_null_not_omitted() {
    let mut fx = healthy();
    fx.snapshot = Snapshot::default();
    let j = json(&fx);
    for p in REQUIRED_FIELDS {
        assert!(j.pointer(p).is_some(), "missing {p}");
    }
    for p in [
        "/token/present",
        "/token/subject",
        "/token/expires_at",
        "/token/kubernetes",
        "/sts/endpoint",
        "/sts/last_attempt_at",
        "/credential_chain/provider",
        "/credential_chain/node_role_fallback",
        "/credential_chain/imds/v2_reachable",
    ] {
        assert_eq!(j.pointer(p), Some(&Value::Null), "{p} should be null");
    }
    assert_eq!(j["sts"]["result"], "never");
    assert_eq!(j["sts"]["consecutive_failures"], 0);
}

#[test]
fn trust_policy_section_is_null_without_a_policy() {
    let j = json(&healthy());
    assert_eq!(j["trust_policy"]["source"], Value::Null);
    assert_eq!(j["trust_policy"]["verdict"], Value::Null);
    assert_eq!(j["trust_policy"]["statements"], serde_json::json!([]));
    assert_eq!(j["token"]["signature_verified"], Value::Null);
}

#[test]
fn trust_policy_table_in_text() {
    let mut fx = healthy();
    let host = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
    let text = serde_json::json!({
        "Statement": {"Sid": "Irsa", "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::111122223333:oidc-provider/{host}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {format!("{host}:sub"): "system:serviceaccount:payments:s3-backup"}}}
    });
    fx.snapshot.trust_policy.source = Some("file /p.json".into());
    fx.snapshot.trust_policy.policy = Some(Ok(std::sync::Arc::new(
        crate::policy::trust::parse(&text.to_string()).unwrap(),
    )));
    let report = build_now(&fx.context());
    let j: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(j["trust_policy"]["verdict"], "implicit_deny");
    assert_eq!(j["trust_policy"]["deciding_statement"], "Irsa");
    assert_eq!(
        j["trust_policy"]["statements"][0]["conditions"][0]["outcome"],
        "fail"
    );
    let text = report.to_text();
    assert!(
        text.contains(
            "TRUST POLICY  file /p.json\n  verdict       implicit_deny (statement Irsa)\n"
        ),
        "{text}"
    );
    assert!(text.contains(&format!("    FAIL  StringEquals {host}:sub  expected system:serviceaccount:payments:s3-backup  token has {SUB}\n")), "{text}");
}

#[test]
fn read_errors_show_presence() {
    let cases = [
        (
            ReadError::Missing { path: "/t".into() },
            false,
            "TOKEN_FILE_MISSING",
        ),
        (
            ReadError::Unreadable {
                path: "/t".into(),
                reason: "denied".into(),
            },
            true,
            "TOKEN_UNREADABLE",
        ),
    ];
    for (err, present, code) in cases {
        let mut fx = healthy();
        fx.snapshot.token.apply(Err(err.clone()), at(NOW));
        let j = json(&fx);
        assert_eq!(j["token"]["present"], present, "{code}");
        assert_eq!(j["token"]["read_error"], err.to_string(), "{code}");
        assert_eq!(
            j["token"]["subject"],
            Value::Null,
            "{code}: no stale claims"
        );
        assert_eq!(j["status"], "critical");
        assert_eq!(j["findings"][0]["code"], code);
        assert_eq!(j["findings"][0]["severity"], "critical");
    }
}

#[test]
fn text_leads_with_status_and_worst_findings() {
    let mut fx = healthy();
    fx.env.sts_regional_endpoints = None;
    fx.claims().audiences = vec!["api".into()];
    let text = build_now(&fx.context()).to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("status: CRITICAL"), "{text}");
    assert_eq!(lines[2], "FINDINGS (2)");
    assert!(
        lines[3].starts_with("  CRITICAL  AUDIENCE_MISMATCH    token audience [\"api\"]"),
        "{text}"
    );
    assert!(
        lines[4]
            .trim_start()
            .starts_with("fix: set the projected volume's"),
        "{text}"
    );
    assert_eq!(
        lines[5].trim_start(),
        "see: https://github.com/irsa-doctor/irsa-doctor/blob/main/docs/runbook.md#audience_mismatch",
        "{text}"
    );
    assert!(
        lines[6].starts_with("  INFO      GLOBAL_STS_ENDPOINT  "),
        "{text}"
    );
    assert!(
        text.contains("  subject       system:serviceaccount:demo:demo-sa\n"),
        "{text}"
    );
    assert!(
        text.contains("  expires       2026-11-24T08:13:20Z (in 22h13m20s)\n"),
        "{text}"
    );
}

#[test]
fn healthy_text_says_none() {
    let text = build_now(&healthy().context()).to_text();
    assert!(text.contains("status: OK"), "{text}");
    assert!(text.contains("FINDINGS  none"), "{text}");
}

/// `--expect-access s3:PutObject=OBJECT --expect-access kms:Decrypt` with `statements` read.
fn expecting_access(fx: &mut Fixture, statements: Option<&str>) {
    use crate::policy::access::{ExpectedAccess, RolePolicies, Source};
    fx.config.expect_access = vec![
        ExpectedAccess::parse("s3:PutObject=arn:aws:s3:::acme-backups/db/x").unwrap(),
        ExpectedAccess::parse("kms:Decrypt").unwrap(),
    ];
    fx.snapshot.access.checked_at = Some(at(NOW - 60));
    fx.snapshot.access.policies = statements.map(|st| {
        Ok(std::sync::Arc::new(RolePolicies {
            identity: vec![named_policy("backup", Source::Inline, st)],
            boundary: None,
            arn: None,
        }))
    });
}

#[test]
fn access_section_json_and_text() {
    let mut fx = healthy();
    assert_eq!(json(&fx)["access"], Value::Null, "null without the flag");
    expecting_access(
        &mut fx,
        Some(
            r#"[{"Sid": "Put", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::acme-backups/*"}]"#,
        ),
    );
    let j = json(&fx);
    let checks = &j["access"]["checks"];
    assert_eq!(checks[0]["action"], "s3:PutObject");
    assert_eq!(checks[0]["resource"], "arn:aws:s3:::acme-backups/db/x");
    assert_eq!(checks[0]["decision"], "allowed");
    assert_eq!(checks[0]["deciding_statement"], "Put");
    assert_eq!(checks[0]["policy"], "backup");
    assert_eq!(checks[1]["decision"], "implicit_deny");
    assert_eq!(
        checks[1]["deciding_statement"], "Put",
        "the nearest statement"
    );
    assert_eq!(j["access"]["policies"], serde_json::json!(["backup"]));
    assert_eq!(j["access"]["checked_at"], "2026-11-23T09:59:00Z");
    assert_eq!(j["access"]["error"], Value::Null);
    assert!(
        j["access"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("service control policies"),
        "{}",
        j["access"]["notes"]
    );
    let text = build_now(&fx.context()).to_text();
    assert!(
        text.contains(
            "allowed           s3:PutObject on arn:aws:s3:::acme-backups/db/x  [backup / Put]"
        ),
        "{text}"
    );
    assert!(
        text.contains("DENIED (implicit) kms:Decrypt on *"),
        "{text}"
    );
}

#[test]
fn access_section_before_the_first_read() {
    let mut fx = healthy();
    expecting_access(&mut fx, None);
    fx.snapshot.access.checked_at = None;
    let j = json(&fx);
    assert_eq!(j["access"]["checks"], serde_json::json!([]));
    assert_eq!(j["access"]["checked_at"], Value::Null);
    assert!(
        j["access"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("not been read yet")),
        "{}",
        j["access"]["notes"]
    );
}

/// Every finding in the JSON report links its runbook section, as the alerts' `runbook_url` does.
#[test]
fn findings_carry_their_runbook_url() {
    let mut fx = healthy();
    fx.claims().audiences = vec!["api".into()];
    let j = json(&fx);
    let finding = &j["findings"][0];
    assert_eq!(finding["code"], "AUDIENCE_MISMATCH");
    assert_eq!(
        finding["runbook_url"],
        "https://github.com/irsa-doctor/irsa-doctor/blob/main/docs/runbook.md#audience_mismatch"
    );
    let keys: Vec<&str> = finding
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        ["code", "message", "remediation", "runbook_url", "severity"],
        "the token label stays out of the report"
    );
}
