//! The `/debug` and `check` report (docs/reference.md#report): the model here, built by
//! one pure function from an `Assessment` (`build`), rendered as JSON or as a
//! short aligned text an SRE reads in five seconds (`text`).
//!
//! Every documented field is always present; unknown values are
//! `null`. Nothing here can carry the raw token, its signature or a key.

use serde::Serialize;

use crate::findings::{Finding, Status};
use crate::policy::trust;

pub mod app;
mod build;
mod pod;
mod text;

pub use build::build;
pub use pod::{ContainerSection, PodSection};

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// irsa-doctor version.
    pub version: &'static str,
    /// When this report was built.
    pub generated_at: Option<String>,
    /// Worst finding severity.
    pub status: Status,
    /// What the environment says.
    pub environment: EnvironmentSection,
    /// The web-identity (IRSA) token file.
    pub token: TokenSection,
    /// Every configured token under its `token` label (`irsa`, `pod_identity`, `kube_api`, ...).
    pub tokens: Vec<NamedTokenSection>,
    /// The EKS Pod Identity agent, when the pod uses it.
    pub pod_identity: PodIdentitySection,
    /// The latest STS test-assume.
    pub sts: StsSection,
    /// The default credential chain.
    pub credential_chain: ChainSection,
    /// The role's trust policy judged against the token.
    pub trust_policy: TrustPolicySection,
    /// `--expect-access` checked against the role's own policies; null without it.
    pub access: Option<AccessSection>,
    /// The application's own calls (client-side monitoring); null with `--csm-listen off`.
    pub app: Option<app::AppSection>,
    /// The pod's own Pod and ServiceAccount from the Kubernetes API; null until read.
    pub pod: Option<PodSection>,
    /// Every finding, worst first.
    pub findings: Vec<Finding>,
}

/// `environment`.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentSection {
    /// Configured role ARN.
    pub role_arn: Option<String>,
    /// Configured token file.
    pub token_file: String,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// `AWS_STS_REGIONAL_ENDPOINTS`.
    pub sts_regional_endpoints: Option<String>,
    /// Access keys in the environment.
    pub static_credentials_in_env: bool,
    /// Every source that shadows web identity (names only).
    pub static_credential_sources: Vec<String>,
}

/// `token`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TokenSection {
    /// The file exists (null before the first read).
    pub present: Option<bool>,
    /// Why the last read failed.
    pub read_error: Option<String>,
    /// When the current token was loaded.
    pub loaded_at: Option<String>,
    /// New tokens loaded so far.
    pub reloads: u64,
    /// `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// `aud`.
    pub audiences: Option<Vec<String>>,
    /// `iat`.
    pub issued_at: Option<String>,
    /// `nbf`.
    pub not_before: Option<String>,
    /// `exp`.
    pub expires_at: Option<String>,
    /// `exp - now`.
    pub expires_in_seconds: Option<i64>,
    /// `now - iat`.
    pub age_seconds: Option<i64>,
    /// `exp - iat`.
    pub lifetime_seconds: Option<i64>,
    /// The `kubernetes.io` claim.
    pub kubernetes: Option<KubernetesSection>,
    /// Header `alg`.
    pub algorithm: Option<String>,
    /// Header `kid`.
    pub key_id: Option<String>,
    /// The issuer's published keys verify the signature (`null`: not checked).
    pub signature_verified: Option<bool>,
    /// Why the signature is invalid or was not checked.
    pub signature_error: Option<String>,
}

/// One entry of `tokens`.
#[derive(Debug, Clone, Serialize)]
pub struct NamedTokenSection {
    /// The `token` label.
    pub name: String,
    /// The file.
    pub file: String,
    /// `warnafter` of the API server's extended-expiry token.
    pub warn_after: Option<String>,
    /// The same fields as `token`.
    #[serde(flatten)]
    pub token: TokenSection,
}

/// `pod_identity`: the last call to the EKS Pod Identity agent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PodIdentitySection {
    /// Whether the pod's environment configures Pod Identity.
    pub configured: bool,
    /// The agent URI.
    pub endpoint: Option<String>,
    /// `success`, `error` or `never`.
    pub result: &'static str,
    /// HTTP status of the last answer.
    pub http_status: Option<u16>,
    /// The agent's error, when it failed.
    pub error_message: Option<String>,
    /// Last attempt.
    pub last_attempt_at: Option<String>,
    /// Last success.
    pub last_success_at: Option<String>,
    /// Latency of the last attempt.
    pub latency_seconds: Option<f64>,
    /// `AccountId` of the credentials.
    pub account_id: Option<String>,
    /// Expiry of the credentials.
    pub credentials_expire_at: Option<String>,
    /// `GetCallerIdentity` with them.
    pub caller_arn: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u64,
}

/// `token.kubernetes`.
#[derive(Debug, Clone, Serialize)]
pub struct KubernetesSection {
    /// Namespace.
    pub namespace: Option<String>,
    /// ServiceAccount.
    pub service_account: Option<String>,
    /// Pod.
    pub pod: Option<String>,
    /// Node.
    pub node: Option<String>,
}

/// `sts`.
#[derive(Debug, Clone, Serialize)]
pub struct StsSection {
    /// Endpoint used.
    pub endpoint: Option<String>,
    /// `success`, `error` or `never`.
    pub result: &'static str,
    /// Last attempt.
    pub last_attempt_at: Option<String>,
    /// Last success.
    pub last_success_at: Option<String>,
    /// Latency of the last attempt.
    pub latency_seconds: Option<f64>,
    /// STS error code.
    pub error_code: Option<String>,
    /// STS error message.
    pub error_message: Option<String>,
    /// Assumed-role ARN of the last success.
    pub assumed_role_arn: Option<String>,
    /// Expiry of the test credentials.
    pub credentials_expire_at: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// GetCallerIdentity with the test credentials.
    pub caller_arn: Option<String>,
    /// Local clock minus STS's `Date`, seconds.
    pub clock_skew_seconds: Option<f64>,
    /// The session name of the test-assume (`AWS_ROLE_SESSION_NAME` when the app sets it).
    pub session_name: Option<String>,
}

/// `credential_chain`.
#[derive(Debug, Clone, Serialize)]
pub struct ChainSection {
    /// Provider that answered.
    pub provider: Option<String>,
    /// Caller ARN with the chain's credentials.
    pub caller_arn: Option<String>,
    /// Whether that is the node's role.
    pub node_role_fallback: Option<bool>,
    /// Either IMDS version answered.
    pub imds_reachable: Option<bool>,
    /// IMDS versions separately.
    pub imds: ImdsSection,
    /// Why the chain failed, when it did.
    pub error: Option<String>,
}

/// `trust_policy`: where the policy came from, the verdict and the per-condition table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrustPolicySection {
    /// `file <path>` or `iam:GetRole <role>`; null when none is configured.
    pub source: Option<String>,
    /// Why the policy could not be read or parsed.
    pub error: Option<String>,
    /// `allowed`, `explicit_deny`, `implicit_deny` or `unknown` (unevaluable conditions); null when not evaluated.
    pub verdict: Option<&'static str>,
    /// The statement that decided a denial (explicit deny) or came closest to allowing.
    pub deciding_statement: Option<String>,
    /// Whether any statement trusts this token's issuer.
    pub issuer_matched: Option<bool>,
    /// How many statements were evaluated.
    pub statements_evaluated: usize,
    /// Every statement with its principal, action and condition results.
    pub statements: Vec<trust::StatementResult>,
    /// Info-level advice (missing aud pin, literal * in StringEquals, no iam:GetRole permission, ...).
    pub notes: Vec<String>,
}

/// `access`: one check per `--expect-access` entry; `null` without the flag.
#[derive(Debug, Clone, Serialize)]
pub struct AccessSection {
    /// When the role's policies were last read.
    pub checked_at: Option<String>,
    /// Why they could not be read (IAM refused or unreachable, or a document did not parse).
    pub error: Option<String>,
    /// Names of the policies read (inline, managed, then the boundary).
    pub policies: Vec<String>,
    /// One entry per `--expect-access`, in order; empty until the policies were read.
    pub checks: Vec<crate::policy::access::AccessCheck>,
    /// What "allowed" covers, and what the pod cannot see.
    pub notes: Vec<String>,
}

/// `credential_chain.imds`.
#[derive(Debug, Clone, Serialize)]
pub struct ImdsSection {
    /// IMDSv2 token PUT answered.
    pub v2_reachable: Option<bool>,
    /// IMDSv1 GET answered.
    pub v1_reachable: Option<bool>,
}

impl Report {
    /// Pretty JSON (the documented report).
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail; stay total anyway.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests;
