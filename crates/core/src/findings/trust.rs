//! What the role's trust policy and the issuer's keys say about the token: the
//! trust-policy verdict, the issuer, the signature.

use super::{Check, Code, Finding, Inputs};
use crate::snapshot::{Signature, Snapshot};
use crate::trust_policy;

pub(super) const CHECKS: &[Check] = &[trust_policy, token_signature];

/// The trust policy judged against the current token, when both are known.
pub fn trust_policy_evaluation(snapshot: &Snapshot) -> Option<trust_policy::Evaluation> {
    let policy = snapshot.trust_policy.policy.as_ref()?.as_ref().ok()?;
    let token = snapshot.token.decoded()?;
    Some(trust_policy::evaluate(policy, &token.claims))
}

fn trust_policy(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some(eval) = trust_policy_evaluation(ctx.snapshot) else {
        return;
    };
    let source = ctx
        .snapshot
        .trust_policy
        .source
        .as_deref()
        .unwrap_or("the trust policy");
    let issuer = ctx
        .snapshot
        .token
        .decoded()
        .and_then(|d| d.claims.issuer.clone())
        .unwrap_or_default();
    if !eval.issuer_matched {
        let principals: Vec<&str> = eval
            .statements
            .iter()
            .flat_map(|s| s.principal.iter().map(String::as_str))
            .collect();
        out.push(Finding::new(
            Code::IssuerMismatch,
            format!(
                "no statement of {source} trusts this token's issuer {issuer}: its federated principals are [{}]",
                principals.join(", ")
            ),
            format!(
                "the policy was written for another cluster, or the cluster was recreated with a new issuer: set Principal.Federated to arn:aws:iam::<account>:oidc-provider/{} and rename the condition keys to that host/path (and register that OIDC provider in IAM) [r6][r8]",
                issuer.trim_start_matches("https://")
            ),
        ));
        // The issuer is the root cause; the conditions keyed on it cannot match either.
        return;
    }
    if matches!(
        eval.verdict,
        trust_policy::Verdict::ExplicitDeny { .. } | trust_policy::Verdict::ImplicitDeny
    ) {
        out.push(Finding::new(
            Code::TrustPolicyDenies,
            format!("{source} would not allow this token: {}", eval.explain()),
            format!(
                "make the failing condition match the token, or run the pod as the ServiceAccount the policy names; keys are {}:sub (system:serviceaccount:<namespace>:<serviceaccount>) and {}:aud (sts.amazonaws.com); StringEquals treats * literally, use StringLike for wildcards [r8]",
                issuer.trim_start_matches("https://"),
                issuer.trim_start_matches("https://")
            ),
        ));
    }
}

fn token_signature(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let issuer = ctx
        .snapshot
        .token
        .decoded()
        .and_then(|d| d.claims.issuer.clone())
        .unwrap_or_else(|| "the issuer".into());
    match ctx.snapshot.current_signature() {
        Some(Signature::Invalid { reason }) => out.push(Finding::new(
            Code::TokenSignatureInvalid,
            format!("the token's signature does not verify against {issuer}'s published keys: {reason}"),
            "the token was not signed by this cluster's current service-account key: check that the pod's token comes from the projected volume (not a copied token from another cluster), and that the IAM OIDC provider's issuer is this cluster's; STS rejects such tokens with InvalidIdentityToken [r6][r9]",
        )),
        Some(Signature::Unchecked { reason }) => out.push(Finding::new(
            Code::OidcDiscoveryFailed,
            format!("could not fetch {issuer}'s OIDC discovery document or keys, so the signature was not checked: {reason}"),
            "nothing to fix for STS, which fetches the keys itself; to let irsa-doctor verify signatures, allow egress to the issuer or point --oidc-discovery-url at a mirror [r10]",
        )),
        Some(Signature::Verified { .. }) | None => {}
    }
}
