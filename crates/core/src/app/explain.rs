//! What the application's calls add up to, judged once per snapshot: each SDK's
//! credential source (said, or shown by evidence) and whether its version can use the
//! pod's identity, and each denial explained against the role's own policies.

use std::time::SystemTime;

use super::csm::KeyKind;
use super::sdk::{self, CredentialSource, Mechanism};
use super::{AppSnapshot, DenialEntry, SdkEntry};
use crate::arn;
use crate::policy::access::{self, AccessCheck, Caller, Decision, ExpectedAccess, RolePolicies};

/// One SDK identity, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkVerdict {
    /// Where its credentials come from.
    pub source: CredentialSource,
    /// How that is known (`m/` metrics, the node role's key, a long-term key, a denial).
    pub evidence: Option<String>,
    /// Certainly not the pod's identity (`APP_NOT_USING_POD_IDENTITY`).
    pub bypasses: bool,
    /// The minimum version it needs for the pod's identity, when it is older.
    pub too_old_for: Option<&'static str>,
}

/// Which of the cases a denial is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialCase {
    /// No statement of the role allows the action anywhere.
    NotAllowed,
    /// The role allows the action, but only on other resources.
    OtherResources,
    /// A Deny statement of the role's policies.
    ExplicitDeny,
    /// An identity policy allows it; the permissions boundary does not.
    Boundary,
    /// The role's identity policies and boundary allow it: something else denied it.
    AllowedByRole,
    /// The answer hinges on what the pod cannot know.
    Unknown,
    /// The call was not made as the pod's role.
    OtherPrincipal,
}

/// One denial, judged against the role's policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenialVerdict {
    /// The access evaluator's decision; `None` until the role's policies were read.
    pub decision: Option<Decision>,
    /// Which case it is; `None` until the policies were read.
    pub case: Option<DenialCase>,
    /// One line: why.
    pub explanation: String,
    /// What to change.
    pub fix: String,
}

/// Everything judged about the application's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEvaluation {
    /// One per `AppSnapshot::sdks` entry, same order.
    pub sdks: Vec<SdkVerdict>,
    /// One per `AppSnapshot::denials` entry, same order.
    pub denials: Vec<DenialVerdict>,
}

/// What the judgement needs besides the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Pod<'a> {
    /// The pod's role (`AWS_ROLE_ARN`, or the Pod Identity agent's).
    pub role_arn: Option<&'a str>,
    /// The identity the pod gives its application, when it gives one.
    pub mechanism: Option<Mechanism>,
    /// The role's policies as last read, or why they could not be.
    pub policies: Option<Result<&'a RolePolicies, &'a str>>,
    /// The SDK's region, for `aws:RequestedRegion`.
    pub region: Option<&'a str>,
    /// The fingerprint of the node role's current key, when IMDS served it.
    pub node_key: Option<u64>,
}

/// Judges every SDK and denial of `app`.
pub fn evaluate(app: &AppSnapshot, pod: &Pod<'_>) -> AppEvaluation {
    AppEvaluation {
        sdks: app.sdks.iter().map(|e| judge_sdk(e, pod)).collect(),
        denials: app.denials.iter().map(|d| judge_denial(d, pod)).collect(),
    }
}

/// Whether `principal` is a session of `role` (`arn:aws:sts::1:assumed-role/R/s` for
/// `arn:aws:iam::1:role/path/R`): the same account and role name.
fn is_session_of(principal: &str, role: &str) -> bool {
    arn::session_name(principal).is_some()
        && arn::role_identity(principal).is_some_and(|p| arn::role_identity(role) == Some(p))
}

fn judge_sdk(e: &SdkEntry, pod: &Pod<'_>) -> SdkVerdict {
    let (source, evidence, bypasses) = credential_source(e, pod);
    SdkVerdict {
        source,
        evidence,
        bypasses,
        too_old_for: pod.mechanism.and_then(|m| sdk::too_old(&e.sdk, m)),
    }
}

fn credential_source(e: &SdkEntry, pod: &Pod<'_>) -> (CredentialSource, Option<String>, bool) {
    if let Some(s) = e.said_source {
        return (
            s,
            Some("the SDK's User-Agent says so (m/ business metrics)".into()),
            s.bypasses_pod_identity(),
        );
    }
    if let Some(key) = e.key {
        if pod.node_key == Some(key.fingerprint) {
            return (
                CredentialSource::Imds,
                Some(
                    "its calls are signed with the node role's current key, as IMDS serves it"
                        .into(),
                ),
                true,
            );
        }
        if key.kind == KeyKind::LongTerm {
            return (
                CredentialSource::Other,
                Some(format!(
                    "its calls are signed with {}: web identity and Pod Identity only ever give temporary credentials",
                    key.kind.describe()
                )),
                true,
            );
        }
    }
    if let Some(p) = &e.denied_as {
        if arn::is_node_role_session(p) {
            return (
                CredentialSource::Imds,
                Some(format!(
                    "AWS named {p} in a denial: an instance role's session, the node role"
                )),
                true,
            );
        }
        if p.contains(":user/") || p.ends_with(":root") {
            return (
                CredentialSource::Other,
                Some(format!(
                    "AWS named {p} in a denial: an IAM user, so a long-term key"
                )),
                true,
            );
        }
        if let Some(role) = pod.role_arn
            && is_session_of(p, role)
        {
            let source = match pod.mechanism {
                Some(Mechanism::PodIdentity) => CredentialSource::PodIdentity,
                _ => CredentialSource::WebIdentity,
            };
            return (
                source,
                Some(format!(
                    "AWS named {p}, a session of the pod's role, in a denial"
                )),
                false,
            );
        }
    }
    (CredentialSource::Unknown, None, false)
}

fn judge_denial(d: &DenialEntry, pod: &Pod<'_>) -> DenialVerdict {
    let resource = d.resource.clone().unwrap_or_else(|| "*".into());
    let aws_said = d.policy.map(|(t, explicit)| {
        if explicit {
            format!("AWS says an explicit deny in a {} decided", t.describe())
        } else {
            format!("AWS says no {} allows it", t.describe())
        }
    });
    let with_aws = |s: String| match &aws_said {
        Some(a) => format!("{s} ({a})"),
        None => s,
    };
    if let (Some(p), Some(role)) = (&d.principal, pod.role_arn)
        && !is_session_of(p, role)
    {
        return DenialVerdict {
            decision: None,
            case: Some(DenialCase::OtherPrincipal),
            explanation: with_aws(format!(
                "the call was made as {p}, not as the pod's role {role}: the application's credentials are not the pod's identity"
            )),
            fix: "make the application use the pod's identity: remove static keys and profiles from its container and upgrade an SDK too old for web identity (see APP_NOT_USING_POD_IDENTITY and APP_SDK_TOO_OLD)".into(),
        };
    }
    let policies = match pod.policies {
        None => {
            return DenialVerdict {
                decision: None,
                case: None,
                explanation: with_aws(
                    "the role's policies have not been read yet: they are read with the test-assumed credentials after the first denial of an action (at most once a minute)".into(),
                ),
                fix: format!(
                    "allow {} on {resource} in the role's policies, or in the resource's own policy",
                    d.action
                ),
            };
        }
        Some(Err(why)) => {
            return DenialVerdict {
                decision: None,
                case: None,
                explanation: with_aws(format!("the role's policies could not be read ({why})")),
                fix: "grant the role read access to its own policies (iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicy, iam:GetPolicyVersion) so irsa-doctor can say which statement is missing".into(),
            };
        }
        Some(Ok(p)) => p,
    };
    let want = ExpectedAccess {
        action: d.action.clone(),
        resource: resource.clone(),
    };
    let caller = Caller {
        role_arn: policies.arn.as_deref().or(pod.role_arn),
        region: pod.region,
    };
    let check = access::check(policies, &caller, &want);
    let (case, explanation, fix) = describe(&check, policies, &d.action, &resource);
    DenialVerdict {
        decision: Some(check.decision),
        case: Some(case),
        explanation: with_aws(explanation),
        fix,
    }
}

fn describe(
    check: &AccessCheck,
    policies: &RolePolicies,
    action: &str,
    resource: &str,
) -> (DenialCase, String, String) {
    let statement = format!(
        "{{\"Effect\": \"Allow\", \"Action\": \"{action}\", \"Resource\": \"{resource}\"}}"
    );
    match check.decision {
        Decision::ExplicitDeny => (
            DenialCase::ExplicitDeny,
            format!("the role's policies explicitly deny it: {}", check.detail),
            format!(
                "remove or narrow the Deny statement {} in {} (an explicit Deny wins over every Allow)",
                check.deciding_statement.as_deref().unwrap_or("-"),
                check.policy.as_deref().unwrap_or("the role's policies")
            ),
        ),
        Decision::ImplicitDeny if check.cut_by_boundary.is_some() => (
            DenialCase::Boundary,
            format!("cut by the permissions boundary: {}", check.detail),
            format!(
                "add {action} on {resource} to the permissions boundary {}, or give the workload another role",
                check.cut_by_boundary.as_deref().unwrap_or("-")
            ),
        ),
        Decision::ImplicitDeny => {
            let elsewhere = access::allowing_resources(policies, action);
            if elsewhere.is_empty() {
                (
                    DenialCase::NotAllowed,
                    format!(
                        "no statement of the role's policies allows {action} on any resource: {}",
                        check.detail
                    ),
                    format!("add a statement {statement} to one of the role's policies"),
                )
            } else {
                (
                    DenialCase::OtherResources,
                    format!(
                        "the role allows {action} only on {}, not on {resource}",
                        elsewhere.join(", ")
                    ),
                    format!(
                        "add {resource} to the Resource of the statement that allows {action}, or add a statement {statement}; or point the application at a resource the role may use"
                    ),
                )
            }
        }
        Decision::Allowed => (
            DenialCase::AllowedByRole,
            format!(
                "the role's identity policies and boundary allow {action} on {resource} ({}), so something the pod cannot see denied it: the resource's own policy (bucket, key, secret, queue policy), a service control policy, a session policy or a VPC endpoint policy",
                check.detail
            ),
            "check the resource's policy (e.g. aws s3api get-bucket-policy), the account's service control policies and the VPC endpoint policy for a Deny or a missing Allow for the role".into(),
        ),
        Decision::Unknown => (
            DenialCase::Unknown,
            format!(
                "the role's policies allow it only under conditions the pod cannot check: {}",
                check.detail
            ),
            "check the conditions named above against the call (source IP, VPC endpoint, tags)".into(),
        ),
    }
}

/// Whether an SDK identity was active within the recent window.
pub fn active(e: &SdkEntry, now: SystemTime) -> bool {
    super::recent(e.last_seen, now)
}
