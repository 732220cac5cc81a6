//! What is wrong, how bad, and what to do (SPEC section 5).
//!
//! `evaluate` is one pure function of (configuration, environment facts,
//! latest snapshot, now). The checks live in one file per family, each with
//! its own `CHECKS` list; a new check is a function appended to its family's
//! list, a row in that family's test table, and a runbook section.
//! Remediations cite `shared/research/irsa-failure-modes.md` rows as `[rN]`.

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
    ($($variant:ident => $name:literal, $sev:ident;)*) => {
        /// Every stable finding code of SPEC section 5.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $(#[doc = $name] $variant,)* }

        impl Code {
            /// All codes, in SPEC order (every `irsa_finding_active` series).
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable name.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// The fixed severity of this code.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }
        }
    };
}

codes! {
    IrsaEnvMissing => "IRSA_ENV_MISSING", Critical;
    TokenFileMissing => "TOKEN_FILE_MISSING", Critical;
    TokenUnreadable => "TOKEN_UNREADABLE", Critical;
    TokenMalformed => "TOKEN_MALFORMED", Critical;
    TokenExpired => "TOKEN_EXPIRED", Critical;
    TokenNotYetValid => "TOKEN_NOT_YET_VALID", Critical;
    TokenExpiringSoon => "TOKEN_EXPIRING_SOON", Warning;
    TokenNotRotated => "TOKEN_NOT_ROTATED", Warning;
    AudienceMismatch => "AUDIENCE_MISMATCH", Critical;
    SubjectMismatch => "SUBJECT_MISMATCH", Critical;
    TrustPolicyDenies => "TRUST_POLICY_DENIES", Critical;
    IssuerMismatch => "ISSUER_MISMATCH", Critical;
    StsAssumeFailed => "STS_ASSUME_FAILED", Critical;
    StsUnreachable => "STS_UNREACHABLE", Critical;
    StsThrottled => "STS_THROTTLED", Warning;
    RoleMismatch => "ROLE_MISMATCH", Critical;
    StaticCredentialsShadow => "STATIC_CREDENTIALS_SHADOW", Warning;
    NodeRoleFallback => "NODE_ROLE_FALLBACK", Critical;
    ImdsReachable => "IMDS_REACHABLE", Warning;
    GlobalStsEndpoint => "GLOBAL_STS_ENDPOINT", Info;
    ClockSkew => "CLOCK_SKEW", Warning;
    TokenSignatureInvalid => "TOKEN_SIGNATURE_INVALID", Critical;
    OidcDiscoveryFailed => "OIDC_DISCOVERY_FAILED", Info;
    PodIdentityAgentUnreachable => "POD_IDENTITY_AGENT_UNREACHABLE", Critical;
    PodIdentityDenied => "POD_IDENTITY_DENIED", Critical;
    PodIdentityAgentError => "POD_IDENTITY_AGENT_ERROR", Critical;
    BothIdentityMechanisms => "BOTH_IDENTITY_MECHANISMS", Warning;
    ProxyInterceptsCredentials => "PROXY_INTERCEPTS_CREDENTIALS", Warning;
    TokenStaleWarnafter => "TOKEN_STALE_WARNAFTER", Warning;
    PodIdentityThrottled => "POD_IDENTITY_THROTTLED", Warning;
    RegionMissing => "REGION_MISSING", Critical;
    TrustPolicyOutdated => "TRUST_POLICY_OUTDATED", Warning;
    AccessNotAllowed => "ACCESS_NOT_ALLOWED", Critical;
    AccessUnverified => "ACCESS_UNVERIFIED", Info;
    AppAccessDenied => "APP_ACCESS_DENIED", Warning;
    AppNotUsingPodIdentity => "APP_NOT_USING_POD_IDENTITY", Critical;
    AppSdkTooOld => "APP_SDK_TOO_OLD", Critical;
    AppCredentialsFailing => "APP_CREDENTIALS_FAILING", Critical;
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One problem, with the values that show it and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    #[serde(skip)]
    pub token: Option<String>,
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

/// The pod's partition: `AWS_ROLE_ARN`'s (or `--role-arn`'s), else the region's (the
/// environment's, the profile's, or the one the SDK resolved); `None` when nothing tells.
fn partition_known(ctx: &Context<'_>) -> Option<Partition> {
    let region = ctx
        .env
        .region
        .as_deref()
        .or(ctx.env.profile_region.as_deref())
        .or(ctx.snapshot.region.region.as_deref());
    Partition::of(configured_role(ctx), region)
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
/// nothing that predicts STS would refuse it is raised at warning or above (SPEC 5).
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
    ) -> Inputs<'a> {
        Inputs {
            ctx,
            trust,
            access,
            app: None,
        }
    }

    /// The same inputs with the application's calls judged.
    pub fn with_app(mut self, app: Option<&'a crate::app::explain::AppEvaluation>) -> Inputs<'a> {
        self.app = app;
        self
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
];

/// Computes all findings, worst first (then in SPEC order), evaluating the policies itself.
pub fn evaluate(ctx: &Context<'_>) -> Vec<Finding> {
    let trust = trust_policy_evaluation(ctx.snapshot);
    let access = access_evaluation(ctx);
    let app = app_evaluation(ctx);
    evaluate_with(&Inputs::new(*ctx, trust.as_ref(), &access).with_app(app.as_ref()))
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
        "about": "Every finding code irsa-doctor raises, with its fixed severity (SPEC section 5). Generated from Code::ALL: UPDATE_FINDINGS_JSON=1 cargo test -p irsa-doctor-core findings_json rewrites it.",
        "findings": findings,
    });
    // Serialising a JSON value of strings cannot fail; stay total anyway.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests;
