//! The token files and their lifetimes: missing, unreadable, malformed, expired,
//! not yet valid, expiring, not rotated, stale `warnafter` (every configured token).

use super::links::{
    IRSA_POD_CONFIGURATION, K8S_PROJECTED_PERMISSIONS, K8S_PROJECTED_TOKEN, SERVICE_ACCOUNT_TOKENS,
    TIME_SYNC,
};
use super::{Check, Code, Finding, Inputs, show_time};
use crate::snapshot::TokenSnapshot;
use crate::time;
use crate::token::{Claims, ReadError};

pub(super) const CHECKS: &[Check] = &[token_files, token_lifetimes, stale_warnafter];

/// Allowed clock difference for `nbf`/`iat` and for STS's `Date`.
pub const SKEW_ALLOWANCE_SECS: i64 = 60;
/// How long past the kubelet's refresh point before rotation counts as stalled.
pub const ROTATION_GRACE_SECS: i64 = 600;
/// The kubelet refreshes when a token is older than 80% of its TTL or 24 h (its token
/// manager, kubernetes `pkg/kubelet/token/token_manager.go`).
const MAX_REFRESH_AGE_SECS: i64 = 24 * 3600;
/// How long after its refresh point the kubelet may take to write the new token: it
/// rewrites projected volumes at the next pod sync (`--sync-frequency` 1 min, jittered up to
/// 50%) plus the token manager's 10 s, so up to about 100 s; allow 2 minutes.
pub const REFRESH_LAG_SECS: i64 = 120;

/// The kubelet's refresh point for a token: `iat + min(0.8 × lifetime, 24 h)`.
pub fn refresh_point(issued_at: i64, expires_at: i64) -> i64 {
    let lifetime = expires_at.saturating_sub(issued_at).max(0);
    let eighty_percent = (i128::from(lifetime) * 4 / 5) as i64;
    issued_at.saturating_add(eighty_percent.min(MAX_REFRESH_AGE_SECS))
}

/// Whether a token's claims make it usable at `now`: the one judgement behind both the
/// `TOKEN_EXPIRED`/`TOKEN_NOT_YET_VALID` findings and the `irsa_token_valid` gauge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenValidity {
    /// `exp`, when it is not in the future.
    pub expired_at: Option<i64>,
    /// `nbf` and `iat`, each when it lies beyond the skew allowance in the future.
    pub not_yet_valid: Vec<(&'static str, i64)>,
    /// Whether the token has an `exp` at all (one without cannot be judged valid).
    pub has_expiry: bool,
}

impl TokenValidity {
    /// Valid now: has an `exp` in the future and neither `nbf` nor `iat` is ahead of the clock.
    pub fn is_valid(&self) -> bool {
        self.has_expiry && self.expired_at.is_none() && self.not_yet_valid.is_empty()
    }
}

/// Judges `exp`, `nbf` and `iat` against `now` (Unix seconds), allowing `SKEW_ALLOWANCE_SECS`.
pub fn validity(claims: &Claims, now: i64) -> TokenValidity {
    TokenValidity {
        expired_at: claims.expires_at.filter(|exp| *exp <= now),
        not_yet_valid: [("nbf", claims.not_before), ("iat", claims.issued_at)]
            .into_iter()
            .filter_map(|(name, t)| {
                t.filter(|t| *t > now.saturating_add(SKEW_ALLOWANCE_SECS))
                    .map(|t| (name, t))
            })
            .collect(),
        has_expiry: claims.expires_at.is_some(),
    }
}

/// Runs a token check on every configured token; findings about tokens other than the
/// IRSA one say which token they are about.
fn per_token(
    ctx: &Inputs<'_>,
    out: &mut Vec<Finding>,
    check: fn(&Inputs<'_>, &TokenSnapshot, &mut Vec<Finding>),
) {
    for (name, token) in ctx.tokens() {
        let mut found = Vec::new();
        check(ctx, token, &mut found);
        for f in &mut found {
            f.token = Some(name.to_owned());
            if name != crate::config::IRSA {
                f.message = format!("[{name} token] {}", f.message);
            }
        }
        out.extend(found);
    }
}

fn token_files(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    per_token(ctx, out, token_file);
}

fn token_lifetimes(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    per_token(ctx, out, token_lifetime);
}

fn token_file(_ctx: &Inputs<'_>, token: &TokenSnapshot, out: &mut Vec<Finding>) {
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
                "the projected token volume (aws-iam-token, a serviceAccountToken source with audience sts.amazonaws.com and path token) is not mounted at {dir}: recreate the pod after annotating its ServiceAccount so the webhook adds it, or mount it yourself; if AWS_WEB_IDENTITY_TOKEN_FILE was overridden, point it at the mounted file; see {IRSA_POD_CONFIGURATION}"
            ),
        ),
        ReadError::Unreadable { path, reason } => Finding::new(
            Code::TokenUnreadable,
            format!("token file {path} exists but cannot be read: {reason}"),
            format!(
                "give the container's user read access: set the pod's securityContext.fsGroup (for example 65534) so the projected file is group-readable, or run as the file's owner; clusters before Kubernetes 1.19 wrote it 0600 root; see {K8S_PROJECTED_PERMISSIONS}"
            ),
        ),
        ReadError::Malformed { path, source } => Finding::new(
            Code::TokenMalformed,
            format!("token file {path} is not a service-account JWT: {source}"),
            "point AWS_WEB_IDENTITY_TOKEN_FILE at the projected serviceAccountToken file (not a directory, certificate or config file) and make sure nothing else writes to that volume; `irsa-doctor decode` shows what the file holds",
        ),
    };
    out.push(finding);
}

fn token_lifetime(ctx: &Inputs<'_>, token: &TokenSnapshot, out: &mut Vec<Finding>) {
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

    let validity = validity(c, now);
    if let Some(exp) = validity.expired_at {
        out.push(Finding::new(
            Code::TokenExpired,
            format!(
                "token expired at {} ({}s ago); STS answers ExpiredTokenException",
                show_time(exp),
                now.saturating_sub(exp)
            ),
            format!(
                "the kubelet stopped refreshing the projected token: check the kubelet's token manager on {node} and its access to the API server, then recreate the pod for a fresh token; apps that cache the token must re-read the file; see {K8S_PROJECTED_TOKEN}"
            ),
        ));
    }

    let future = validity
        .not_yet_valid
        .iter()
        .map(|(name, t)| {
            format!(
                "{name} {} is {}s ahead",
                show_time(*t),
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
                "a clock is wrong: check NTP/chrony on {node} against the API server's clock; STS rejects tokens that are not yet valid; see {TIME_SYNC}"
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
        && now > refresh.saturating_add(REFRESH_LAG_SECS)
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
                "check the kubelet on {node} (token manager errors, API server reachability) and the volume's expirationSeconds (annotation eks.amazonaws.com/token-expiration); once it expires STS rejects it; see {K8S_PROJECTED_TOKEN}"
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
                "rotation stalled: check the kubelet on {node} (logs of its token manager, API server reachability) and that the volume is a projected serviceAccountToken, not a copied Secret; the old token works until exp; see {K8S_PROJECTED_TOKEN}"
            ),
        ));
    }
}

fn stale_warnafter(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
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
            format!("the kubelet should have refreshed it within the hour: check the kubelet and the projected kube-api-access volume; apps must re-read the token file (client-go does since v0.15); EKS rejects tokens older than 90 days; see {SERVICE_ACCOUNT_TOKENS}"),
        ).about(name));
    }
}
