//! Who the token says it is: audience and subject.

use super::links::{IRSA_ASSIGN_ROLE, IRSA_TROUBLESHOOTING, POD_ID_HOW_IT_WORKS};
use super::{Check, Code, Finding, Inputs, issuer_host, sts_accepted_this_token};

pub(super) const CHECKS: &[Check] = &[audience, subject, extra_token_audiences];

/// Audiences the trust policy's `<issuer>:aud` conditions accept for this token (those that
/// pass in a statement trusting its issuer): a custom audience the role expects is expected.
fn trust_policy_audiences<'a>(ctx: &Inputs<'a>) -> Vec<&'a str> {
    ctx.trust
        .into_iter()
        .flat_map(|e| &e.statements)
        .filter(|s| s.effect == crate::policy::trust::Effect::Allow && s.principal_matches)
        .flat_map(|s| &s.conditions)
        .filter(|c| c.key.ends_with(":aud") && c.outcome == crate::policy::trust::Outcome::Pass)
        .flat_map(|c| c.actual.iter().flatten().map(String::as_str))
        .collect()
}

fn audience(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some(token) = ctx.snapshot.token.decoded() else {
        return;
    };
    let want = &ctx.config.expected_audience;
    let have = &token.claims.audiences;
    let from_policy = trust_policy_audiences(ctx);
    // Live evidence outranks inference: STS accepted this very token, so its audience is one
    // the OIDC provider lists, whatever irsa-doctor expected.
    if have
        .iter()
        .any(|a| a == want || from_policy.contains(&a.as_str()))
        || sts_accepted_this_token(ctx)
    {
        return;
    }
    let shown = serde_json::to_string(have).unwrap_or_default();
    out.push(Finding::new(
        Code::AudienceMismatch,
        format!("token audience {shown} does not contain {want}; STS answers InvalidIdentityToken: Incorrect token audience"),
        format!(
            "set the projected volume's serviceAccountToken.audience to {want} (ServiceAccount annotation eks.amazonaws.com/audience, or the webhook's --token-audience), and list it in the IAM OIDC provider's audiences (ClientIDList) and the trust policy's {}:aud condition; if the pod uses a custom audience on purpose, pass it as --expected-audience; see {IRSA_TROUBLESHOOTING}",
            issuer_host(ctx)
        ),
    ).about(crate::config::IRSA));
}

fn subject(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let (Some(token), Some(want)) = (ctx.snapshot.token.decoded(), &ctx.config.expected_subject)
    else {
        return;
    };
    let have = token.claims.subject.as_deref();
    if have == Some(want.as_str()) {
        return;
    }
    let shown = have.unwrap_or("no sub claim");
    out.push(Finding::new(
        Code::SubjectMismatch,
        format!("token subject {shown} differs from the expected {want}"),
        format!(
            "run the pod as the intended ServiceAccount (spec.serviceAccountName), or make the role's trust policy condition {}:sub match {shown}; note StringEquals treats * literally, wildcards need StringLike; see {IRSA_ASSIGN_ROLE}",
            issuer_host(ctx)
        ),
    ));
}

fn extra_token_audiences(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    for (cfg, token) in ctx
        .config
        .extra_tokens
        .iter()
        .zip(&ctx.snapshot.extra_tokens)
    {
        let (Some(want), Some(d)) = (&cfg.expected_audience, token.decoded()) else {
            continue;
        };
        if d.claims.audiences.iter().any(|a| a == want) {
            continue;
        }
        out.push(Finding::new(
            Code::AudienceMismatch,
            format!(
                "[{} token] audience {} does not contain {want}",
                cfg.name,
                serde_json::to_string(&d.claims.audiences).unwrap_or_default()
            ),
            format!("the EKS Pod Identity webhook projects this token with audience pods.eks.amazonaws.com; check the pod's eks-pod-identity-token volume was not edited, and that AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE points at it; see {POD_ID_HOW_IT_WORKS}"),
        ).about(&cfg.name));
    }
}
