//! The live STS test-assume: its failure, the identity it returned, the clock it saw.

use super::chain::region_missing;
use super::links::{
    IRSA_OIDC_PROVIDER, IRSA_TROUBLESHOOTING, OIDC_THUMBPRINT, STS_API, STS_REGIONS,
    STS_VPC_ENDPOINT, TIME_SYNC,
};
use super::{
    Check, Code, Finding, Inputs, SKEW_ALLOWANCE_SECS, configured_role, issuer_host, node_hint,
    partition,
};
use crate::arn::role_identity;
use crate::outcome::StsFailure;
use crate::partition::Partition;
use crate::snapshot::StsResult;

pub(super) const CHECKS: &[Check] = &[sts_probe, role_mismatch, clock_skew];

/// The finding a failed test-assume raises, by what happened (the `failure` table's class).
pub(super) fn finding_code(class: StsFailure) -> Code {
    match class {
        StsFailure::Rejected => Code::StsAssumeFailed,
        StsFailure::Throttled => Code::StsThrottled,
        StsFailure::Unreachable => Code::StsUnreachable,
    }
}

/// Remediation for an STS error, by code and the message variants STS is known to send
/// (`docs/failure-modes.md`, "STS and the trust policy"); ARNs follow `partition` (of
/// `AWS_ROLE_ARN`), the role named is `role`.
pub fn sts_remediation(
    code: &str,
    message: &str,
    issuer: &str,
    role: Option<&str>,
    partition: Partition,
) -> String {
    let msg = message.to_ascii_lowercase();
    let iam = partition.iam_arn_prefix();
    match code {
        "AccessDenied" => {
            let (account, name) = role
                .and_then(role_identity)
                .unwrap_or(("<account>", "<name>"));
            format!(
                "the role's trust policy rejects this token: check Principal.Federated is {iam}{account}:oidc-provider/{issuer}, the condition {issuer}:sub matches this token's sub (StringEquals treats * literally; use StringLike), and {issuer}:aud is sts.amazonaws.com; --trust-policy-file names the failing condition. STS gives the same AccessDenied when the role does not exist or AWS_ROLE_ARN names the wrong account: check aws iam get-role --role-name {name} in account {account}; see {IRSA_TROUBLESHOOTING}"
            )
        }
        "InvalidIdentityToken" if msg.contains("no openidconnect provider") => format!(
            "create the IAM OIDC provider for https://{issuer} in the role's account (eksctl utils associate-iam-oidc-provider, or aws iam create-open-id-connect-provider); a recreated cluster has a new issuer id ({IRSA_OIDC_PROVIDER}). If the provider exists, the account may have deactivated STS in this region (IAM > Account settings > Security Token Service endpoints): STS then answers this same error, not RegionDisabledException; activate the region or set AWS_REGION to an active one ({STS_REGIONS})"
        ),
        "InvalidIdentityToken" if msg.contains("audience") => format!(
            "add the token's audience to the IAM OIDC provider's audiences (ClientIDList), or set the projected token's audience to sts.amazonaws.com (in aws-cn too: the provider lists sts.amazonaws.com, not sts.amazonaws.com.cn); see {IRSA_TROUBLESHOOTING}"
        ),
        "InvalidIdentityToken" if msg.contains("thumbprint") => format!(
            "update the OIDC provider's thumbprint to that of the top CA certificate in the issuer's chain, not its leaf certificate (aws iam update-open-id-connect-provider-thumbprint); see {OIDC_THUMBPRINT}"
        ),
        "InvalidIdentityToken" if msg.contains("verification key") => format!(
            "STS could not fetch the signing keys from https://{issuer}/.well-known/openid-configuration: usually transient on AWS's side; if it persists the issuer is not publicly reachable; see {STS_API}"
        ),
        "InvalidIdentityToken" => format!(
            "STS rejected the token itself: compare its iss, aud and exp with the IAM OIDC provider for https://{issuer}; see {IRSA_TROUBLESHOOTING}"
        ),
        "ExpiredTokenException" => {
            "the token presented was expired: see TOKEN_EXPIRED / TOKEN_NOT_ROTATED and the node's clock".into()
        }
        "IDPCommunicationError" => format!(
            "STS could not reach the issuer https://{issuer}: usually transient (SDKs retry it); if it persists check the issuer's availability; see {STS_API}"
        ),
        "IDPRejectedClaim" => "the identity provider rejected a claim of the token: compare the token's claims with the OIDC provider registration".into(),
        "RegionDisabledException" => format!(
            "STS is not activated in this region for the role's account: activate it (IAM > Account settings > STS endpoints) or set AWS_REGION to an active region; see {STS_REGIONS}"
        ),
        "InvalidParameterValue" | "ValidationError" => format!(
            "STS rejected the request's parameters: check AWS_ROLE_ARN is a full role ARN ({iam}<account>:role/<name>)"
        ),
        "InternalFailure" | "InternalError" | "ServiceUnavailable" => {
            "STS failed on its side (HTTP 5xx) even after the probe's retries: usually transient, the SDKs retry it too; if it persists check the AWS Health Dashboard for STS in this region".into()
        }
        _ => format!("look the error code up in the STS AssumeRoleWithWebIdentity API reference ({STS_API}); a 5xx-style code is on AWS's side and usually transient, a 4xx one names what the request got wrong"),
    }
}

fn sts_probe(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let sts = &ctx.snapshot.sts;
    if sts.result != StsResult::Error {
        return;
    }
    let code = sts.error_code.as_deref().unwrap_or("Unknown");
    let message = sts.error_message.as_deref().unwrap_or("no message");
    let endpoint = sts.endpoint.as_deref().unwrap_or("the STS endpoint");
    let failures = sts.consecutive_failures;
    let finding = match sts.failure {
        Some(StsFailure::Throttled) => Finding::new(
            Code::StsThrottled,
            format!(
                "STS throttled the test-assume ({code}: {message}); {failures} attempt(s) in a row; probing backs off"
            ),
            "something in the account calls STS too often (a new SDK client per request, reconcile loops, mass pod start-up); share credential providers, and keep --probe-interval at 5m or more",
        ),
        // Without a region there is no regional endpoint to reach: the cause is the region
        // (REGION_MISSING), not the network.
        Some(StsFailure::Unreachable | StsFailure::Rejected) if region_missing(ctx) => {
            Finding::new(
                finding_code(sts.failure.unwrap_or(StsFailure::Rejected)),
                format!(
                    "could not call STS: no region is configured, so the SDK has no regional endpoint to send AssumeRoleWithWebIdentity to ({code}: {message}); {failures} attempt(s) in a row"
                ),
                "set the region (see REGION_MISSING); nothing points at the network or the role",
            )
        }
        Some(StsFailure::Unreachable) => Finding::new(
            Code::StsUnreachable,
            format!(
                "STS at {endpoint} could not be reached ({code}: {message}); {failures} attempt(s) in a row"
            ),
            format!(
                "check DNS and egress to the regional STS endpoint (a VPC endpoint for sts in private clusters, security groups, NetworkPolicy, HTTPS_PROXY/NO_PROXY) and AWS_REGION; see {STS_VPC_ENDPOINT}"
            ),
        ),
        Some(StsFailure::Rejected) | None => Finding::new(
            Code::StsAssumeFailed,
            format!(
                "AssumeRoleWithWebIdentity failed: {code}: {message}; {failures} attempt(s) in a row"
            ),
            sts_remediation(
                code,
                message,
                &issuer_host(ctx),
                configured_role(ctx),
                partition(ctx),
            ),
        ),
    };
    out.push(finding);
}

fn role_mismatch(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let (Some(role), Some(caller)) = (configured_role(ctx), ctx.snapshot.sts.caller_arn.as_deref())
    else {
        return;
    };
    if ctx.snapshot.sts.result != StsResult::Success {
        return;
    }
    if role_identity(role).is_some() && role_identity(role) == role_identity(caller) {
        return;
    }
    out.push(Finding::new(
        Code::RoleMismatch,
        format!("GetCallerIdentity with the test-assumed credentials answered {caller}, not the configured role {role}"),
        "check AWS_ROLE_ARN (ServiceAccount annotation eks.amazonaws.com/role-arn) names the intended role and account, and that no STS proxy or endpoint override (AWS_ENDPOINT_URL_STS) answers for another account",
    ));
}

fn clock_skew(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some(skew) = ctx.snapshot.sts.clock_skew_seconds else {
        return;
    };
    if skew.abs() <= SKEW_ALLOWANCE_SECS as f64 {
        return;
    }
    let direction = if skew > 0.0 { "ahead of" } else { "behind" };
    out.push(Finding::new(
        Code::ClockSkew,
        format!("the local clock is {:.0}s {direction} STS's Date header (more than {SKEW_ALLOWANCE_SECS}s)", skew.abs()),
        format!(
            "fix time sync on {} (chrony/NTP, Amazon Time Sync Service at 169.254.169.123); skew breaks SigV4 signing and token validity checks; see {TIME_SYNC}",
            node_hint(ctx)
        ),
    ));
}
