//! What is wrong, how bad, and what to do (docs/reference.md#findings).
//!
//! `evaluate` is one pure function of (configuration, environment facts,
//! latest snapshot, now). The checks live in one file per family, each with
//! its own `CHECKS` list. How to add one: ARCHITECTURE.md, "Adding to it" (the
//! one recipe; `tests::every_code_follows_the_recipe` holds it).
//! Remediations say the fix itself and, where a page helps, end with a public URL from
//! `links` (AWS and Kubernetes documentation); `docs/failure-modes.md` explains each mode.

use std::ops::Deref;
use std::time::SystemTime;

use serde::Serialize;

use crate::config::Config;
use crate::environment::EnvFacts;
use crate::partition::Partition;
use crate::snapshot::Snapshot;
use crate::time;

mod access;
mod app;
mod chain;
mod identity;
mod links;
pub(crate) mod pod;
mod pod_identity;
mod sts;
mod tokens;
mod trust;

pub use access::{AccessEvaluation, access_evaluation};
pub use app::app_evaluation;
pub use sts::sts_remediation;
pub use tokens::{
    REFRESH_LAG_SECS, ROTATION_GRACE_SECS, SKEW_ALLOWANCE_SECS, TokenValidity, refresh_point,
    validity,
};
pub use trust::trust_policy_evaluation;

/// The published runbook (`docs/runbook.md`): one section per code, anchored by the code in
/// lower case. The alert rules' `runbook_url` (the monitoring mixin's `runbookURL`) is the same.
pub const RUNBOOK_URL: &str =
    "https://github.com/irsa-doctor/irsa-doctor/blob/main/docs/runbook.md";

/// How bad a finding is. Ordered: `Critical` is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; does not change `status`.
    Info,
    /// Works now, will or may break.
    Warning,
    /// Broken now.
    Critical,
}

impl Severity {
    /// The lowercase name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => $name:literal, $sev:ident, $meaning:literal;)*) => {
        /// Every stable finding code (docs/reference.md#findings lists them, generated from here).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $(#[doc = $meaning] $variant,)* }

        impl Code {
            /// All codes, in their documented order (every `irsa_finding_active` series).
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable name.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// The fixed severity of this code.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// When it is raised, in one line (the reference's "raised when").
            pub fn meaning(self) -> &'static str {
                match self { $(Code::$variant => $meaning,)* }
            }

            /// Its section of the runbook: what it means, how to confirm it, how to fix it.
            pub fn runbook_url(self) -> String {
                format!("{RUNBOOK_URL}#{}", self.as_str().to_ascii_lowercase())
            }
        }
    };
}

// One row per code: the variant, its stable name, its fixed severity, when it is raised.
// Append new codes at the end: the order is the documented one and `irsa_finding_active`'s.
#[rustfmt::skip]
codes! {
    IrsaEnvMissing => "IRSA_ENV_MISSING", Critical,
        "AWS_ROLE_ARN or AWS_WEB_IDENTITY_TOKEN_FILE is unset: the webhook did not mutate this pod (ServiceAccount not annotated, pod older than the annotation, webhook down)";
    TokenFileMissing => "TOKEN_FILE_MISSING", Critical,
        "the token path does not exist";
    TokenUnreadable => "TOKEN_UNREADABLE", Critical,
        "the token file exists but cannot be read (permissions)";
    TokenMalformed => "TOKEN_MALFORMED", Critical,
        "the token is not a three-part JWT with a JSON header and claims, or is over 64 KiB";
    TokenExpired => "TOKEN_EXPIRED", Critical,
        "the token's exp is in the past";
    TokenNotYetValid => "TOKEN_NOT_YET_VALID", Critical,
        "the token's nbf or iat is more than 60 s in the future";
    TokenExpiringSoon => "TOKEN_EXPIRING_SOON", Warning,
        "exp is within --expiry-warning and the kubelet's refresh point has passed by more than its refresh lag (2 min)";
    TokenNotRotated => "TOKEN_NOT_ROTATED", Warning,
        "now is more than 10 min past the kubelet's refresh point, iat + min(0.8 x lifetime, 24 h): rotation stalled";
    AudienceMismatch => "AUDIENCE_MISMATCH", Critical,
        "the expected audience is not among the token's aud (and STS has not accepted this token)";
    SubjectMismatch => "SUBJECT_MISMATCH", Critical,
        "the token's sub differs from the expected subject";
    TrustPolicyDenies => "TRUST_POLICY_DENIES", Critical,
        "the trust policy (file or iam:GetRole) would not allow this token; names the statement and the failing condition";
    IssuerMismatch => "ISSUER_MISMATCH", Critical,
        "the trust policy's federated OIDC provider is not the token's issuer";
    StsAssumeFailed => "STS_ASSUME_FAILED", Critical,
        "the last AssumeRoleWithWebIdentity returned an error (the code is in the message)";
    StsUnreachable => "STS_UNREACHABLE", Critical,
        "the STS endpoint could not be reached or timed out";
    StsThrottled => "STS_THROTTLED", Warning,
        "STS answered Throttling or TooManyRequests; probing backs off";
    RoleMismatch => "ROLE_MISMATCH", Critical,
        "GetCallerIdentity with the test-assumed credentials is not the role in AWS_ROLE_ARN";
    StaticCredentialsShadow => "STATIC_CREDENTIALS_SHADOW", Warning,
        "environment keys, a profile with keys or an undefined AWS_PROFILE win over web identity in the default chain";
    NodeRoleFallback => "NODE_ROLE_FALLBACK", Critical,
        "the default chain resolved the node's instance role (IMDS) instead of the pod's role";
    ImdsReachable => "IMDS_REACHABLE", Warning,
        "the pod can reach IMDS (v2 token PUT or v1 credentials GET), so node-role credentials are available to it";
    GlobalStsEndpoint => "GLOBAL_STS_ENDPOINT", Info,
        "AWS_STS_REGIONAL_ENDPOINTS is not regional (aws partition only)";
    ClockSkew => "CLOCK_SKEW", Warning,
        "the local clock differs from STS's Date header by more than 60 s";
    TokenSignatureInvalid => "TOKEN_SIGNATURE_INVALID", Critical,
        "a key the issuer publishes under the token's kid does not verify it, or a JWKS fetched after the token was issued lacks that kid";
    OidcDiscoveryFailed => "OIDC_DISCOVERY_FAILED", Info,
        "the issuer's discovery document or JWKS could not be fetched, so the signature was not checked; never raises status";
    PodIdentityAgentUnreachable => "POD_IDENTITY_AGENT_UNREACHABLE", Critical,
        "the Pod Identity agent refused the connection or did not accept it in time";
    PodIdentityDenied => "POD_IDENTITY_DENIED", Critical,
        "the Pod Identity agent answered 400, 403 or 404 (its message is in the finding)";
    PodIdentityAgentError => "POD_IDENTITY_AGENT_ERROR", Critical,
        "the Pod Identity agent answered 5xx or something that is not credentials, or accepted the connection but did not answer in time";
    BothIdentityMechanisms => "BOTH_IDENTITY_MECHANISMS", Warning,
        "IRSA and Pod Identity variables are both present (web identity wins in every SDK's chain)";
    ProxyInterceptsCredentials => "PROXY_INTERCEPTS_CREDENTIALS", Warning,
        "HTTP(S)_PROXY is set and NO_PROXY does not cover a credential endpoint this pod uses";
    TokenStaleWarnafter => "TOKEN_STALE_WARNAFTER", Warning,
        "a token's kubernetes.io warnafter has passed without a refresh";
    PodIdentityThrottled => "POD_IDENTITY_THROTTLED", Warning,
        "the Pod Identity agent answered 429";
    RegionMissing => "REGION_MISSING", Critical,
        "no region from AWS_REGION, AWS_DEFAULT_REGION, the profile or IMDS: the SDK cannot choose its regional STS endpoint";
    TrustPolicyOutdated => "TRUST_POLICY_OUTDATED", Warning,
        "the trust policy given (file or iam:GetRole) denies this token, yet STS accepted it: that copy is not the role's current policy";
    AccessNotAllowed => "ACCESS_NOT_ALLOWED", Critical,
        "an --expect-access action and resource is not allowed by the role's identity policies and permissions boundary";
    AccessUnverified => "ACCESS_UNVERIFIED", Info,
        "the role's policies could not be read (IAM refused or unreachable), so --expect-access was not checked";
    AppAccessDenied => "APP_ACCESS_DENIED", Warning,
        "the application's own call was denied in the last 15 minutes; says what the role's policies make of it (not allowed anywhere, only on other resources, explicitly denied, cut by the boundary, or allowed so another policy denied it)";
    AppNotUsingPodIdentity => "APP_NOT_USING_POD_IDENTITY", Critical,
        "the application's calls are signed with credentials that are not the pod's web identity or Pod Identity (the node role, environment keys, a profile, a long-term key)";
    AppSdkTooOld => "APP_SDK_TOO_OLD", Critical,
        "the application's SDK version predates web identity (IRSA pod) or container-credential (Pod Identity pod) support";
    AppCredentialsFailing => "APP_CREDENTIALS_FAILING", Critical,
        "in the last 15 minutes the application's own credential provider failed (its AssumeRoleWithWebIdentity errored) or its calls were refused as expired (ExpiredToken)";
    KubernetesApiUnavailable => "KUBERNETES_API_UNAVAILABLE", Info,
        "the pod's own spec could not be read from the Kubernetes API (no API, RBAC refused, not found); the message names the missing permission";
    RoleAnnotationChanged => "ROLE_ANNOTATION_CHANGED", Critical,
        "the ServiceAccount's eks.amazonaws.com/role-arn differs from the AWS_ROLE_ARN the pod was created with (or the pod has none although the ServiceAccount is annotated): recreate the pod";
    AppContainerNotInjected => "APP_CONTAINER_NOT_INJECTED", Critical,
        "an application container lacks AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE or the token mount that the others have (skip-containers, a container that set AWS_ROLE_ARN itself)";
    AppContainerStaticKeys => "APP_CONTAINER_STATIC_KEYS", Critical,
        "an application container's spec sets AWS_ACCESS_KEY_ID, AWS_PROFILE or AWS_SHARED_CREDENTIALS_FILE (env or envFrom): they win over web identity in that container";
    TokenUnreadableByApp => "TOKEN_UNREADABLE_BY_APP", Critical,
        "the projected token's file mode and group (as mounted) do not let an application container's runAsUser/runAsGroup/fsGroup/supplementalGroups read it";
    PodIdentityUnsupportedHere => "POD_IDENTITY_UNSUPPORTED_HERE", Critical,
        "a Pod Identity pod on Fargate or with hostNetwork: true (the agent does not serve it)";
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One problem, with the values that show it and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable code.
    pub code: Code,
    /// Severity (fixed per code).
    pub severity: Severity,
    /// What is wrong, with the actual values.
    pub message: String,
    /// What to change, naming the annotation, volume field or policy key.
    pub remediation: String,
    /// The `token` label of the token this is about (`irsa`, `kube_api`, ...), `None` when
    /// it is about the pod as a whole. Not part of the report: it keys log transitions.
    pub token: Option<String>,
}

/// The report's finding: its fields, and the runbook section that explains it (`runbook_url`).
impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut f = s.serialize_struct("Finding", 5)?;
        f.serialize_field("code", &self.code)?;
        f.serialize_field("severity", &self.severity)?;
        f.serialize_field("message", &self.message)?;
        f.serialize_field("remediation", &self.remediation)?;
        f.serialize_field("runbook_url", &self.code.runbook_url())?;
        f.end()
    }
}

impl Finding {
    fn new(code: Code, message: impl Into<String>, remediation: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: code.severity(),
            message: message.into(),
            remediation: remediation.into(),
            token: None,
        }
    }

    /// The same finding, marked as being about the token labelled `name`.
    fn about(mut self, name: &str) -> Finding {
        self.token = Some(name.to_owned());
        self
    }
}

/// The report's overall status: the worst severity among findings, `ok` for none or only info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing wrong.
    Ok,
    /// At least one warning.
    Warning,
    /// At least one critical finding.
    Critical,
}

impl Status {
    /// Status of a set of findings.
    pub fn of(findings: &[Finding]) -> Status {
        match findings.iter().map(|f| f.severity).max() {
            Some(Severity::Critical) => Status::Critical,
            Some(Severity::Warning) => Status::Warning,
            _ => Status::Ok,
        }
    }

    /// `check`'s exit code: 0 ok, 1 warning, 2 critical.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }
}

/// Everything a check may look at.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Validated configuration.
    pub config: &'a Config,
    /// The pod's environment.
    pub env: &'a EnvFacts,
    /// Latest observations.
    pub snapshot: &'a Snapshot,
    /// The time to judge against.
    pub now: SystemTime,
}

impl<'a> Context<'a> {
    /// Every configured token with its `token` label: the IRSA one first (when configured), then the others.
    pub fn tokens(&self) -> Vec<(&'a str, &'a crate::snapshot::TokenSnapshot)> {
        let irsa = self
            .config
            .irsa_token
            .then_some((crate::config::IRSA, &self.snapshot.token));
        let extras = self
            .config
            .extra_tokens
            .iter()
            .zip(&self.snapshot.extra_tokens)
            .map(|(c, s)| (c.name.as_str(), s));
        irsa.into_iter().chain(extras).collect()
    }
}

pub(crate) fn show_time(secs: i64) -> String {
    time::rfc3339(secs).unwrap_or_else(|| format!("{secs} (Unix seconds)"))
}

fn node_hint(ctx: &Context<'_>) -> String {
    ctx.snapshot
        .token
        .decoded()
        .and_then(|d| d.claims.kubernetes.node.clone())
        .map(|n| format!("node {n}"))
        .unwrap_or_else(|| "this pod's node".into())
}

fn issuer_host(ctx: &Context<'_>) -> String {
    ctx.snapshot
        .token
        .decoded()
        .and_then(|d| d.claims.issuer.as_deref())
        .map(|i| i.trim_start_matches("https://").to_owned())
        .unwrap_or_else(|| "<issuer host/path>".into())
}

/// The region the pod's SDK uses: the environment's, the profile's, or the one the SDK
/// resolved (IMDS); `None` when nothing tells.
fn sdk_region<'a>(ctx: &Context<'a>) -> Option<&'a str> {
    ctx.env
        .region
        .as_deref()
        .or(ctx.env.profile_region.as_deref())
        .or(ctx.snapshot.region.region.as_deref())
}

/// The pod's partition: `AWS_ROLE_ARN`'s (or `--role-arn`'s), else the region's;
/// `None` when nothing tells.
fn partition_known(ctx: &Context<'_>) -> Option<Partition> {
    Partition::of(configured_role(ctx), sdk_region(ctx))
}

/// The pod's partition, `aws` when nothing tells: every ARN and host in a remediation follows it.
fn partition(ctx: &Context<'_>) -> Partition {
    partition_known(ctx).unwrap_or(Partition::Aws)
}

/// `arn:<partition>:iam::<account>:`, for remediations that show an IAM ARN.
fn iam_arn(ctx: &Context<'_>, account: &str) -> String {
    format!("{}{account}:", partition(ctx).iam_arn_prefix())
}

/// Live evidence: the last test-assume succeeded with the very token in the snapshot. Then
/// nothing that predicts STS would refuse it is raised at warning or above: what STS did
/// outranks what a policy copy or a claim predicts.
fn sts_accepted_this_token(ctx: &Context<'_>) -> bool {
    let sts = &ctx.snapshot.sts;
    sts.result == crate::snapshot::StsResult::Success
        && sts.token_fingerprint.is_some()
        && sts.token_fingerprint == ctx.snapshot.token.fingerprint()
}

fn configured_role<'a>(ctx: &Context<'a>) -> Option<&'a str> {
    ctx.config
        .role_arn
        .as_deref()
        .or(ctx.env.role_arn.as_deref())
}

/// What every check reads: the context, plus what the assessment derived from it once
/// (so the trust policy and the expected access are evaluated once per snapshot, not
/// once per view).
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    ctx: Context<'a>,
    /// The trust policy judged against the current IRSA token, when both are known.
    pub trust: Option<&'a crate::policy::trust::Evaluation>,
    /// Every `--expect-access` entry judged against the role's policies as last read.
    pub access: &'a AccessEvaluation,
    /// The application's calls judged (SDKs, denials); `None` without client-side monitoring.
    pub app: Option<&'a crate::app::explain::AppEvaluation>,
}

impl<'a> Inputs<'a> {
    /// The inputs of one evaluation.
    pub fn new(
        ctx: Context<'a>,
        trust: Option<&'a crate::policy::trust::Evaluation>,
        access: &'a AccessEvaluation,
        app: Option<&'a crate::app::explain::AppEvaluation>,
    ) -> Inputs<'a> {
        Inputs {
            ctx,
            trust,
            access,
            app,
        }
    }
}

impl<'a> Deref for Inputs<'a> {
    type Target = Context<'a>;
    fn deref(&self) -> &Context<'a> {
        &self.ctx
    }
}

type Check = fn(&Inputs<'_>, &mut Vec<Finding>);

/// Every family's checks. Within a family, findings of the same code keep this order.
const FAMILIES: &[&[Check]] = &[
    chain::ENV_CHECKS,
    tokens::CHECKS,
    identity::CHECKS,
    chain::CHECKS,
    sts::CHECKS,
    trust::CHECKS,
    pod_identity::CHECKS,
    access::CHECKS,
    app::CHECKS,
    pod::CHECKS,
];

/// Computes all findings, worst first (then in `Code::ALL` order), evaluating the policies itself.
pub fn evaluate(ctx: &Context<'_>) -> Vec<Finding> {
    let trust = trust_policy_evaluation(ctx.snapshot);
    let access = access_evaluation(ctx);
    let app = app_evaluation(ctx);
    evaluate_with(&Inputs::new(*ctx, trust.as_ref(), &access, app.as_ref()))
}

/// Computes all findings from inputs whose derived parts are already known.
pub fn evaluate_with(inputs: &Inputs<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for check in FAMILIES.iter().flat_map(|f| f.iter()) {
        check(inputs, &mut out);
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));
    out
}

/// Every code with its severity, as `docs/findings.json` holds it for the runbook check and
/// `scripts/validate/ship.py` (a core test regenerates the file and compares).
pub fn catalogue_json() -> String {
    let findings: Vec<serde_json::Value> = Code::ALL
        .iter()
        .map(|c| serde_json::json!({"code": c.as_str(), "severity": c.severity().as_str()}))
        .collect();
    let doc = serde_json::json!({
        "about": "Every finding code irsa-doctor raises, with its fixed severity (docs/reference.md#findings has their meanings). Generated from Code::ALL: UPDATE_FINDINGS_JSON=1 cargo test -p irsa-doctor-core findings_json rewrites it.",
        "findings": findings,
    });
    // Serialising a JSON value of strings cannot fail; stay total anyway.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests;
