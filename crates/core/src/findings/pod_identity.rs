//! The EKS Pod Identity agent call.

use super::links::{POD_ID_AGENT, POD_ID_ROLE};
use super::{Check, Code, Finding, Inputs};
use crate::snapshot::{AgentFailure, StsResult};

pub(super) const CHECKS: &[Check] = &[pod_identity_agent];

fn pod_identity_agent(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let pi = &ctx.snapshot.pod_identity;
    if pi.result != StsResult::Error {
        return;
    }
    let endpoint = pi.endpoint.as_deref().unwrap_or("the Pod Identity agent");
    let detail = pi.error_message.as_deref().unwrap_or("no detail");
    let status = pi
        .http_status
        .map(|s| format!("HTTP {s}: "))
        .unwrap_or_default();
    let failures = pi.consecutive_failures;
    let finding = match pi.failure {
        Some(AgentFailure::Denied) => Finding::new(
            Code::PodIdentityDenied,
            format!(
                "the Pod Identity agent at {endpoint} refused the pod's token: {status}{detail}; {failures} attempt(s) in a row"
            ),
            format!(
                "check the Pod Identity association exists for this namespace/ServiceAccount (aws eks list-pod-identity-associations), that the role's trust policy allows pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession, and that the pod is not hostNetwork; see {POD_ID_ROLE}"
            ),
        ),
        Some(AgentFailure::Throttled) => Finding::new(
            Code::PodIdentityThrottled,
            format!(
                "the Pod Identity agent at {endpoint} throttled the request: {status}{detail}; {failures} attempt(s) in a row"
            ),
            "the agent limits how fast pods may ask it (and EKS Auth limits the agent): make the app cache its credentials until they expire instead of asking per request, and spread out mass pod start-ups; the SDKs retry 429",
        ),
        Some(AgentFailure::Slow) => Finding::new(
            Code::PodIdentityAgentError,
            format!(
                "the Pod Identity agent at {endpoint} accepted the connection but did not answer in time: {detail}; {failures} attempt(s) in a row"
            ),
            format!(
                "the agent is up but waiting on EKS Auth (AssumeRoleForPodIdentity): check the eks-pod-identity-agent logs on this node for \"context canceled\", the node's egress to the EKS Auth endpoint (eks-auth.<region>.api.aws, a VPC endpoint in private clusters) and its latency; see {POD_ID_AGENT}"
            ),
        ),
        Some(AgentFailure::AgentError) => Finding::new(
            Code::PodIdentityAgentError,
            format!(
                "the Pod Identity agent at {endpoint} failed: {status}{detail}; {failures} attempt(s) in a row"
            ),
            format!(
                "the agent could not get credentials from EKS Auth: check the eks-pod-identity-agent DaemonSet's logs on this node (kubectl logs -n kube-system -l app.kubernetes.io/name=eks-pod-identity-agent) and the node role's eks-auth:AssumeRoleForPodIdentity permission; see {POD_ID_AGENT}"
            ),
        ),
        Some(AgentFailure::Unreachable) | None => Finding::new(
            Code::PodIdentityAgentUnreachable,
            format!(
                "the Pod Identity agent at {endpoint} could not be reached: {detail}; {failures} attempt(s) in a row"
            ),
            format!(
                "check the eks-pod-identity-agent DaemonSet runs on this node (kubectl get pods -n kube-system -l app.kubernetes.io/name=eks-pod-identity-agent -o wide), that the pod is not hostNetwork, that no NetworkPolicy blocks 169.254.170.23:80, and NO_PROXY; see {POD_ID_AGENT}"
            ),
        ),
    };
    out.push(finding);
}
