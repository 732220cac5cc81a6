//! What one probe attempt found: plain data that the shell's probes return
//! and `snapshot` applies. Never a credential: the probes drop the secrets
//! before anything reaches these types.

use std::time::{Duration, SystemTime};

/// How an STS failure is classified (drives the finding code and backoff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsFailure {
    /// STS answered with an error (`STS_ASSUME_FAILED`).
    Rejected,
    /// STS answered `Throttling` (`STS_THROTTLED`).
    Throttled,
    /// STS could not be reached or timed out (`STS_UNREACHABLE`).
    Unreachable,
}

/// What one test-assume found (after the probe's own retries).
#[derive(Debug, Clone, PartialEq)]
pub struct AssumeOutcome {
    /// The endpoint the SDK sent the request to (scheme and authority).
    pub endpoint: Option<String>,
    /// Wall-clock latency of the last `AssumeRoleWithWebIdentity` request.
    pub latency: Duration,
    /// Local clock minus the server's `Date`, seconds.
    pub clock_skew_seconds: Option<f64>,
    /// The requests retried before the last one (transient failures), oldest first.
    pub retried: Vec<RetriedAttempt>,
    /// The session name the test-assume used.
    pub session_name: String,
    /// Success or a classified failure.
    pub result: Result<Assumed, AssumeFailure>,
}

/// A request that failed transiently and was retried within the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetriedAttempt {
    /// Its latency.
    pub latency: Duration,
    /// Its error code (`InternalFailure`, `IDPCommunicationError`, `Timeout`, ...).
    pub code: String,
}

/// A successful test-assume (no credentials kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Assumed {
    /// `AssumedRoleUser.Arn`.
    pub assumed_role_arn: Option<String>,
    /// `Credentials.Expiration`.
    pub credentials_expire_at: Option<SystemTime>,
    /// `GetCallerIdentity` with the credentials: the ARN, or why it failed.
    pub caller: Result<String, String>,
    /// `iam:GetRole`'s trust policy document (as IAM returns it, URL-encoded), when asked for.
    pub trust_policy: Option<Result<String, String>>,
    /// `--expect-access`: the role's identity policies and boundary, when asked for.
    pub access: Option<Result<crate::policy::access::RolePolicies, AccessReadError>>,
}

/// A classified STS failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeFailure {
    /// Rejected, throttled or unreachable.
    pub kind: StsFailure,
    /// STS error code, or `Unreachable` / `Timeout` / `InvalidResponse`.
    pub code: String,
    /// Human-readable detail, scrubbed of the token.
    pub message: String,
    /// The HTTP status STS answered with, when it answered.
    pub http_status: Option<u16>,
}

/// The message STS gives when it could not fetch the issuer's keys: transient on STS's side.
const KEY_FETCH_FAILED: &str = "Couldn't retrieve verification key";

impl AssumeFailure {
    /// Whether the SDK's standard retry mode would retry this: a 5xx, `IDPCommunicationError`,
    /// STS failing to fetch the issuer's keys, a timeout or a dropped connection. Never
    /// throttling (backing off is the point) nor a denial (it will not change).
    pub fn is_transient(&self) -> bool {
        match self.kind {
            StsFailure::Throttled => false,
            StsFailure::Unreachable => true,
            StsFailure::Rejected => {
                self.http_status.is_some_and(|s| s >= 500)
                    || self.code == "IDPCommunicationError"
                    || (self.code == "InvalidIdentityToken"
                        && self.message.contains(KEY_FETCH_FAILED))
            }
        }
    }
}

/// How a Pod Identity agent call failed (drives the finding code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentFailure {
    /// Refused, no route, or the connection not accepted in time: `POD_IDENTITY_AGENT_UNREACHABLE`.
    Unreachable,
    /// A 400/403/404: `POD_IDENTITY_DENIED`.
    Denied,
    /// A 429: `POD_IDENTITY_THROTTLED`.
    Throttled,
    /// A 5xx or an answer that is not credentials: `POD_IDENTITY_AGENT_ERROR`.
    AgentError,
    /// Connected, but no answer in time (EKS Auth slow behind the agent): `POD_IDENTITY_AGENT_ERROR`.
    Slow,
}

/// One call to the EKS Pod Identity agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentOutcome {
    /// Wall-clock latency.
    pub latency: Duration,
    /// The HTTP status, when the agent answered.
    pub http_status: Option<u16>,
    /// What the credentials are, or why there are none.
    pub result: Result<AgentCredentials, (AgentFailure, String)>,
}

/// What the agent's credentials tell, without the secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCredentials {
    /// `AccountId`.
    pub account_id: Option<String>,
    /// `Expiration`.
    pub expires_at: Option<SystemTime>,
    /// `GetCallerIdentity` with them.
    pub caller: Result<String, String>,
    /// `--expect-access` on a Pod Identity pod: the role's policies read with them, and the
    /// role they were read for, when asked for.
    pub access: Option<(
        String,
        Result<crate::policy::access::RolePolicies, AccessReadError>,
    )>,
}

/// Why the role's policies could not be read (one line, no credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessReadError {
    /// What kind of failure: it decides the remediation.
    pub failure: AccessReadFailure,
    /// `iam:<Operation>: <code>: <message>`, or the document that did not parse.
    pub message: String,
}

/// The kinds of [`AccessReadError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessReadFailure {
    /// IAM refused (`AccessDenied`): the role may not read its own policies.
    Refused,
    /// IAM could not be reached (connect, DNS, TLS, timeout).
    Unreachable,
    /// IAM answered another error (throttling, a server error) after the SDK's retries.
    Failed,
    /// IAM answered, but with a document or answer irsa-doctor could not use.
    Unusable,
}

impl AccessReadFailure {
    /// The class of an IAM error code (the SDK's, as `classify` reports it).
    pub fn of_code(code: &str) -> AccessReadFailure {
        match code {
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
                AccessReadFailure::Refused
            }
            "Unreachable" | "Timeout" => AccessReadFailure::Unreachable,
            _ => AccessReadFailure::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per kind of failure: is it retried within the probe?
    #[test]
    fn transient_failures_table() {
        let f = |kind, code: &str, message: &str, http_status| AssumeFailure {
            kind,
            code: code.into(),
            message: message.into(),
            http_status,
        };
        let rows = [
            (
                "500 InternalFailure",
                f(StsFailure::Rejected, "InternalFailure", "", Some(500)),
                true,
            ),
            (
                "503 from a proxy page",
                f(StsFailure::Rejected, "InvalidResponse", "", Some(503)),
                true,
            ),
            (
                "IDP communication",
                f(StsFailure::Rejected, "IDPCommunicationError", "", Some(400)),
                true,
            ),
            (
                "key fetch failed",
                f(
                    StsFailure::Rejected,
                    "InvalidIdentityToken",
                    "Couldn't retrieve verification key from your identity provider",
                    Some(400),
                ),
                true,
            ),
            (
                "dropped connection",
                f(
                    StsFailure::Unreachable,
                    "Unreachable",
                    "connection reset",
                    None,
                ),
                true,
            ),
            (
                "timeout",
                f(StsFailure::Unreachable, "Timeout", "", None),
                true,
            ),
            (
                "throttled 400",
                f(
                    StsFailure::Throttled,
                    "Throttling",
                    "Rate exceeded",
                    Some(400),
                ),
                false,
            ),
            (
                "throttled 503 stays throttled",
                f(StsFailure::Throttled, "ThrottlingException", "", Some(503)),
                false,
            ),
            (
                "access denied",
                f(
                    StsFailure::Rejected,
                    "AccessDenied",
                    "Not authorized",
                    Some(403),
                ),
                false,
            ),
            (
                "no OIDC provider",
                f(
                    StsFailure::Rejected,
                    "InvalidIdentityToken",
                    "No OpenIDConnect provider found",
                    Some(400),
                ),
                false,
            ),
            (
                "expired token",
                f(
                    StsFailure::Rejected,
                    "ExpiredTokenException",
                    "Token expired",
                    Some(400),
                ),
                false,
            ),
            (
                "garbage 200",
                f(StsFailure::Rejected, "InvalidResponse", "", Some(200)),
                false,
            ),
        ];
        for (name, failure, want) in rows {
            assert_eq!(failure.is_transient(), want, "{name}");
        }
    }
}
