//! What the role's trust policy and the issuer's keys say about the token: the
//! trust-policy verdict, the issuer, the signature.

use super::links::{IRSA_ASSIGN_ROLE, IRSA_OIDC_PROVIDER, IRSA_SIGNING_KEYS};
use super::{Check, Code, Finding, Inputs, iam_arn, sts_accepted_this_token};
use crate::snapshot::{Signature, Snapshot};

pub(super) const CHECKS: &[Check] = &[trust_policy, token_signature];

/// The trust policy judged against the current token, when both are known.
pub fn trust_policy_evaluation(snapshot: &Snapshot) -> Option<crate::policy::trust::Evaluation> {
    let policy = snapshot.trust_policy.policy.as_ref()?.as_ref().ok()?;
    let token = snapshot.token.decoded()?;
    Some(crate::policy::trust::evaluate(policy, &token.claims))
}

fn trust_policy(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some(eval) = ctx.trust else {
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
    let host = issuer.trim_start_matches("https://");
    let denies = matches!(
        eval.verdict,
        crate::policy::trust::Verdict::ExplicitDeny { .. }
            | crate::policy::trust::Verdict::ImplicitDeny
    );
    if (!eval.issuer_matched || denies) && sts_accepted_this_token(ctx) {
        // Live evidence outranks inference: STS accepted this very token under the role's
        // real trust policy, so the copy irsa-doctor judged is not that policy.
        let why = if eval.issuer_matched {
            eval.explain()
        } else {
            format!("no statement trusts the token's issuer {issuer}")
        };
        out.push(Finding::new(
            Code::TrustPolicyOutdated,
            format!("{source} would not allow this token ({why}), yet STS accepted it in the last test-assume: this copy is not the role's current trust policy"),
            format!(
                "update the copy from the role (aws iam get-role --role-name <name> --query Role.AssumeRolePolicyDocument), or let irsa-doctor read it with --fetch-trust-policy (needs iam:GetRole on the role); the pod itself is fine. If the copy is the intended policy, apply it: the role would then refuse this token (keys {host}:sub and {host}:aud)"
            ),
        ));
        return;
    }
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
                "the policy was written for another cluster, or the cluster was recreated with a new issuer: set Principal.Federated to {}oidc-provider/{host} and rename the condition keys to that host/path (and register that OIDC provider in IAM); see {IRSA_OIDC_PROVIDER}",
                iam_arn(ctx, "<account>")
            ),
        ));
        // The issuer is the root cause; the conditions keyed on it cannot match either.
        return;
    }
    if denies {
        out.push(Finding::new(
            Code::TrustPolicyDenies,
            format!("{source} would not allow this token: {}", eval.explain()),
            format!(
                "make the failing condition match the token, or run the pod as the ServiceAccount the policy names; keys are {host}:sub (system:serviceaccount:<namespace>:<serviceaccount>) and {host}:aud (sts.amazonaws.com); StringEquals treats * literally, use StringLike for wildcards; see {IRSA_ASSIGN_ROLE}"
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
        // STS accepted this very token, so the keys irsa-doctor holds are what is wrong.
        Some(Signature::Invalid { reason }) if sts_accepted_this_token(ctx) => out.push(Finding::new(
            Code::OidcDiscoveryFailed,
            format!("the keys irsa-doctor fetched from {issuer} do not verify the token ({reason}), yet STS accepted it: irsa-doctor's copy of the keys is outdated or not the issuer's"),
            "nothing to fix for STS; if --oidc-discovery-url points at a mirror, refresh it; otherwise the next key fetch settles it",
        )),
        Some(Signature::Invalid { reason }) => out.push(Finding::new(
            Code::TokenSignatureInvalid,
            format!("the token's signature does not verify against {issuer}'s published keys: {reason}"),
            format!("the token was not signed by this cluster's current service-account key: check that the pod's token comes from the projected volume (not a copied token from another cluster), and that the IAM OIDC provider's issuer is this cluster's; STS rejects such tokens with InvalidIdentityToken; see {IRSA_SIGNING_KEYS}"),
        )),
        Some(Signature::Unchecked { reason }) => out.push(Finding::new(
            Code::OidcDiscoveryFailed,
            format!("the token's signature was not checked against {issuer}'s keys: {reason}"),
            "nothing to fix for STS, which fetches the keys itself; to let irsa-doctor verify signatures, allow egress to the issuer or point --oidc-discovery-url at a mirror",
        )),
        Some(Signature::Verified { .. }) | None => {}
    }
}
