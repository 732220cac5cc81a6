//! The EKS Pod Identity family.

use super::*;

#[test]
fn pod_identity_cases() {
    use crate::snapshot::AgentFailure;
    let agent = |failure: AgentFailure, status: Option<u16>, msg: &'static str| {
        move |f: &mut Fixture| {
            pod_identity_only(f);
            let p = &mut f.snapshot.pod_identity;
            p.endpoint = Some("http://169.254.170.23/v1/credentials".into());
            p.result = StsResult::Error;
            p.failure = Some(failure);
            p.http_status = status;
            p.error_message = Some(msg.into());
            p.consecutive_failures = 2;
        }
    };
    check(
        "pod identity alone raises no IRSA findings",
        pod_identity_only,
        &[],
    );
    check(
        "agent unreachable",
        agent(AgentFailure::Unreachable, None, "no answer within 2s"),
        &[(
            Code::PodIdentityAgentUnreachable,
            &[
                "no answer within 2s",
                "2 attempt(s)",
                "eks-pod-identity-agent",
            ],
        )],
    );
    check(
        "agent denies",
        agent(AgentFailure::Denied, Some(400), "Invalid token: expired"),
        &[(
            Code::PodIdentityDenied,
            &[
                "HTTP 400: Invalid token: expired",
                "list-pod-identity-associations",
            ],
        )],
    );
    check(
        "agent throttles (429)",
        agent(AgentFailure::Throttled, Some(429), "Too Many Requests"),
        &[(
            Code::PodIdentityThrottled,
            &[
                "HTTP 429: Too Many Requests",
                "2 attempt(s)",
                "cache its credentials",
            ],
        )],
    );
    check(
        "agent slow (EKS Auth behind it)",
        agent(AgentFailure::Slow, None, "no answer within 2s"),
        &[(
            Code::PodIdentityAgentError,
            &["did not answer in time", "AssumeRoleForPodIdentity"],
        )],
    );
    check(
        "agent fails",
        agent(AgentFailure::AgentError, Some(500), "internal error"),
        &[(
            Code::PodIdentityAgentError,
            &["HTTP 500: internal error", "EKS Auth"],
        )],
    );
    check(
        "both mechanisms",
        with_pod_identity,
        &[(
            Code::BothIdentityMechanisms,
            &["both configured", "gets the IRSA role", ROLE],
        )],
    );
    check(
        "pod identity token with the wrong audience",
        |f: &mut Fixture| {
            pod_identity_only(f);
            if let crate::snapshot::TokenState::Loaded(d) = &mut f.snapshot.extra_tokens[0].state {
                d.claims.audiences = vec!["sts.amazonaws.com".into()];
            }
        },
        &[(
            Code::AudienceMismatch,
            &[
                "[pod_identity token] audience [\"sts.amazonaws.com\"] does not contain pods.eks.amazonaws.com",
            ],
        )],
    );
    check(
        "pod identity token missing",
        |f: &mut Fixture| {
            pod_identity_only(f);
            f.snapshot.extra_tokens[0].apply(Err(ReadError::Missing { path: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token".into() }), at(NOW));
        },
        &[(
            Code::TokenFileMissing,
            &["[pod_identity token] token file /var/run/secrets/pods.eks.amazonaws.com"],
        )],
    );
}
