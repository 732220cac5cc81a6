//! Trust-policy text → `trust::parse` → `evaluate` → `explain`.
//!
//! The input is a `--trust-policy-file` (a ConfigMap anyone with edit rights on the
//! namespace may write) or an `iam:GetRole` answer. A policy that parses is evaluated
//! against fixed claim sets (the standard EKS token, no claims at all, several
//! audiences, odd strings) and against claims built from the policy itself (the issuer
//! of each `Federated` OIDC provider, the values of its `:sub`/`:aud` conditions), so
//! the fuzzer reaches the "allowed" and "explicit deny" paths, not only the denials.
//!
//! Invariants checked beyond "no panic":
//! - parsing the policy percent-encoded (as GetRole returns it) gives the same policy;
//! - `closest` is `None` exactly when the verdict is `allowed`, and points at a statement;
//! - `string_like` agrees with a plain dynamic-programming matcher on every
//!   pattern/value pair the evaluation could compare (bounded lengths).
#![no_main]

use std::fmt::Write;

use irsa_doctor_core::fixtures::{self, ISSUER};
use irsa_doctor_core::token::Claims;
use irsa_doctor_core::policy::trust::{self, Policy, Principal, PrincipalKind, Verdict};
use libfuzzer_sys::fuzz_target;

/// The core fixture's healthy token claims (issued at its "now", 24 h to live), with the
/// three claims a trust policy judges replaced.
fn claims(issuer: Option<&str>, subject: Option<&str>, audiences: &[&str]) -> Claims {
    Claims {
        issuer: issuer.map(str::to_owned),
        subject: subject.map(str::to_owned),
        audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
        ..fixtures::token(fixtures::NOW, 86_400).claims
    }
}

fn fixed_claims() -> Vec<Claims> {
    vec![
        claims(
            Some(ISSUER),
            Some("system:serviceaccount:demo:demo-sa"),
            &["sts.amazonaws.com"],
        ),
        Claims::default(),
        claims(
            Some(ISSUER),
            Some("system:serviceaccount:payments:s3-backup"),
            &["sts.amazonaws.com", "api", ""],
        ),
        claims(
            Some("https://oidc.eks.us-west-2.amazonaws.com/id/OTHER/"),
            Some(""),
            &[],
        ),
        claims(
            Some("oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"),
            Some("*"),
            &["*", "?"],
        ),
        claims(
            Some("https://ÄÖÜ.example/😀"),
            Some("system:serviceaccount:ß:ǅ"),
            &["STS.AMAZONAWS.COM"],
        ),
    ]
}

/// Claims that the policy's own statements name: its providers' issuers and its sub/aud values.
fn derived_claims(policy: &Policy) -> Vec<Claims> {
    let mut issuers: Vec<String> = Vec::new();
    let mut subs: Vec<&str> = Vec::new();
    let mut auds: Vec<&str> = Vec::new();
    for s in &policy.statements {
        if let Principal::Listed(entries) = &s.principal {
            for e in entries
                .iter()
                .filter(|e| e.kind == PrincipalKind::Federated)
            {
                if let Some((_, host_path)) = e.value.split_once(":oidc-provider/") {
                    issuers.push(format!("https://{host_path}"));
                }
            }
        }
        for c in &s.conditions {
            let key = c.key.to_ascii_lowercase();
            if let Some((prefix, _)) = key.rsplit_once(':') {
                issuers.push(format!("https://{prefix}"));
            }
            let values = c.values.iter().map(String::as_str);
            if key.ends_with(":sub") {
                subs.extend(values);
            } else if key.ends_with(":aud") {
                auds.extend(values);
            }
        }
    }
    issuers.truncate(4);
    subs.truncate(4);
    auds.truncate(8);
    let mut out = Vec::new();
    for issuer in &issuers {
        out.push(claims(Some(issuer), subs.first().copied(), &auds));
        for sub in &subs {
            out.push(claims(
                Some(issuer),
                Some(sub),
                auds.get(..1).unwrap_or_default(),
            ));
        }
    }
    out
}

/// Reference `StringLike`: `*` any run, `?` one char, by dynamic programming over chars.
fn like_reference(pattern: &[char], value: &[char]) -> bool {
    // m[j] = pattern[..i] matches value[..j]
    let mut m = vec![false; value.len() + 1];
    m[0] = true;
    for &p in pattern {
        let mut next = vec![false; value.len() + 1];
        if p == '*' {
            let mut any = false;
            for j in 0..=value.len() {
                any |= m[j];
                next[j] = any;
            }
        } else {
            for j in 1..=value.len() {
                next[j] = m[j - 1] && (p == '?' || p == value[j - 1]);
            }
        }
        m = next;
    }
    m[value.len()]
}

fn check_string_like(policy: &Policy, claims: &Claims) {
    let values: Vec<&str> = claims
        .subject
        .iter()
        .chain(claims.issuer.iter())
        .chain(claims.audiences.iter())
        .map(String::as_str)
        .collect();
    for c in policy.statements.iter().flat_map(|s| &s.conditions) {
        for pattern in &c.values {
            if pattern.len() > 256 {
                continue;
            }
            let p: Vec<char> = pattern.chars().collect();
            for value in values.iter().filter(|v| v.len() <= 256) {
                let v: Vec<char> = value.chars().collect();
                assert_eq!(
                    trust::string_like(pattern, value),
                    like_reference(&p, &v),
                    "string_like({pattern:?}, {value:?})"
                );
            }
        }
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let policy = match trust::parse(&text) {
        Ok(p) => p,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };

    // GetRole's URL-encoded form must mean the same policy.
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.starts_with('{') {
        match trust::parse(&percent_encode(trimmed)) {
            Ok(again) => assert_eq!(again, policy, "the URL-encoded policy parses differently"),
            Err(e) => panic!("the URL-encoded policy does not parse: {e}"),
        }
    }

    for claims in fixed_claims().iter().chain(derived_claims(&policy).iter()) {
        let evaluation = trust::evaluate(&policy, claims);
        let _ = evaluation.explain();
        let _ = evaluation.failing_conditions();
        let _ = serde_json::to_string(&evaluation).expect("an evaluation serialises");
        assert_eq!(evaluation.statements.len(), policy.statements.len());
        match (&evaluation.verdict, evaluation.closest) {
            (Verdict::Allowed, Some(i)) => panic!("allowed, yet closest statement {i}"),
            (_, Some(i)) => assert!(i < evaluation.statements.len(), "closest {i} out of range"),
            _ => {}
        }
        check_string_like(&policy, claims);
    }
});
