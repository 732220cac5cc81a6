//! What is wrong, how bad, and what to do (SPEC section 5).
//!
//! `evaluate` is one pure function of (configuration, environment facts,
//! latest snapshot, now). Each check is a small function appended to
//! `CHECKS`; a new check is a new function and a table of test cases.
//! Remediations cite `shared/research/irsa-failure-modes.md` rows as `[rN]`.

use std::time::SystemTime;

use serde::Serialize;

use crate::config::Config;
use crate::environment::EnvFacts;
use crate::snapshot::Signature;
use crate::snapshot::{Snapshot, StsFailure, StsResult, TokenSnapshot};
use crate::time;
use crate::token::ReadError;
use crate::trust_policy;

pub mod access; // issue 14: ACCESS_NOT_ALLOWED / ACCESS_UNVERIFIED

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
    // issue 14 (--expect-access): findings/access.rs
    AccessNotAllowed => "ACCESS_NOT_ALLOWED", Critical;
    AccessUnverified => "ACCESS_UNVERIFIED", Info;
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
}

impl Finding {
    fn new(code: Code, message: impl Into<String>, remediation: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: code.severity(),
            message: message.into(),
            remediation: remediation.into(),
        }
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

/// Allowed clock difference for `nbf`/`iat` and for STS's `Date` (SPEC 5).
pub const SKEW_ALLOWANCE_SECS: i64 = 60;
/// How long past the kubelet's refresh point before rotation counts as stalled (SPEC 5).
pub const ROTATION_GRACE_SECS: i64 = 600;
/// The kubelet refreshes when a token is older than 80% of its TTL or 24 h (research row 12).
const MAX_REFRESH_AGE_SECS: i64 = 24 * 3600;
/// The kubelet jitters its refresh by up to 10 s; allow a little more before calling a token overdue.
const REFRESH_JITTER_SECS: i64 = 60;

type Check = fn(&Context<'_>, &mut Vec<Finding>);

/// Every check, in the order findings are listed before sorting.
const CHECKS: &[Check] = &[
    irsa_env,
    token_files,
    token_lifetimes,
    audience,
    subject,
    static_credentials,
    global_sts_endpoint,
    sts_probe,
    role_mismatch,
    node_role_fallback,
    imds_reachable,
    clock_skew,
    token_signature,
    trust_policy,
    extra_token_audiences,
    stale_warnafter,
    both_identity_mechanisms,
    proxy_intercepts_credentials,
    pod_identity_agent,
    access::access, // issue 14
];

/// Computes all findings, worst first (then in SPEC order).
pub fn evaluate(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for check in CHECKS {
        check(ctx, &mut out);
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));
    out
}

/// The kubelet's refresh point for a token: `iat + min(0.8 × lifetime, 24 h)`.
pub fn refresh_point(issued_at: i64, expires_at: i64) -> i64 {
    let lifetime = expires_at.saturating_sub(issued_at).max(0);
    let eighty_percent = (i128::from(lifetime) * 4 / 5) as i64;
    issued_at.saturating_add(eighty_percent.min(MAX_REFRESH_AGE_SECS))
}

fn show_time(secs: i64) -> String {
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

fn irsa_env(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    // A pod using EKS Pod Identity alone is not missing anything.
    if ctx.env.uses_pod_identity() && !ctx.env.uses_irsa() {
        return;
    }
    let mut unset = Vec::new();
    if ctx.env.role_arn.is_none() {
        unset.push("AWS_ROLE_ARN");
    }
    if ctx.env.token_file.is_none() {
        unset.push("AWS_WEB_IDENTITY_TOKEN_FILE");
    }
    if unset.is_empty() {
        return;
    }
    let mut message = format!(
        "{} not set: the EKS pod-identity webhook did not mutate this pod, so AWS SDKs skip web identity and fall through to the node's instance role",
        unset.join(" and ")
    );
    if ctx.config.role_arn.is_some() && ctx.env.role_arn.is_none() {
        message.push_str(" (--role-arn was given to irsa-doctor, but the application's SDK reads the environment)");
    }
    out.push(Finding::new(
        Code::IrsaEnvMissing,
        message,
        "annotate the pod's ServiceAccount with eks.amazonaws.com/role-arn: <role ARN>, then recreate the pod: the webhook mutates pods only at creation and ignores its own failures (failurePolicy: Ignore) [r3]; check spec.serviceAccountName and that the webhook runs (kubectl get mutatingwebhookconfiguration pod-identity-webhook)",
    ));
}

/// Runs a token check on every configured token; findings about tokens other than the
/// IRSA one say which token they are about.
fn per_token(
    ctx: &Context<'_>,
    out: &mut Vec<Finding>,
    check: fn(&Context<'_>, &TokenSnapshot, &mut Vec<Finding>),
) {
    for (name, token) in ctx.tokens() {
        let mut found = Vec::new();
        check(ctx, token, &mut found);
        if name != crate::config::IRSA {
            for f in &mut found {
                f.message = format!("[{name} token] {}", f.message);
            }
        }
        out.extend(found);
    }
}

fn token_files(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    per_token(ctx, out, token_file);
}

fn token_lifetimes(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    per_token(ctx, out, token_lifetime);
}

fn token_file(_ctx: &Context<'_>, token: &TokenSnapshot, out: &mut Vec<Finding>) {
    let Some(error) = token.error() else {
        return;
    };
    let dir = match error {
        ReadError::Missing { path }
        | ReadError::Unreadable { path, .. }
        | ReadError::Malformed { path, .. } => std::path::Path::new(path)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    let finding = match error {
        ReadError::Missing { path } => Finding::new(
            Code::TokenFileMissing,
            format!("token file {path} does not exist"),
            format!(
                "the projected token volume (aws-iam-token, a serviceAccountToken source with audience sts.amazonaws.com and path token) is not mounted at {dir}: recreate the pod after annotating its ServiceAccount so the webhook adds it [r3], or mount it yourself; if AWS_WEB_IDENTITY_TOKEN_FILE was overridden, point it at the mounted file"
            ),
        ),
        ReadError::Unreadable { path, reason } => Finding::new(
            Code::TokenUnreadable,
            format!("token file {path} exists but cannot be read: {reason}"),
            "give the container's user read access: set the pod's securityContext.fsGroup (for example 65534) so the projected file is group-readable, or run as the file's owner; clusters before Kubernetes 1.19 wrote it 0600 root [r15]",
        ),
        ReadError::Malformed { path, source } => Finding::new(
            Code::TokenMalformed,
            format!("token file {path} is not a service-account JWT: {source}"),
            "point AWS_WEB_IDENTITY_TOKEN_FILE at the projected serviceAccountToken file (not a directory, certificate or config file) and make sure nothing else writes to that volume; `irsa-doctor decode` shows what the file holds",
        ),
    };
    out.push(finding);
}

fn token_lifetime(ctx: &Context<'_>, token: &TokenSnapshot, out: &mut Vec<Finding>) {
    let Some(token) = token.decoded() else {
        return;
    };
    let c = &token.claims;
    let now = time::unix(ctx.now);
    let node = c
        .kubernetes
        .node
        .as_deref()
        .map(|n| format!("node {n}"))
        .unwrap_or_else(|| "this pod's node".into());

    if let Some(exp) = c.expires_at
        && exp <= now
    {
        out.push(Finding::new(
            Code::TokenExpired,
            format!(
                "token expired at {} ({}s ago); STS answers ExpiredTokenException",
                show_time(exp),
                now.saturating_sub(exp)
            ),
            format!(
                "the kubelet stopped refreshing the projected token: check the kubelet's token manager on {node} and its access to the API server, then recreate the pod for a fresh token; apps that cache the token must re-read the file [r11][r12]"
            ),
        ));
    }

    let future = [("nbf", c.not_before), ("iat", c.issued_at)]
        .into_iter()
        .filter_map(|(name, t)| {
            t.filter(|t| *t > now.saturating_add(SKEW_ALLOWANCE_SECS))
                .map(|t| (name, t))
        })
        .map(|(name, t)| {
            format!(
                "{name} {} is {}s ahead",
                show_time(t),
                t.saturating_sub(now)
            )
        })
        .collect::<Vec<_>>();
    if !future.is_empty() {
        out.push(Finding::new(
            Code::TokenNotYetValid,
            format!(
                "token is not valid yet: {} of this clock (more than {SKEW_ALLOWANCE_SECS}s)",
                future.join(", ")
            ),
            format!(
                "a clock is wrong: check NTP/chrony on {node} against the API server's clock; STS rejects tokens that are not yet valid [r18]"
            ),
        ));
    }

    let (Some(iat), Some(exp)) = (c.issued_at, c.expires_at) else {
        return;
    };
    let refresh = refresh_point(iat, exp);
    let warning = i64::try_from(ctx.config.expiry_warning.as_secs()).unwrap_or(i64::MAX);
    // Short-lived tokens sit inside the warning window by design until the kubelet
    // refreshes them; only a token past its refresh point is really running out.
    if exp > now
        && exp.saturating_sub(now) <= warning
        && now > refresh.saturating_add(REFRESH_JITTER_SECS)
    {
        out.push(Finding::new(
            Code::TokenExpiringSoon,
            format!(
                "token expires at {} (in {}s, within --expiry-warning {}s) and the kubelet has not refreshed it since its refresh point {}",
                show_time(exp),
                exp.saturating_sub(now),
                warning,
                show_time(refresh)
            ),
            format!(
                "check the kubelet on {node} (token manager errors, API server reachability) and the volume's expirationSeconds (annotation eks.amazonaws.com/token-expiration); once it expires STS rejects it [r12]"
            ),
        ));
    }
    if now > refresh.saturating_add(ROTATION_GRACE_SECS) {
        out.push(Finding::new(
            Code::TokenNotRotated,
            format!(
                "token issued at {} ({}s lifetime) should have been refreshed by the kubelet at {} (iat + min(80% of lifetime, 24h)); it is {}s overdue",
                show_time(iat),
                exp.saturating_sub(iat),
                show_time(refresh),
                now.saturating_sub(refresh)
            ),
            format!(
                "rotation stalled: check the kubelet on {node} (logs of its token manager, API server reachability) and that the volume is a projected serviceAccountToken, not a copied Secret; the old token works until exp [r12][r13]"
            ),
        ));
    }
}

fn issuer_host(ctx: &Context<'_>) -> String {
    ctx.snapshot
        .token
        .decoded()
        .and_then(|d| d.claims.issuer.as_deref())
        .map(|i| i.trim_start_matches("https://").to_owned())
        .unwrap_or_else(|| "<issuer host/path>".into())
}

fn audience(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(token) = ctx.snapshot.token.decoded() else {
        return;
    };
    let want = &ctx.config.expected_audience;
    let have = &token.claims.audiences;
    if have.iter().any(|a| a == want) {
        return;
    }
    let shown = serde_json::to_string(have).unwrap_or_default();
    out.push(Finding::new(
        Code::AudienceMismatch,
        format!("token audience {shown} does not contain {want}; STS answers InvalidIdentityToken: Incorrect token audience"),
        format!(
            "set the projected volume's serviceAccountToken.audience to {want} (ServiceAccount annotation eks.amazonaws.com/audience, or the webhook's --token-audience), and list it in the IAM OIDC provider's audiences (ClientIDList) and the trust policy's {}:aud condition [r7]",
            issuer_host(ctx)
        ),
    ));
}

fn subject(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let (Some(token), Some(want)) = (ctx.snapshot.token.decoded(), &ctx.config.expected_subject)
    else {
        return;
    };
    let have = token.claims.subject.as_deref();
    if have == Some(want.as_str()) {
        return;
    }
    let shown = have.unwrap_or("no sub claim");
    out.push(Finding::new(
        Code::SubjectMismatch,
        format!("token subject {shown} differs from the expected {want}"),
        format!(
            "run the pod as the intended ServiceAccount (spec.serviceAccountName), or make the role's trust policy condition {}:sub match {shown}; note StringEquals treats * literally, wildcards need StringLike [r8]",
            issuer_host(ctx)
        ),
    ));
}

fn static_credentials(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    if ctx.env.static_sources.is_empty() {
        return;
    }
    let sources: Vec<String> = ctx
        .env
        .static_sources
        .iter()
        .map(ToString::to_string)
        .collect();
    let role = ctx
        .env
        .role_arn
        .as_deref()
        .or(ctx.config.role_arn.as_deref())
        .unwrap_or("the IRSA role");
    out.push(Finding::new(
        Code::StaticCredentialsShadow,
        format!(
            "{}: the default credential chain reads these before web identity, so the app may run as that identity instead of {role}",
            sources.join("; ")
        ),
        "remove the static credentials from the container (env vars, envFrom Secrets, mounted ~/.aws files) so the SDK reaches web identity; every SDK's default chain checks environment keys and the shared profile first [r4]",
    ));
}

fn global_sts_endpoint(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    // Only meaningful for a pod that uses IRSA at all.
    if ctx.env.role_arn.is_none() {
        return;
    }
    let value = ctx.env.sts_regional_endpoints.as_deref();
    if value.is_some_and(|v| v.eq_ignore_ascii_case("regional")) {
        return;
    }
    let shown = value
        .map(|v| format!("is {v}"))
        .unwrap_or_else(|| "is not set".into());
    out.push(Finding::new(
        Code::GlobalStsEndpoint,
        format!("AWS_STS_REGIONAL_ENDPOINTS {shown}: SDKs that default to the global endpoint (botocore before 1.40, CLI v1) send AssumeRoleWithWebIdentity to us-east-1 (the Rust SDK is always regional)"),
        "set AWS_STS_REGIONAL_ENDPOINTS=regional: ServiceAccount annotation eks.amazonaws.com/sts-regional-endpoints: \"true\", or the webhook's --sts-regional-endpoint flag [r16]",
    ));
}

/// Remediation for an STS error, by code and the message variants research row 6-11 lists.
pub fn sts_remediation(code: &str, message: &str, issuer: &str) -> String {
    let msg = message.to_ascii_lowercase();
    match code {
        "AccessDenied" => format!(
            "the role's trust policy rejects this token: check Principal.Federated is arn:aws:iam::<account>:oidc-provider/{issuer}, the condition {issuer}:sub matches this token's sub (StringEquals treats * literally; use StringLike), and {issuer}:aud is sts.amazonaws.com; --trust-policy-file names the failing condition [r8]"
        ),
        "InvalidIdentityToken" if msg.contains("no openidconnect provider") => format!(
            "create the IAM OIDC provider for https://{issuer} in the role's account (eksctl utils associate-iam-oidc-provider, or aws iam create-open-id-connect-provider); a recreated cluster has a new issuer id [r6]"
        ),
        "InvalidIdentityToken" if msg.contains("audience") => {
            "add the token's audience to the IAM OIDC provider's audiences (ClientIDList), or set the projected token's audience to sts.amazonaws.com [r7]".into()
        }
        "InvalidIdentityToken" if msg.contains("thumbprint") => {
            "update the OIDC provider's thumbprint to the issuer's root CA (aws iam update-open-id-connect-provider-thumbprint) [r9]".into()
        }
        "InvalidIdentityToken" if msg.contains("verification key") => format!(
            "STS could not fetch the signing keys from https://{issuer}/.well-known/openid-configuration: usually transient on AWS's side; if it persists the issuer is not publicly reachable [r10]"
        ),
        "InvalidIdentityToken" => format!(
            "STS rejected the token itself: compare its iss, aud and exp with the IAM OIDC provider for https://{issuer} [r6][r7]"
        ),
        "ExpiredTokenException" => {
            "the token presented was expired: see TOKEN_EXPIRED / TOKEN_NOT_ROTATED and the node's clock [r11]".into()
        }
        "IDPCommunicationError" => format!(
            "STS could not reach the issuer https://{issuer}: usually transient (SDKs retry it); if it persists check the issuer's availability [r10]"
        ),
        "IDPRejectedClaim" => "the identity provider rejected a claim of the token: compare the token's claims with the OIDC provider registration [r6]".into(),
        "RegionDisabledException" => {
            "STS is not activated in this region for the role's account: activate it (IAM > Account settings > STS endpoints) or set AWS_REGION to an active region [r16]".into()
        }
        "InvalidParameterValue" | "ValidationError" => {
            "STS rejected the request's parameters: check AWS_ROLE_ARN is a full role ARN (arn:aws:iam::<account>:role/<name>)".into()
        }
        _ => "check the STS error code in the AWS STS AssumeRoleWithWebIdentity documentation; the role, trust policy and OIDC provider are the usual suspects [r8]".into(),
    }
}

fn sts_probe(ctx: &Context<'_>, out: &mut Vec<Finding>) {
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
            "something in the account calls STS too often (a new SDK client per request, reconcile loops, mass pod start-up); share credential providers, and keep --probe-interval at 5m or more [r17]",
        ),
        Some(StsFailure::Unreachable) => Finding::new(
            Code::StsUnreachable,
            format!(
                "STS at {endpoint} could not be reached ({code}: {message}); {failures} attempt(s) in a row"
            ),
            "check DNS and egress to the regional STS endpoint (a VPC endpoint for sts in private clusters, security groups, NetworkPolicy, HTTPS_PROXY/NO_PROXY) and AWS_REGION [r16][r19]",
        ),
        Some(StsFailure::Rejected) | None => Finding::new(
            Code::StsAssumeFailed,
            format!(
                "AssumeRoleWithWebIdentity failed: {code}: {message}; {failures} attempt(s) in a row"
            ),
            sts_remediation(code, message, &issuer_host(ctx)),
        ),
    };
    out.push(finding);
}

/// `(account, role name)` of a role ARN (`arn:aws:iam::A:role/path/N`) or assumed-role ARN (`arn:aws:sts::A:assumed-role/N/S`).
pub fn role_identity(arn: &str) -> Option<(&str, &str)> {
    let a = crate::arn::parse(arn)?;
    let name = match a.service {
        "iam" => a.resource.strip_prefix("role/")?.rsplit('/').next()?,
        "sts" => a
            .resource
            .strip_prefix("assumed-role/")?
            .split('/')
            .next()?,
        _ => return None,
    };
    Some((a.account, name))
}

/// The session name of an assumed-role ARN.
pub fn session_name(arn: &str) -> Option<&str> {
    arn.split_once(":assumed-role/")?
        .1
        .split_once('/')
        .map(|(_, s)| s)
}

/// Whether an ARN is an EC2 instance-profile session (`.../i-0abc...`), i.e. the node role.
pub fn is_node_role_session(arn: &str) -> bool {
    session_name(arn).is_some_and(|s| {
        s.strip_prefix("i-")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

fn configured_role<'a>(ctx: &Context<'a>) -> Option<&'a str> {
    ctx.config
        .role_arn
        .as_deref()
        .or(ctx.env.role_arn.as_deref())
}

fn role_mismatch(ctx: &Context<'_>, out: &mut Vec<Finding>) {
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

fn node_role_fallback(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let chain = &ctx.snapshot.chain;
    let from_imds = chain
        .provider
        .as_deref()
        .is_some_and(|p| matches!(p, "IMDSv2" | "IMDS" | "Ec2InstanceMetadata"));
    let node_session = chain
        .caller_arn
        .as_deref()
        .is_some_and(is_node_role_session);
    if !from_imds && !node_session {
        return;
    }
    let caller = chain.caller_arn.as_deref().unwrap_or("an unknown identity");
    let provider = chain.provider.as_deref().unwrap_or("unknown");
    out.push(Finding::new(
        Code::NodeRoleFallback,
        format!("the default credential chain resolved {caller} through provider {provider}: the app runs with the node's instance role, not IRSA"),
        "fix IRSA for this pod (see IRSA_ENV_MISSING and the token findings), and block pods from node credentials: IMDSv2 with http_put_response_hop_limit=1 and http_tokens=required on the node group, or a NetworkPolicy denying 169.254.169.254 [r1][r2]",
    ));
}

fn imds_reachable(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let chain = &ctx.snapshot.chain;
    if chain.imds_reachable() != Some(true) {
        return;
    }
    let show = |v: Option<bool>| match v {
        Some(true) => "reachable",
        Some(false) => "not reachable",
        None => "not checked",
    };
    out.push(Finding::new(
        Code::ImdsReachable,
        format!(
            "the pod can reach IMDS (IMDSv2 token PUT: {}; IMDSv1 credentials GET: {}), so the node role's credentials are available to it",
            show(chain.imds_v2_reachable),
            show(chain.imds_v1_reachable)
        ),
        "on the node group set metadata http_tokens=required and http_put_response_hop_limit=1 (blocks IMDSv1 and IMDSv2 from pods), or deny 169.254.169.254 with a NetworkPolicy [r1][r2]",
    ));
}

fn clock_skew(ctx: &Context<'_>, out: &mut Vec<Finding>) {
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
            "fix time sync on {} (chrony/NTP, Amazon Time Sync Service at 169.254.169.123); skew breaks SigV4 signing and token validity checks [r18]",
            node_hint(ctx)
        ),
    ));
}

fn token_signature(ctx: &Context<'_>, out: &mut Vec<Finding>) {
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

fn extra_token_audiences(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for (cfg, token) in ctx
        .config
        .extra_tokens
        .iter()
        .zip(&ctx.snapshot.extra_tokens)
    {
        let (Some(want), Some(d)) = (&cfg.expected_audience, token.decoded()) else {
            continue;
        };
        if d.claims.audiences.iter().any(|a| a == want) {
            continue;
        }
        out.push(Finding::new(
            Code::AudienceMismatch,
            format!(
                "[{} token] audience {} does not contain {want}",
                cfg.name,
                serde_json::to_string(&d.claims.audiences).unwrap_or_default()
            ),
            "the EKS Pod Identity webhook projects this token with audience pods.eks.amazonaws.com; check the pod's eks-pod-identity-token volume was not edited, and that AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE points at it [r20]",
        ));
    }
}

fn stale_warnafter(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let now = time::unix(ctx.now);
    for (name, token) in ctx.tokens() {
        let Some(warn_after) = token.decoded().and_then(|d| d.claims.kubernetes.warn_after) else {
            continue;
        };
        if now <= warn_after {
            continue;
        }
        out.push(Finding::new(
            Code::TokenStaleWarnafter,
            format!(
                "[{name} token] now is {}s past its warnafter {}: the kubelet has not refreshed this extended-expiry token, and the API server flags every use (audit annotation authentication.k8s.io/stale-token)",
                now.saturating_sub(warn_after),
                show_time(warn_after)
            ),
            "the kubelet should have refreshed it within the hour: check the kubelet and the projected kube-api-access volume; apps must re-read the token file (client-go does since v0.15); EKS rejects tokens older than 90 days [r14]",
        ));
    }
}

fn both_identity_mechanisms(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    if !(ctx.env.uses_irsa() && ctx.env.uses_pod_identity()) {
        return;
    }
    let role = ctx
        .env
        .role_arn
        .as_deref()
        .unwrap_or("(AWS_ROLE_ARN unset)");
    out.push(Finding::new(
        Code::BothIdentityMechanisms,
        format!(
            "IRSA (AWS_ROLE_ARN={role}) and EKS Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI) are both configured: every SDK's default chain tries web identity before the container provider, so the app gets the IRSA role, not the Pod Identity association's"
        ),
        "keep one: remove the eks.amazonaws.com/role-arn annotation from the ServiceAccount, or delete the Pod Identity association, then recreate the pod (both webhooks mutate only at creation) [r21]",
    ));
}

fn proxy_intercepts_credentials(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    if ctx.env.proxy_vars.is_empty() {
        return;
    }
    let no_proxy = ctx.env.no_proxy.as_deref().unwrap_or("");
    let uncovered: Vec<&str> = crate::environment::CREDENTIAL_ENDPOINTS
        .into_iter()
        .filter(|host| !crate::environment::no_proxy_covers(no_proxy, host))
        .collect();
    if uncovered.is_empty() {
        return;
    }
    out.push(Finding::new(
        Code::ProxyInterceptsCredentials,
        format!(
            "{} set, and NO_PROXY ({}) does not cover {}: SDKs send credential requests to the Pod Identity agent and IMDS through the proxy, which times out or answers for the wrong host",
            ctx.env.proxy_vars.join(" and "),
            if no_proxy.is_empty() { "unset" } else { no_proxy },
            uncovered.join(", ")
        ),
        "add 169.254.170.23,fd00:ec2::23,169.254.169.254 to NO_PROXY (and no_proxy) in the pod spec [r19]",
    ));
}

fn pod_identity_agent(ctx: &Context<'_>, out: &mut Vec<Finding>) {
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
        Some(crate::snapshot::AgentFailure::Denied) => Finding::new(
            Code::PodIdentityDenied,
            format!(
                "the Pod Identity agent at {endpoint} refused the pod's token: {status}{detail}; {failures} attempt(s) in a row"
            ),
            "check the Pod Identity association exists for this namespace/ServiceAccount (aws eks list-pod-identity-associations), that the role's trust policy allows pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession, and that the pod is not hostNetwork [r20]",
        ),
        Some(crate::snapshot::AgentFailure::AgentError) => Finding::new(
            Code::PodIdentityAgentError,
            format!(
                "the Pod Identity agent at {endpoint} failed: {status}{detail}; {failures} attempt(s) in a row"
            ),
            "the agent could not get credentials from EKS Auth: check the eks-pod-identity-agent DaemonSet's logs on this node (kubectl logs -n kube-system -l app.kubernetes.io/name=eks-pod-identity-agent) and the node role's eks-auth:AssumeRoleForPodIdentity permission [r20]",
        ),
        Some(crate::snapshot::AgentFailure::Unreachable) | None => Finding::new(
            Code::PodIdentityAgentUnreachable,
            format!(
                "the Pod Identity agent at {endpoint} could not be reached: {detail}; {failures} attempt(s) in a row"
            ),
            "check the eks-pod-identity-agent DaemonSet runs on this node (kubectl get pods -n kube-system -l app.kubernetes.io/name=eks-pod-identity-agent -o wide), that the pod is not hostNetwork, that no NetworkPolicy blocks 169.254.170.23:80, and NO_PROXY [r19][r20]",
        ),
    };
    out.push(finding);
}

/// The trust policy judged against the current token, when both are known.
pub fn trust_policy_evaluation(snapshot: &Snapshot) -> Option<trust_policy::Evaluation> {
    let policy = snapshot.trust_policy.policy.as_ref()?.as_ref().ok()?;
    let token = snapshot.token.decoded()?;
    Some(trust_policy::evaluate(policy, &token.claims))
}

fn trust_policy(ctx: &Context<'_>, out: &mut Vec<Finding>) {
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

#[cfg(test)]
mod tests;
