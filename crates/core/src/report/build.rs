//! Builds the report from the snapshot and its assessment: reads both, decides nothing.

use super::*;
use crate::assessment::Assessment;
use crate::findings::{AccessEvaluation, Code, Context};
use crate::policy::access::SCOPE_NOTE;
use crate::snapshot::{Signature, TokenState};
use crate::time;
use crate::token::ReadError;

/// Builds the report for `ctx` from its assessment (findings, status, trust verdict).
pub fn build(ctx: &Context<'_>, assessment: &Assessment) -> Report {
    let snap = ctx.snapshot;
    let now = time::unix(ctx.now);
    let sts = &snap.sts;
    let chain = &snap.chain;
    Report {
        version: env!("CARGO_PKG_VERSION"),
        generated_at: time::rfc3339(now),
        status: assessment.status,
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
            session_name: sts.session_name.clone(),
        },
        credential_chain: ChainSection {
            provider: chain.provider.clone(),
            caller_arn: chain.caller_arn.clone(),
            node_role_fallback: chain
                .provider
                .as_ref()
                .map(|_| assessment.is_active(Code::NodeRoleFallback)),
            imds_reachable: chain.imds_reachable(),
            imds: ImdsSection {
                v2_reachable: chain.imds_v2_reachable,
                v1_reachable: chain.imds_v1_reachable,
            },
            error: chain.error.clone(),
        },
        trust_policy: trust_policy_section(snap, assessment.trust.as_ref()),
        access: access_section(snap, &assessment.access),
        app: snap
            .app
            .as_ref()
            .map(|a| app::build(a, assessment.app.as_ref())),
        pod: super::pod::section(&snap.pod_spec),
        findings: assessment.findings.clone(),
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

fn trust_policy_section(
    snap: &crate::snapshot::Snapshot,
    eval: Option<&trust::Evaluation>,
) -> TrustPolicySection {
    let tp = &snap.trust_policy;
    let mut s = TrustPolicySection {
        source: tp.source.clone(),
        notes: tp.notes.clone(),
        ..Default::default()
    };
    if let Some(Err(e)) = &tp.policy {
        s.error = Some(e.clone());
    }
    if let Some(eval) = eval.cloned() {
        use trust::Verdict;
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

fn access_section(
    snap: &crate::snapshot::Snapshot,
    eval: &AccessEvaluation,
) -> Option<AccessSection> {
    let mut s = AccessSection {
        checked_at: snap.access.checked_at.and_then(time::rfc3339_time),
        error: None,
        policies: Vec::new(),
        checks: Vec::new(),
        notes: vec![SCOPE_NOTE.to_owned()],
    };
    match eval {
        AccessEvaluation::Off => return None,
        AccessEvaluation::NotRead => s.notes.push(
            "the role's policies have not been read yet: they are read with the test-assumed credentials (on a Pod Identity pod, the agent's) after the first successful test-assume or agent call".to_owned(),
        ),
        AccessEvaluation::Unverified(e) => s.error = Some(e.message.clone()),
        AccessEvaluation::Checked { policies, checks } => {
            s.policies = policies.clone();
            s.checks = checks.clone();
        }
    }
    Some(s)
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
