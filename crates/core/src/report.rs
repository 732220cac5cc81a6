//! The `/debug` and `check` report (SPEC section 4): built by one pure
//! function from the same inputs as the findings, rendered as JSON or as a
//! short aligned text an SRE reads in five seconds.
//!
//! Every field of SPEC section 4 is always present; unknown values are
//! `null`. Nothing here can carry the raw token, its signature or a key.

use std::fmt::Write as _;

use serde::Serialize;

use crate::findings::{self, Context, Finding, Status};
use crate::snapshot::Signature;
use crate::snapshot::TokenState;
use crate::time;
use crate::token::ReadError;
use crate::trust_policy;

pub mod access; // issue 14: the `access` section

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// irsa-doctor version.
    pub version: &'static str,
    /// When this report was built.
    pub generated_at: Option<String>,
    /// Worst finding severity.
    pub status: Status,
    /// What the environment says.
    pub environment: EnvironmentSection,
    /// The web-identity (IRSA) token file.
    pub token: TokenSection,
    /// Every configured token under its `token` label (`irsa`, `pod_identity`, `kube_api`, ...).
    pub tokens: Vec<NamedTokenSection>,
    /// The EKS Pod Identity agent, when the pod uses it.
    pub pod_identity: PodIdentitySection,
    /// The latest STS test-assume.
    pub sts: StsSection,
    /// The default credential chain.
    pub credential_chain: ChainSection,
    /// The role's trust policy judged against the token.
    pub trust_policy: TrustPolicySection,
    /// `--expect-access` checked against the role's own policies; null without it (issue 14).
    pub access: Option<access::AccessSection>,
    /// Every finding, worst first.
    pub findings: Vec<Finding>,
}

/// `environment`.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentSection {
    /// Configured role ARN.
    pub role_arn: Option<String>,
    /// Configured token file.
    pub token_file: String,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// `AWS_STS_REGIONAL_ENDPOINTS`.
    pub sts_regional_endpoints: Option<String>,
    /// Access keys in the environment.
    pub static_credentials_in_env: bool,
    /// Every source that shadows web identity (names only).
    pub static_credential_sources: Vec<String>,
}

/// `token`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TokenSection {
    /// The file exists (null before the first read).
    pub present: Option<bool>,
    /// Why the last read failed.
    pub read_error: Option<String>,
    /// When the current token was loaded.
    pub loaded_at: Option<String>,
    /// New tokens loaded so far.
    pub reloads: u64,
    /// `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// `aud`.
    pub audiences: Option<Vec<String>>,
    /// `iat`.
    pub issued_at: Option<String>,
    /// `nbf`.
    pub not_before: Option<String>,
    /// `exp`.
    pub expires_at: Option<String>,
    /// `exp - now`.
    pub expires_in_seconds: Option<i64>,
    /// `now - iat`.
    pub age_seconds: Option<i64>,
    /// `exp - iat`.
    pub lifetime_seconds: Option<i64>,
    /// The `kubernetes.io` claim.
    pub kubernetes: Option<KubernetesSection>,
    /// Header `alg`.
    pub algorithm: Option<String>,
    /// Header `kid`.
    pub key_id: Option<String>,
    /// The issuer's published keys verify the signature (`null`: not checked).
    pub signature_verified: Option<bool>,
    /// Why the signature is invalid or was not checked.
    pub signature_error: Option<String>,
}

/// One entry of `tokens`.
#[derive(Debug, Clone, Serialize)]
pub struct NamedTokenSection {
    /// The `token` label.
    pub name: String,
    /// The file.
    pub file: String,
    /// `warnafter` of the API server's extended-expiry token.
    pub warn_after: Option<String>,
    /// The same fields as `token`.
    #[serde(flatten)]
    pub token: TokenSection,
}

/// `pod_identity`: the last call to the EKS Pod Identity agent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PodIdentitySection {
    /// Whether the pod's environment configures Pod Identity.
    pub configured: bool,
    /// The agent URI.
    pub endpoint: Option<String>,
    /// `success`, `error` or `never`.
    pub result: &'static str,
    /// HTTP status of the last answer.
    pub http_status: Option<u16>,
    /// The agent's error, when it failed.
    pub error_message: Option<String>,
    /// Last attempt.
    pub last_attempt_at: Option<String>,
    /// Last success.
    pub last_success_at: Option<String>,
    /// Latency of the last attempt.
    pub latency_seconds: Option<f64>,
    /// `AccountId` of the credentials.
    pub account_id: Option<String>,
    /// Expiry of the credentials.
    pub credentials_expire_at: Option<String>,
    /// `GetCallerIdentity` with them.
    pub caller_arn: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u64,
}

/// `token.kubernetes`.
#[derive(Debug, Clone, Serialize)]
pub struct KubernetesSection {
    /// Namespace.
    pub namespace: Option<String>,
    /// ServiceAccount.
    pub service_account: Option<String>,
    /// Pod.
    pub pod: Option<String>,
    /// Node.
    pub node: Option<String>,
}

/// `sts`.
#[derive(Debug, Clone, Serialize)]
pub struct StsSection {
    /// Endpoint used.
    pub endpoint: Option<String>,
    /// `success`, `error` or `never`.
    pub result: &'static str,
    /// Last attempt.
    pub last_attempt_at: Option<String>,
    /// Last success.
    pub last_success_at: Option<String>,
    /// Latency of the last attempt.
    pub latency_seconds: Option<f64>,
    /// STS error code.
    pub error_code: Option<String>,
    /// STS error message.
    pub error_message: Option<String>,
    /// Assumed-role ARN of the last success.
    pub assumed_role_arn: Option<String>,
    /// Expiry of the test credentials.
    pub credentials_expire_at: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// GetCallerIdentity with the test credentials.
    pub caller_arn: Option<String>,
    /// Local clock minus STS's `Date`, seconds.
    pub clock_skew_seconds: Option<f64>,
}

/// `credential_chain`.
#[derive(Debug, Clone, Serialize)]
pub struct ChainSection {
    /// Provider that answered.
    pub provider: Option<String>,
    /// Caller ARN with the chain's credentials.
    pub caller_arn: Option<String>,
    /// Whether that is the node's role.
    pub node_role_fallback: Option<bool>,
    /// Either IMDS version answered.
    pub imds_reachable: Option<bool>,
    /// IMDS versions separately.
    pub imds: ImdsSection,
    /// Why the chain failed, when it did.
    pub error: Option<String>,
}

/// `trust_policy`: where the policy came from, the verdict and the per-condition table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrustPolicySection {
    /// `file <path>` or `iam:GetRole <role>`; null when none is configured.
    pub source: Option<String>,
    /// Why the policy could not be read or parsed.
    pub error: Option<String>,
    /// `allowed`, `explicit_deny`, `implicit_deny` or `unknown` (unevaluable conditions); null when not evaluated.
    pub verdict: Option<&'static str>,
    /// The statement that decided a denial (explicit deny) or came closest to allowing.
    pub deciding_statement: Option<String>,
    /// Whether any statement trusts this token's issuer.
    pub issuer_matched: Option<bool>,
    /// How many statements were evaluated.
    pub statements_evaluated: usize,
    /// Every statement with its principal, action and condition results.
    pub statements: Vec<trust_policy::StatementResult>,
    /// Info-level advice (missing aud pin, literal * in StringEquals, no iam:GetRole permission, ...).
    pub notes: Vec<String>,
}

/// `credential_chain.imds`.
#[derive(Debug, Clone, Serialize)]
pub struct ImdsSection {
    /// IMDSv2 token PUT answered.
    pub v2_reachable: Option<bool>,
    /// IMDSv1 GET answered.
    pub v1_reachable: Option<bool>,
}

/// Builds the report; the findings are computed here so both always agree.
pub fn build(ctx: &Context<'_>) -> Report {
    let findings = findings::evaluate(ctx);
    build_with(ctx, findings)
}

/// Builds the report from already computed findings.
pub fn build_with(ctx: &Context<'_>, findings: Vec<Finding>) -> Report {
    let snap = ctx.snapshot;
    let now = time::unix(ctx.now);
    let sts = &snap.sts;
    let chain = &snap.chain;
    Report {
        version: env!("CARGO_PKG_VERSION"),
        generated_at: time::rfc3339(now),
        status: Status::of(&findings),
        environment: EnvironmentSection {
            role_arn: ctx.config.role_arn.clone(),
            token_file: ctx.config.token_file.display().to_string(),
            region: ctx.env.region.clone(),
            sts_regional_endpoints: ctx.env.sts_regional_endpoints.clone(),
            static_credentials_in_env: ctx.env.static_keys_in_env(),
            static_credential_sources: ctx
                .env
                .static_sources
                .iter()
                .map(ToString::to_string)
                .collect(),
        },
        token: token_section(ctx, now),
        tokens: named_tokens(ctx, now),
        pod_identity: pod_identity_section(ctx),
        sts: StsSection {
            endpoint: sts.endpoint.clone(),
            result: sts.result.as_str(),
            last_attempt_at: sts.last_attempt_at.and_then(time::rfc3339_time),
            last_success_at: sts.last_success_at.and_then(time::rfc3339_time),
            latency_seconds: sts.latency_seconds,
            error_code: sts.error_code.clone(),
            error_message: sts.error_message.clone(),
            assumed_role_arn: sts.assumed_role_arn.clone(),
            credentials_expire_at: sts.credentials_expire_at.and_then(time::rfc3339_time),
            consecutive_failures: sts.consecutive_failures,
            caller_arn: sts.caller_arn.clone(),
            clock_skew_seconds: sts.clock_skew_seconds,
        },
        credential_chain: ChainSection {
            provider: chain.provider.clone(),
            caller_arn: chain.caller_arn.clone(),
            node_role_fallback: chain.provider.as_ref().map(|_| {
                findings
                    .iter()
                    .any(|f| f.code == findings::Code::NodeRoleFallback)
            }),
            imds_reachable: chain.imds_reachable(),
            imds: ImdsSection {
                v2_reachable: chain.imds_v2_reachable,
                v1_reachable: chain.imds_v1_reachable,
            },
            error: chain.error.clone(),
        },
        trust_policy: trust_policy_section(snap),
        access: access::section(ctx),
        findings,
    }
}

fn named_tokens(ctx: &Context<'_>, now: i64) -> Vec<NamedTokenSection> {
    let path_of = |name: &str| {
        if name == crate::config::IRSA {
            ctx.config.token_file.display().to_string()
        } else {
            ctx.config
                .extra_tokens
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.path.display().to_string())
                .unwrap_or_default()
        }
    };
    ctx.tokens()
        .into_iter()
        .map(|(name, t)| NamedTokenSection {
            name: name.to_owned(),
            file: path_of(name),
            warn_after: t
                .decoded()
                .and_then(|d| d.claims.kubernetes.warn_after)
                .and_then(time::rfc3339),
            token: token_section_of(ctx, t, now),
        })
        .collect()
}

fn pod_identity_section(ctx: &Context<'_>) -> PodIdentitySection {
    let p = &ctx.snapshot.pod_identity;
    PodIdentitySection {
        configured: ctx.config.pod_identity.is_some(),
        endpoint: p
            .endpoint
            .clone()
            .or_else(|| ctx.config.pod_identity.as_ref().map(|c| c.endpoint.clone())),
        result: p.result.as_str(),
        http_status: p.http_status,
        error_message: p.error_message.clone(),
        last_attempt_at: p.last_attempt_at.and_then(time::rfc3339_time),
        last_success_at: p.last_success_at.and_then(time::rfc3339_time),
        latency_seconds: p.latency_seconds,
        account_id: p.account_id.clone(),
        credentials_expire_at: p.credentials_expire_at.and_then(time::rfc3339_time),
        caller_arn: p.caller_arn.clone(),
        consecutive_failures: p.consecutive_failures,
    }
}

fn trust_policy_section(snap: &crate::snapshot::Snapshot) -> TrustPolicySection {
    let tp = &snap.trust_policy;
    let mut s = TrustPolicySection {
        source: tp.source.clone(),
        notes: tp.notes.clone(),
        ..Default::default()
    };
    if let Some(Err(e)) = &tp.policy {
        s.error = Some(e.clone());
    }
    if let Some(eval) = crate::findings::trust_policy_evaluation(snap) {
        use trust_policy::Verdict;
        s.verdict = Some(match eval.verdict {
            Verdict::Allowed => "allowed",
            Verdict::ExplicitDeny { .. } => "explicit_deny",
            Verdict::ImplicitDeny => "implicit_deny",
            Verdict::Unknown => "unknown",
        });
        s.deciding_statement = match &eval.verdict {
            Verdict::ExplicitDeny { statement } => Some(statement.clone()),
            _ => eval
                .closest
                .and_then(|i| eval.statements.get(i))
                .map(|st| st.label.clone()),
        };
        s.issuer_matched = Some(eval.issuer_matched);
        s.statements_evaluated = eval.statements.len();
        s.notes.extend(eval.notes);
        s.statements = eval.statements;
    }
    s
}

fn token_section(ctx: &Context<'_>, now: i64) -> TokenSection {
    token_section_of(ctx, &ctx.snapshot.token, now)
}

fn token_section_of(
    ctx: &Context<'_>,
    t: &crate::snapshot::TokenSnapshot,
    now: i64,
) -> TokenSection {
    let mut s = TokenSection {
        loaded_at: t.loaded_at.and_then(time::rfc3339_time),
        reloads: t.reloads,
        ..Default::default()
    };
    match &t.state {
        TokenState::NotRead => {}
        TokenState::Failed(e) => {
            s.present = Some(!matches!(e, ReadError::Missing { .. }));
            s.read_error = Some(e.to_string());
        }
        TokenState::Loaded(d) => {
            let c = &d.claims;
            s.present = Some(true);
            s.issuer = c.issuer.clone();
            s.subject = c.subject.clone();
            s.audiences = Some(c.audiences.clone());
            s.issued_at = c.issued_at.and_then(time::rfc3339);
            s.not_before = c.not_before.and_then(time::rfc3339);
            s.expires_at = c.expires_at.and_then(time::rfc3339);
            s.expires_in_seconds = c.expires_at.map(|e| e.saturating_sub(now));
            s.age_seconds = c.issued_at.map(|i| now.saturating_sub(i));
            s.lifetime_seconds = c.lifetime_seconds();
            s.kubernetes = Some(KubernetesSection {
                namespace: c.kubernetes.namespace.clone(),
                service_account: c.kubernetes.service_account.clone(),
                pod: c.kubernetes.pod.clone(),
                node: c.kubernetes.node.clone(),
            });
            s.algorithm = d.algorithm.clone();
            s.key_id = d.key_id.clone();
            // Signatures are checked for the web-identity token only.
            let signature = if std::ptr::eq(t, &ctx.snapshot.token) {
                ctx.snapshot.current_signature()
            } else {
                None
            };
            (s.signature_verified, s.signature_error) = match signature {
                Some(Signature::Verified { .. }) => (Some(true), None),
                Some(Signature::Invalid { reason }) => (Some(false), Some(reason.clone())),
                Some(Signature::Unchecked { reason }) => (None, Some(reason.clone())),
                None => (None, None),
            };
        }
    }
    s
}

impl Report {
    /// Pretty JSON (the SPEC section 4 document).
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail; stay total anyway.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

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
                    trust_policy::Effect::Allow => "(Allow)",
                    trust_policy::Effect::Deny => "(Deny)",
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
            let mut conds: Vec<&trust_policy::ConditionResult> = st.conditions.iter().collect();
            conds.sort_by_key(|c| c.outcome != trust_policy::Outcome::Fail);
            for c in conds {
                let outcome = match c.outcome {
                    trust_policy::Outcome::Pass => "pass",
                    trust_policy::Outcome::Fail => "FAIL",
                    trust_policy::Outcome::Unevaluable => "n/a ",
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

#[cfg(test)]
mod tests;
