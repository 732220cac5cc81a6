//! The application's own calls (client-side monitoring): `APP_ACCESS_DENIED`,
//! `APP_NOT_USING_POD_IDENTITY`, `APP_SDK_TOO_OLD`, `APP_CREDENTIALS_FAILING`.
//!
//! Live evidence from the application itself: what its SDK sent in the last 15
//! minutes. Healthy pods that must raise nothing: an application using the pod's
//! identity (said by `m/` metrics, or shown by a temporary key); a pod that has no
//! IRSA or Pod Identity at all (static keys are then its design: the identity checks
//! do not apply); an unknown credential source (no evidence is no finding); calls older
//! than the window; a successful call to anything.

use super::{Check, Code, Context, Finding, Inputs};
use crate::app::explain::{self, AppEvaluation, DenialCase, Pod};
use crate::app::sdk::{CredentialSource, MINIMUMS_SOURCE, Mechanism};
use crate::app::{AppSnapshot, recent};
use crate::time;

pub(super) const CHECKS: &[Check] = &[
    access_denied,
    not_using_pod_identity,
    sdk_too_old,
    credentials_failing,
];

/// At most this many `APP_ACCESS_DENIED` findings (most recent first); the report lists all.
const MAX_DENIAL_FINDINGS: usize = 5;

/// The identity the pod gives its application: web identity wins over Pod Identity in
/// every SDK's chain when both are configured.
pub(crate) fn mechanism(ctx: &Context<'_>) -> Option<Mechanism> {
    let irsa = ctx.config.irsa_token
        && (ctx.config.role_arn.is_some() || ctx.env.role_arn.is_some())
        && ctx.env.token_file.is_some();
    if irsa {
        Some(Mechanism::WebIdentity)
    } else if ctx.config.pod_identity.is_some() {
        Some(Mechanism::PodIdentity)
    } else {
        None
    }
}

/// The application's calls judged against the pod and the role's policies as last read.
pub fn app_evaluation(ctx: &Context<'_>) -> Option<AppEvaluation> {
    let app = ctx.snapshot.app.as_ref()?;
    let access = &ctx.snapshot.access;
    let policies = access.policies.as_ref().map(|r| {
        r.as_ref()
            .map(|p| p.as_ref())
            .map_err(|e| e.message.as_str())
    });
    let pod = Pod {
        role_arn: super::configured_role(ctx).or(access.role_arn.as_deref()),
        mechanism: mechanism(ctx),
        policies,
        region: super::sdk_region(ctx),
        node_key: ctx.snapshot.chain.node_key,
    };
    Some(explain::evaluate(app, &pod))
}

fn parts<'a>(ctx: &'a Inputs<'_>) -> Option<(&'a AppSnapshot, &'a AppEvaluation)> {
    Some((ctx.snapshot.app.as_ref()?, ctx.app?))
}

fn ago(at: std::time::SystemTime) -> String {
    time::rfc3339_time(at).unwrap_or_else(|| "-".into())
}

fn times(n: u64) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{n} times")
    }
}

fn access_denied(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some((app, eval)) = parts(ctx) else {
        return;
    };
    let mut recent_denials: Vec<_> = app
        .denials
        .iter()
        .zip(&eval.denials)
        .filter(|(d, _)| recent(d.last_seen, ctx.now))
        .collect();
    recent_denials.sort_by_key(|d| std::cmp::Reverse(d.0.last_seen));
    for (d, v) in recent_denials.into_iter().take(MAX_DENIAL_FINDINGS) {
        let on = d
            .resource
            .as_deref()
            .map(|r| format!(" on {r}"))
            .unwrap_or_default();
        let as_whom = d
            .principal
            .as_deref()
            .map(|p| format!(" as {p}"))
            .unwrap_or_default();
        let mut fix = v.fix.clone();
        if !matches!(v.case, Some(DenialCase::OtherPrincipal) | None) {
            fix.push_str(
                "; then POST /debug/probe to re-read the role's policies (read at most once a minute after a new denial, hourly otherwise)",
            );
        }
        out.push(Finding::new(
            Code::AppAccessDenied,
            format!(
                "the application's {}{on} was denied{as_whom} ({}, {}, last at {}): {}",
                d.action,
                d.error_code,
                times(d.count),
                ago(d.last_seen),
                v.explanation
            ),
            fix,
        ));
    }
}

fn not_using_pod_identity(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some((app, eval)) = parts(ctx) else {
        return;
    };
    let Some(mechanism) = mechanism(ctx) else {
        return;
    };
    let identity = match mechanism {
        Mechanism::WebIdentity => "web identity (IRSA)",
        Mechanism::PodIdentity => "EKS Pod Identity",
    };
    for (e, v) in app.sdks.iter().zip(&eval.sdks) {
        if !v.bypasses || !explain::active(e, ctx.now) {
            continue;
        }
        let fix = match v.source {
            CredentialSource::Environment => {
                "remove AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the application container (env and envFrom): environment keys win over web identity in every SDK's chain"
            }
            CredentialSource::Profile => {
                "remove AWS_PROFILE / AWS_SHARED_CREDENTIALS_FILE and mounted ~/.aws credentials from the application container, or make the profile use web identity (role_arn + web_identity_token_file)"
            }
            CredentialSource::Imds => {
                "the SDK fell back to the node's instance role: upgrade an SDK too old for the pod's identity, check the application container has AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (a pod created before its ServiceAccount was annotated must be recreated), and block IMDS from pods (hop limit 1)"
            }
            CredentialSource::Process | CredentialSource::Sso => {
                "remove the credential_process / SSO profile the application's SDK is configured with, so its default chain reaches the pod's identity"
            }
            _ => {
                "remove the long-term access key the application is configured with (environment, a credentials file, or code): the pod's identity only ever gives temporary credentials"
            }
        };
        out.push(Finding::new(
            Code::AppNotUsingPodIdentity,
            format!(
                "the application's {} {}{} signs its calls with {} credentials, not the pod's {identity}: {}",
                e.sdk.name,
                e.sdk.version,
                client(&e.client_id),
                v.source.as_str(),
                v.evidence.as_deref().unwrap_or("-")
            ),
            fix,
        ));
    }
}

fn client(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!(" (client id {id})")
    }
}

fn sdk_too_old(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some((app, eval)) = parts(ctx) else {
        return;
    };
    let Some(mechanism) = mechanism(ctx) else {
        return;
    };
    for (e, v) in app.sdks.iter().zip(&eval.sdks) {
        let Some(minimum) = v.too_old_for else {
            continue;
        };
        if !explain::active(e, ctx.now) {
            continue;
        }
        let (what, consequence) = match mechanism {
            Mechanism::WebIdentity => (
                "web identity (IRSA)",
                "it ignores AWS_WEB_IDENTITY_TOKEN_FILE and falls through to the next provider (the node role, through IMDS)",
            ),
            Mechanism::PodIdentity => (
                "EKS Pod Identity",
                "its container provider refuses the agent's address or token and falls through to the next provider",
            ),
        };
        out.push(Finding::new(
            Code::AppSdkTooOld,
            format!(
                "the application's {} {}{} predates {what} support (minimum {minimum}): {consequence}",
                e.sdk.name,
                e.sdk.version,
                client(&e.client_id)
            ),
            format!(
                "upgrade {} to {minimum} or later (minimum versions: {MINIMUMS_SOURCE})",
                e.sdk.name
            ),
        ));
    }
}

fn credentials_failing(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some((app, _)) = parts(ctx) else { return };
    for f in app.failures.iter().filter(|f| recent(f.last_seen, ctx.now)) {
        let message = f
            .error_message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let (what, fix) = if f.expired {
            (
                format!(
                    "the application's {} calls were refused as signed with expired credentials ({}{message}), {}, last at {}",
                    f.action,
                    f.error_code,
                    times(f.count),
                    ago(f.last_seen)
                ),
                "the application keeps credentials past their expiry: let the SDK's default chain refresh them (don't cache credentials or build clients from a one-time credentials object), upgrade an old SDK, and check the node's clock",
            )
        } else {
            (
                format!(
                    "the application's own credential provider failed: its {} answered {}{message} ({}, last at {})",
                    f.action,
                    f.error_code,
                    times(f.count),
                    ago(f.last_seen)
                ),
                "compare the application container's AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_SESSION_NAME with the sidecar's (the sidecar's own test-assume is in the STS section); a trust policy pinning sts:RoleSessionName or another role ARN refuses only the application",
            )
        };
        out.push(Finding::new(Code::AppCredentialsFailing, what, fix));
    }
}
