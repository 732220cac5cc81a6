//! Info-level advice about a trust policy: loose conditions, literal
//! wildcards, swapped `aud`/`sub`, and why no statement names the issuer.

use super::super::condition::{Base, StringOp};
use super::super::{Policy, Principal, PrincipalKind, Statement, quote_label};
use super::{Context, STS_AUDIENCE, has_scheme, oidc_provider_arn, split_host, trim_slash};

/// Advice collected while evaluating, each note once.
#[derive(Default)]
pub(super) struct Notes(pub(super) Vec<String>);

impl Notes {
    pub(super) fn push(&mut self, note: String) {
        if !self.0.contains(&note) {
            self.0.push(note);
        }
    }
}

fn key_claim_for_issuer(key: &str, issuer_id: Option<&str>) -> Option<String> {
    let (prefix, claim) = key.rsplit_once(':')?;
    issuer_id
        .filter(|i| trim_slash(prefix).eq_ignore_ascii_case(i))
        .map(|_| claim.to_ascii_lowercase())
}

pub(super) fn condition_notes(
    label: &str,
    statement: &Statement,
    ctx: &Context<'_>,
    notes: &mut Notes,
) {
    let label = quote_label(label);
    for cond in &statement.conditions {
        if let Base::String {
            op: StringOp::Equals | StringOp::EqualsIgnoreCase,
            ..
        } = cond.op.base
            && let Some(v) = cond.values.iter().find(|v| v.contains(['*', '?']))
        {
            notes.push(format!(
                "statement {label}: wildcards are literal in {} ({} = {v:?}); use StringLike to match a pattern",
                cond.operator, cond.key
            ));
        }
        if cond
            .key
            .rsplit_once(':')
            .is_some_and(|(p, _)| has_scheme(p))
        {
            notes.push(format!(
                "statement {label}: condition key {} starts with a URL scheme; IAM keys are <issuer host/path>:<claim> without https://",
                cond.key
            ));
        }
        let claim = key_claim_for_issuer(&cond.key, ctx.issuer_id.as_deref());
        match claim.as_deref() {
            Some("aud")
                if cond
                    .values
                    .iter()
                    .any(|v| v.starts_with("system:serviceaccount:")) =>
            {
                notes.push(format!(
                    "statement {label}: {} is compared with a service-account subject; did you mean {}:sub?",
                    cond.key,
                    ctx.issuer_id.as_deref().unwrap_or_default()
                ));
            }
            Some("sub") if cond.values.iter().any(|v| v == STS_AUDIENCE) => {
                notes.push(format!(
                    "statement {label}: {} is compared with {STS_AUDIENCE}, an audience; did you mean {}:aud?",
                    cond.key,
                    ctx.issuer_id.as_deref().unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
}

/// Advice for an Allow that admits this issuer: missing `aud`/`sub` pins make it broader than intended.
pub(super) fn loose_allow_notes(
    label: &str,
    statement: &Statement,
    ctx: &Context<'_>,
    notes: &mut Notes,
) {
    let Some(issuer_id) = ctx.issuer_id.as_deref() else {
        return;
    };
    let pins = |claim: &str| {
        statement
            .conditions
            .iter()
            .any(|c| key_claim_for_issuer(&c.key, Some(issuer_id)).as_deref() == Some(claim))
    };
    let label = quote_label(label);
    if !pins("aud") {
        notes.push(format!(
            "statement {label} allows any audience; pin {issuer_id}:aud to {STS_AUDIENCE}"
        ));
    }
    if !pins("sub") {
        notes.push(format!(
            "statement {label} does not restrict {issuer_id}:sub, so every service account in the cluster can assume this role; pin it to system:serviceaccount:<namespace>:<name>"
        ));
    }
}

/// Why no statement names this issuer: another cluster, a typo in the host, a URL scheme.
pub(super) fn issuer_notes(policy: &Policy, ctx: &Context<'_>, notes: &mut Notes) {
    let Some(issuer_id) = ctx.issuer_id.as_deref() else {
        notes.push(
            "the token has no iss claim, so no OIDC provider in the trust policy can match it"
                .to_owned(),
        );
        return;
    };
    let issuer = ctx.issuer.unwrap_or(issuer_id);
    let mut any_provider = false;
    for (index, statement) in policy.statements.iter().enumerate() {
        let Principal::Listed(entries) = &statement.principal else {
            continue;
        };
        let label = quote_label(&statement.label(index));
        for entry in entries
            .iter()
            .filter(|e| e.kind == PrincipalKind::Federated)
        {
            let Some((_, id)) = oidc_provider_arn(&entry.value) else {
                continue;
            };
            any_provider = true;
            let (host, path) = split_host(trim_slash(id));
            let (token_host, token_path) = split_host(issuer_id);
            let note = if has_scheme(id) {
                format!(
                    "statement {label}: provider ARN {} contains a URL scheme; it must end in oidc-provider/{issuer_id}",
                    entry.value
                )
            } else if path == token_path && !path.is_empty() {
                format!(
                    "statement {label} trusts provider host {host} but the token's issuer host is {token_host} (same cluster id): a typo in the provider ARN? EKS issuer hosts read oidc.eks.<region>.amazonaws.com"
                )
            } else if host.eq_ignore_ascii_case(token_host) {
                format!(
                    "statement {label} trusts {id}, but this token comes from {issuer}: the cluster was recreated, or the policy was written for another cluster"
                )
            } else {
                format!("statement {label} trusts {id}, not this token's issuer {issuer}")
            };
            notes.push(note);
        }
    }
    if !any_provider {
        notes.push(format!(
            "no statement trusts an OIDC provider; IRSA needs \"Principal\": {{\"Federated\": \"arn:aws:iam::<account>:oidc-provider/{issuer_id}\"}}"
        ));
    }
}
