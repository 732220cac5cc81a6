//! The human summary of a report: status, findings worst first, then the facts behind them.

use std::fmt::Write as _;

use super::*;
use crate::policy::access::Decision;

impl Report {
    /// The human summary: status, findings worst first, then the facts behind them.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "irsa-doctor {}  status: {}  at {}",
            self.version,
            self.status.as_str().to_ascii_uppercase(),
            self.generated_at.as_deref().unwrap_or("-")
        );
        o.push('\n');
        if self.findings.is_empty() {
            o.push_str("FINDINGS  none\n");
        } else {
            let _ = writeln!(o, "FINDINGS ({})", self.findings.len());
            let width = self
                .findings
                .iter()
                .map(|f| f.code.as_str().len())
                .max()
                .unwrap_or(0);
            for f in &self.findings {
                let _ = writeln!(
                    o,
                    "  {:<8}  {:<width$}  {}",
                    f.severity.as_str().to_ascii_uppercase(),
                    f.code.as_str(),
                    f.message
                );
                let _ = writeln!(o, "  {:<8}  {:<width$}  fix: {}", "", "", f.remediation);
                let _ = writeln!(
                    o,
                    "  {:<8}  {:<width$}  see: {}",
                    "",
                    "",
                    f.code.runbook_url()
                );
            }
        }
        let dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
        let t = &self.token;
        let k = t.kubernetes.as_ref();
        let mut rows: Vec<(&str, Vec<(&str, String)>)> = vec![
            (
                "TOKEN",
                vec![
                    ("file", self.environment.token_file.clone()),
                    ("read error", dash(t.read_error.as_deref())),
                    ("subject", dash(t.subject.as_deref())),
                    (
                        "audiences",
                        t.audiences
                            .as_ref()
                            .map(|a| a.join(", "))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    ("issuer", dash(t.issuer.as_deref())),
                    (
                        "expires",
                        match (&t.expires_at, t.expires_in_seconds) {
                            (Some(at), Some(secs)) => format!("{at} (in {})", human_secs(secs)),
                            _ => "-".into(),
                        },
                    ),
                    (
                        "age",
                        t.age_seconds.map(human_secs).unwrap_or_else(|| "-".into()),
                    ),
                    (
                        "signature",
                        match (t.signature_verified, &t.signature_error) {
                            (Some(true), _) => {
                                format!("verified with key {}", t.key_id.as_deref().unwrap_or("-"))
                            }
                            (Some(false), Some(e)) => format!("INVALID: {e}"),
                            (None, Some(e)) => format!("not checked: {e}"),
                            _ => "not checked".into(),
                        },
                    ),
                    ("reloads", t.reloads.to_string()),
                    (
                        "pod",
                        k.map(|k| {
                            format!(
                                "{}/{} on {}",
                                k.namespace.as_deref().unwrap_or("-"),
                                k.pod.as_deref().unwrap_or("-"),
                                k.node.as_deref().unwrap_or("-")
                            )
                        })
                        .unwrap_or_else(|| "-".into()),
                    ),
                ],
            ),
            (
                "STS",
                vec![
                    ("role", dash(self.environment.role_arn.as_deref())),
                    ("endpoint", dash(self.sts.endpoint.as_deref())),
                    ("result", self.sts.result.to_owned()),
                    (
                        "error",
                        match (&self.sts.error_code, &self.sts.error_message) {
                            (Some(c), Some(m)) => format!("{c}: {m}"),
                            (Some(c), None) => c.clone(),
                            _ => "-".into(),
                        },
                    ),
                    ("last assumed", dash(self.sts.assumed_role_arn.as_deref())),
                    ("last success", dash(self.sts.last_success_at.as_deref())),
                ],
            ),
            (
                "CHAIN",
                vec![
                    ("provider", dash(self.credential_chain.provider.as_deref())),
                    ("caller", dash(self.credential_chain.caller_arn.as_deref())),
                    ("imds", imds_text(&self.credential_chain.imds)),
                ],
            ),
        ];
        if self.pod_identity.configured {
            let p = &self.pod_identity;
            rows.push((
                "POD IDENTITY",
                vec![
                    ("agent", dash(p.endpoint.as_deref())),
                    ("result", p.result.to_owned()),
                    (
                        "error",
                        match (p.http_status, &p.error_message) {
                            (Some(s), Some(m)) => format!("HTTP {s}: {m}"),
                            (None, Some(m)) => m.clone(),
                            _ => "-".into(),
                        },
                    ),
                    ("account", dash(p.account_id.as_deref())),
                    ("caller", dash(p.caller_arn.as_deref())),
                ],
            ));
        }
        let others: Vec<(&str, String)> = self
            .tokens
            .iter()
            .filter(|t| t.name != crate::config::IRSA)
            .map(|t| {
                let state = match (
                    &t.token.read_error,
                    &t.token.expires_at,
                    t.token.expires_in_seconds,
                ) {
                    (Some(e), _, _) => e.clone(),
                    (None, Some(at), Some(secs)) => format!(
                        "{} expires {at} (in {}){}",
                        t.token.subject.as_deref().unwrap_or("-"),
                        human_secs(secs),
                        t.warn_after
                            .as_deref()
                            .map(|w| format!(", warnafter {w}"))
                            .unwrap_or_default()
                    ),
                    _ => "not read yet".into(),
                };
                (t.name.as_str(), state)
            })
            .collect();
        if !others.is_empty() {
            rows.push(("OTHER TOKENS", others));
        }
        if !self.environment.static_credential_sources.is_empty() {
            rows[2].1.push((
                "static",
                self.environment.static_credential_sources.join("; "),
            ));
        }
        for (section, fields) in rows {
            let _ = writeln!(o, "\n{section}");
            for (name, value) in fields {
                let _ = writeln!(o, "  {name:<13} {value}");
            }
        }
        self.trust_policy.write_text(&mut o);
        if let Some(a) = &self.access {
            a.write_text(&mut o);
        }
        if let Some(a) = &self.app {
            a.write_text(&mut o);
        }
        if let Some(p) = &self.pod {
            p.write_text(&mut o);
        }
        o
    }
}

impl TrustPolicySection {
    /// The TRUST POLICY section: verdict, then one line per condition, failures first within each statement.
    fn write_text(&self, o: &mut String) {
        let Some(source) = &self.source else { return };
        let _ = writeln!(o, "\nTRUST POLICY  {source}");
        if let Some(e) = &self.error {
            let _ = writeln!(o, "  error         {e}");
        }
        if let Some(v) = self.verdict {
            let deciding = self
                .deciding_statement
                .as_deref()
                .map(|d| format!(" (statement {d})"))
                .unwrap_or_default();
            let _ = writeln!(o, "  verdict       {v}{deciding}");
        }
        for st in &self.statements {
            let _ = writeln!(
                o,
                "  statement {} {}: principal {}, action {}",
                st.label,
                match st.effect {
                    trust::Effect::Allow => "(Allow)",
                    trust::Effect::Deny => "(Deny)",
                },
                if st.principal_matches {
                    "matches"
                } else {
                    "does not match"
                },
                if st.action_matches {
                    "matches"
                } else {
                    "does not match"
                },
            );
            let mut conds: Vec<&trust::ConditionResult> = st.conditions.iter().collect();
            conds.sort_by_key(|c| c.outcome != trust::Outcome::Fail);
            for c in conds {
                let outcome = match c.outcome {
                    trust::Outcome::Pass => "pass",
                    trust::Outcome::Fail => "FAIL",
                    trust::Outcome::Unevaluable => "n/a ",
                };
                let actual = c
                    .actual
                    .as_ref()
                    .map(|a| a.join(", "))
                    .unwrap_or_else(|| "(absent)".into());
                let _ = writeln!(
                    o,
                    "    {outcome}  {} {}  expected {}  token has {actual}",
                    c.operator,
                    c.key,
                    c.expected.join(" | ")
                );
            }
        }
        for n in &self.notes {
            let _ = writeln!(o, "  note          {n}");
        }
    }
}

fn imds_text(i: &ImdsSection) -> String {
    let one = |v: Option<bool>| match v {
        Some(true) => "reachable",
        Some(false) => "blocked",
        None => "not checked",
    };
    format!("v2 {}, v1 {}", one(i.v2_reachable), one(i.v1_reachable))
}

/// `93784` → `1d2h3m4s`; negative values keep their sign.
fn human_secs(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let d = std::time::Duration::from_secs(secs.unsigned_abs());
    format!("{sign}{}", humantime::format_duration(d)).replace(' ', "")
}

impl AccessSection {
    /// The ACCESS section: one line per check, like the trust-policy section.
    fn write_text(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "\nACCESS  {} (checked {})",
            if self.policies.is_empty() {
                "-".to_owned()
            } else {
                self.policies.join(", ")
            },
            self.checked_at.as_deref().unwrap_or("never")
        );
        if let Some(e) = &self.error {
            let _ = writeln!(o, "  error         {e}");
        }
        for c in &self.checks {
            let decision = match c.decision {
                Decision::Allowed => "allowed",
                Decision::ImplicitDeny => "DENIED (implicit)",
                Decision::ExplicitDeny => "DENIED (explicit)",
                Decision::Unknown => "unknown",
            };
            let by = match (&c.deciding_statement, &c.policy) {
                (Some(st), Some(p)) => format!("  [{p} / {st}]"),
                _ => String::new(),
            };
            let _ = writeln!(
                o,
                "  {decision:<17} {} on {}{by}: {}",
                c.action, c.resource, c.detail
            );
        }
        for n in &self.notes {
            let _ = writeln!(o, "  note          {n}");
        }
    }
}
