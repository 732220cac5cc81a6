//! `ACCESS_NOT_ALLOWED` and `ACCESS_UNVERIFIED`: would the role's own
//! policies allow what `--expect-access` says the workload needs?

use super::{Check, Code, Context, Finding, Inputs};
use crate::policy::access::{self, AccessCheck, Caller, Decision};
use crate::snapshot::{AccessReadError, AccessReadFailure};

pub(super) const CHECKS: &[Check] = &[access];

/// Every `--expect-access` entry judged against the role's policies, once per snapshot:
/// the findings, the report's `access` section and `irsa_access_allowed` all read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessEvaluation {
    /// No `--expect-access`.
    Off,
    /// Configured, but the role's policies were not read yet (or STS never gave credentials).
    NotRead,
    /// IAM refused or could not be reached, or a document did not parse.
    Unverified(AccessReadError),
    /// The policies were read: their names, and one check per entry in `--expect-access` order.
    Checked {
        /// Names of the policies read (inline, managed, then the boundary).
        policies: Vec<String>,
        /// One decision per `--expect-access` entry.
        checks: Vec<AccessCheck>,
    },
}

/// Evaluates every `--expect-access` entry against the policies last read.
pub fn access_evaluation(ctx: &Context<'_>) -> AccessEvaluation {
    if ctx.config.expect_access.is_empty() {
        return AccessEvaluation::Off;
    }
    let a = &ctx.snapshot.access;
    match &a.policies {
        None => AccessEvaluation::NotRead,
        Some(Err(e)) => AccessEvaluation::Unverified(e.clone()),
        Some(Ok(policies)) => {
            let caller = Caller {
                role_arn: policies
                    .arn
                    .as_deref()
                    .or(a.role_arn.as_deref())
                    .or(ctx.config.role_arn.as_deref()),
                region: super::sdk_region(ctx),
            };
            let checks = ctx
                .config
                .expect_access
                .iter()
                .map(|want| access::check(policies, &caller, want))
                .collect();
            AccessEvaluation::Checked {
                policies: policies.names(),
                checks,
            }
        }
    }
}

fn access(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    match ctx.access {
        AccessEvaluation::Off | AccessEvaluation::NotRead => {}
        AccessEvaluation::Unverified(e) => {
            let egress = format!(
                "allow the pod HTTPS egress to IAM ({}, or the AWS_ENDPOINT_URL_IAM endpoint; NO_PROXY or the proxy must let it through)",
                super::partition(ctx).iam_host()
            );
            let (what, fix) = match e.failure {
                AccessReadFailure::Unreachable => ("IAM could not be reached", egress.as_str()),
                AccessReadFailure::Refused => (
                    "IAM refused",
                    "grant the role read access to its own policies: iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies on the role, iam:GetPolicy and iam:GetPolicyVersion on its managed policies and boundary (manifests/iam/irsa-doctor-read-own-policies.json)",
                ),
                AccessReadFailure::Failed => (
                    "IAM failed",
                    "IAM answered an error that is not a refusal (throttling or a server error) after the SDK's retries: the next read (hourly, or POST /debug/probe) tries again; if it persists, check the AWS Health Dashboard for IAM",
                ),
                AccessReadFailure::Unusable => (
                    "irsa-doctor could not use IAM's answer",
                    "IAM accepted this policy, so irsa-doctor's policy parser lacks something it uses: report it with the message above (it names the policy and the element, never a credential)",
                ),
            };
            out.push(Finding::new(
                Code::AccessUnverified,
                format!(
                    "--expect-access was not checked: {what} reading the role's policies ({})",
                    e.message
                ),
                format!("{fix}; until then the workload's access is unverified, not denied"),
            ));
        }
        AccessEvaluation::Checked { checks, .. } => {
            for c in checks
                .iter()
                .filter(|c| matches!(c.decision, Decision::ImplicitDeny | Decision::ExplicitDeny))
            {
                out.push(not_allowed(c));
            }
        }
    }
}

fn not_allowed(c: &AccessCheck) -> Finding {
    let fix = match (
        c.decision,
        c.policy.as_deref(),
        c.cut_by_boundary.as_deref(),
    ) {
        (Decision::ExplicitDeny, Some(p), _) => format!(
            "remove or narrow the Deny statement {} in {p} (an explicit Deny wins over every Allow)",
            c.deciding_statement.as_deref().unwrap_or("-")
        ),
        (_, _, Some(boundary)) => format!(
            "the role's policies allow it but its permissions boundary does not: add {} on {} to the boundary {boundary}, or give the workload another role",
            c.action, c.resource
        ),
        _ => format!(
            "add a statement {{\"Effect\": \"Allow\", \"Action\": \"{}\", \"Resource\": \"{}\"}} to one of the role's policies",
            c.action, c.resource
        ),
    };
    Finding::new(
        Code::AccessNotAllowed,
        format!(
            "{} on {} is not allowed by the role's identity policies and permissions boundary ({}): {}",
            c.action,
            c.resource,
            c.decision.as_str(),
            c.detail
        ),
        format!(
            "{fix}; then POST /debug/probe to re-read the policies (they are read at most hourly)"
        ),
    )
}
