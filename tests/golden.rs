//! Golden files for what users see: the text `/debug`, the JSON report and `/metrics` of a
//! healthy pod and of a failing one, rendered by the same code the daemon serves them with,
//! from fixed fixtures at a fixed time, so every change to what users read shows in a
//! reviewable diff (node_exporter's `e2e-output.txt` is the model).
//!
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites `tests/golden/*` and the README's
//! sample output, which is the failing pod's text report, so it cannot go stale.

use std::path::PathBuf;

use irsa_doctor::metrics::Metrics;
use irsa_doctor_core::assessment::Assessment;
use irsa_doctor_core::fixtures::{Fixture, NOW, SUB, at, healthy};
use irsa_doctor_core::report;
use irsa_doctor_core::snapshot::StsFailure;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[allow(clippy::disallowed_methods)] // a developer's switch for regenerating the files
fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// A pod running as the wrong ServiceAccount: its token's subject is not the one the role's
/// trust policy (mounted as a file) allows, and STS refuses the test-assume.
fn wrong_service_account() -> Fixture {
    let mut fx = healthy();
    fx.claims().subject = Some("system:serviceaccount:demo:default".into());
    fx.claims().kubernetes.service_account = Some("default".into());
    let host = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowServiceAccount",
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::111122223333:oidc-provider/{host}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringLike": {format!("{host}:sub"): SUB},
                "StringEquals": {format!("{host}:aud"): "sts.amazonaws.com"}
            }
        }]
    });
    fx.config.trust_policy_file = Some("/etc/irsa-doctor/trust-policy.json".into());
    fx.snapshot.trust_policy.source = Some("file /etc/irsa-doctor/trust-policy.json".into());
    fx.snapshot.trust_policy.policy = Some(
        irsa_doctor_core::policy::trust::parse(&policy.to_string())
            .map(std::sync::Arc::new)
            .map_err(|e| e.to_string()),
    );
    fx.sts_error(
        StsFailure::Rejected,
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    );
    // As the daemon records it: the last success was before the pod moved to the wrong
    // ServiceAccount, and the chain takes the same web-identity path, so it fails the same way.
    fx.snapshot.sts.last_attempt_at = Some(at(NOW - 4));
    fx.snapshot.sts.last_success_at = Some(at(NOW - 1804));
    fx.snapshot.sts.latency_seconds = Some(0.043);
    fx.snapshot.chain.caller_arn = None;
    fx.snapshot.chain.error = Some(
        "web identity failed: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"
            .into(),
    );
    fx
}

/// The three views of one fixture: text report, JSON report, metrics without `process_*`
/// (the test process's own figures).
fn views(fx: &Fixture) -> [(&'static str, String); 3] {
    let ctx = fx.context();
    let assessment = Assessment::new(&ctx);
    let report = report::build(&ctx, &assessment);
    let metrics = Metrics::new(&["irsa"]).expect("the metrics table registers");
    let exposition: String = metrics
        .render(&ctx, &assessment)
        .lines()
        .filter(|l| !l.contains("process_"))
        .map(|l| format!("{l}\n"))
        .collect();
    [
        ("txt", report.to_text()),
        ("json", report.to_json() + "\n"),
        ("metrics", exposition),
    ]
}

/// Compares (or with `UPDATE_GOLDEN`, rewrites) `tests/golden/NAME.EXT`.
fn golden(name: &str, ext: &str, fresh: &str) {
    let path = root().join("tests/golden").join(format!("{name}.{ext}"));
    if updating() {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir tests/golden");
        std::fs::write(&path, fresh).expect("write the golden file");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} differs from what irsa-doctor renders now: review the change, then \
         UPDATE_GOLDEN=1 cargo test --test golden\n--- rendered now ---\n{fresh}",
        path.display()
    );
}

#[test]
fn healthy_pod() {
    for (ext, text) in views(&healthy()) {
        golden("healthy", ext, &text);
    }
}

#[test]
fn wrong_service_account_pod() {
    for (ext, text) in views(&wrong_service_account()) {
        golden("wrong-service-account", ext, &text);
    }
}

/// The README's sample output is the failing pod's text report, byte for byte.
#[test]
fn readme_sample_is_the_golden_text() {
    let [(_, text), ..] = views(&wrong_service_account());
    let readme_path = root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let start = "<!-- golden:wrong-service-account.txt:start -->\n```text\n$ curl -s localhost:9911/debug\n";
    let end = "```\n<!-- golden:wrong-service-account.txt:end -->";
    let (Some(s), Some(e)) = (readme.find(start), readme.find(end)) else {
        panic!("README.md lacks the {start:?} ... {end:?} markers around its sample output");
    };
    let fresh = format!("{}{text}{}", &readme[..s + start.len()], &readme[e..]);
    if updating() {
        std::fs::write(&readme_path, fresh).expect("rewrite README.md");
        return;
    }
    assert!(
        readme == fresh,
        "README.md's sample output is not the golden text: UPDATE_GOLDEN=1 cargo test --test golden"
    );
}

/// Every field the report carries is documented in docs/reference.md (its own row, or named
/// in its parent's row), so a field added to the report without documentation fails here.
#[test]
fn every_report_field_is_documented() {
    let reference =
        std::fs::read_to_string(root().join("docs/reference.md")).expect("docs/reference.md");
    let mut missing = Vec::new();
    for fx in [healthy(), wrong_service_account()] {
        let json: Value = serde_json::from_str(&views(&fx)[1].1).expect("the report is JSON");
        let mut paths = Vec::new();
        walk(&json, "", &mut paths);
        for path in paths {
            if !documented(&reference, &path) && !missing.contains(&path) {
                missing.push(path);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "report fields missing from docs/reference.md#report: {missing:?}"
    );
}

/// Every field path of `value`: `a.b` for objects, `a[]` for arrays (their first element's fields).
fn walk(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(path.clone());
                walk(v, &path, out);
            }
        }
        Value::Array(items) => {
            if let Some(first) = items.first() {
                let path = format!("{prefix}[]");
                walk(first, &path, out);
            }
        }
        _ => {}
    }
}

/// `path` has its own row, or the row of its nearest documented ancestor names its last part;
/// a row that says its items have "the fields of `X`" documents them as `X`'s.
fn documented(reference: &str, path: &str) -> bool {
    let quoted = |p: &str| format!("`{p}`");
    for row in reference.lines() {
        let Some((prefix, rest)) = row.strip_prefix("| `").and_then(|r| r.split_once("` |")) else {
            continue;
        };
        if let Some(alias) = rest
            .split("the fields of `")
            .nth(1)
            .and_then(|a| a.split('`').next())
            && let Some(tail) = path.strip_prefix(prefix)
            && tail.starts_with('.')
            && documented(reference, &format!("{alias}{tail}"))
        {
            return true;
        }
    }
    if reference.contains(&quoted(path)) || reference.contains(&quoted(&format!("{path}[]"))) {
        return true;
    }
    let leaf = path.rsplit(['.']).next().unwrap_or(path);
    let mut parent = path;
    while let Some((up, _)) = parent.rsplit_once('.') {
        parent = up;
        if let Some(row) = reference
            .lines()
            .find(|l| l.starts_with(&format!("| {}", quoted(parent))))
        {
            return row.contains(&quoted(leaf));
        }
    }
    false
}

#[test]
fn walk_and_documented_agree_on_a_small_case() {
    let doc = "| `a` | x |\n| `a.b[]` | each: `c`, `d` |\n| `z[]` | the fields of `a` |\n";
    let mut paths = Vec::new();
    walk(
        &serde_json::json!({"a": {"b": [{"c": 1, "e": 2}]}}),
        "",
        &mut paths,
    );
    assert_eq!(paths, ["a", "a.b", "a.b[].c", "a.b[].e"]);
    assert!(documented(doc, "a.b"), "its [] row documents it");
    assert!(documented(doc, "a.b[].c"), "named in its parent's row");
    assert!(!documented(doc, "a.b[].e"), "not named anywhere");
    assert!(documented(doc, "z[].b[].c"), "through the alias");
    assert!(
        !documented(doc, "z[].q"),
        "the alias does not document it either"
    );
}
