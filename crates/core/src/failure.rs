//! One table per fact: what an STS or Pod Identity agent failure means.
//!
//! The probe classifies an error with these tables, the metrics label it with
//! them, and the findings name it from them, so the three can never drift
//! apart again (issue 11: `ThrottlingException` was classified as throttling
//! but labelled `Other`; `TooManyRequestsException` was neither).

use crate::findings::Code;
use crate::snapshot::{AgentFailure, StsFailure};

/// One STS error code: its class, its bounded metric label, and whether the SDK's standard
/// retry mode would retry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StsCode {
    /// The code as STS (or the probe, for `Unreachable`/`Timeout`) spells it.
    pub code: &'static str,
    /// Rejected, throttled or unreachable: decides the finding and the backoff.
    pub class: StsFailure,
    /// The `code` label of `irsa_sts_assume_errors_total` (SPEC 6).
    pub label: &'static str,
    /// Transient: worth retrying within one probe (never throttling or a denial).
    pub transient: bool,
}

const fn row(
    code: &'static str,
    class: StsFailure,
    label: &'static str,
    transient: bool,
) -> StsCode {
    StsCode {
        code,
        class,
        label,
        transient,
    }
}

use StsFailure::{Rejected, Throttled, Unreachable};

/// Every STS error code irsa-doctor knows; anything else is `Rejected`, label `Other`, not transient.
pub const STS_CODES: &[StsCode] = &[
    row("AccessDenied", Rejected, "AccessDenied", false),
    row(
        "InvalidIdentityToken",
        Rejected,
        "InvalidIdentityToken",
        false,
    ),
    row(
        "ExpiredTokenException",
        Rejected,
        "ExpiredTokenException",
        false,
    ),
    row(
        "IDPCommunicationError",
        Rejected,
        "IDPCommunicationError",
        true,
    ),
    row("IDPRejectedClaim", Rejected, "IDPRejectedClaim", false),
    row(
        "RegionDisabledException",
        Rejected,
        "RegionDisabledException",
        false,
    ),
    row("Throttling", Throttled, "Throttling", false),
    row("ThrottlingException", Throttled, "Throttling", false),
    row("TooManyRequestsException", Throttled, "Throttling", false),
    row("TooManyRequests", Throttled, "Throttling", false),
    row("RequestLimitExceeded", Throttled, "Throttling", false),
    row("RequestThrottled", Throttled, "Throttling", false),
    // The probe's own codes for transport failures.
    row("Unreachable", Unreachable, "Unreachable", true),
    row("Timeout", Unreachable, "Timeout", true),
    // 5xx-style service errors the SDK's standard retry mode treats as transient.
    row("InternalFailure", Rejected, "Other", true),
    row("InternalError", Rejected, "Other", true),
    row("ServiceUnavailable", Rejected, "Other", true),
    row("RequestTimeout", Rejected, "Other", true),
    row("RequestTimeoutException", Rejected, "Other", true),
];

/// Every bounded `code` label of `irsa_sts_assume_errors_total`, in SPEC 6 order.
pub const STS_LABELS: [&str; 10] = [
    "AccessDenied",
    "InvalidIdentityToken",
    "ExpiredTokenException",
    "IDPCommunicationError",
    "IDPRejectedClaim",
    "RegionDisabledException",
    "Throttling",
    "Unreachable",
    "Timeout",
    "Other",
];

/// The table row of an STS error code, when it is a known one.
pub fn sts_code(code: &str) -> Option<&'static StsCode> {
    STS_CODES.iter().find(|r| r.code == code)
}

/// The class of an STS error code (unknown codes are rejections).
pub fn sts_class(code: &str) -> StsFailure {
    sts_code(code).map_or(Rejected, |r| r.class)
}

/// The bounded metric label of any STS error code (never the code itself when unknown).
pub fn sts_label(code: &str) -> &'static str {
    sts_code(code).map_or("Other", |r| r.label)
}

/// Whether a failed test-assume is transient and worth retrying within the probe: the table's
/// transient codes, plus `InvalidIdentityToken` when STS only could not fetch the issuer's keys.
pub fn sts_is_transient(code: &str, message: &str) -> bool {
    sts_code(code).is_some_and(|r| r.transient)
        || (code == "InvalidIdentityToken"
            && message
                .to_ascii_lowercase()
                .contains("couldn't retrieve verification key"))
}

/// The finding an STS failure class raises.
pub fn sts_finding(class: StsFailure) -> Code {
    match class {
        Rejected => Code::StsAssumeFailed,
        Throttled => Code::StsThrottled,
        Unreachable => Code::StsUnreachable,
    }
}

/// Every bounded `code` label of `irsa_pod_identity_errors_total` (SPEC 6).
pub const AGENT_LABELS: [&str; 4] = ["Unreachable", "Denied", "AgentError", "Throttled"];

/// The metric label and the finding of a Pod Identity agent failure.
pub fn agent_failure(failure: AgentFailure) -> (&'static str, Code) {
    match failure {
        AgentFailure::Unreachable => ("Unreachable", Code::PodIdentityAgentUnreachable),
        AgentFailure::Denied => ("Denied", Code::PodIdentityDenied),
        AgentFailure::AgentError => ("AgentError", Code::PodIdentityAgentError),
    }
}

/// The bounded metric label of a Pod Identity agent failure.
pub fn agent_label(failure: AgentFailure) -> &'static str {
    agent_failure(failure).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_codes_classify_label_and_retry_from_one_table() {
        // (code, message, class, label, transient)
        let cases = [
            (
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                Rejected,
                "AccessDenied",
                false,
            ),
            (
                "Throttling",
                "Rate exceeded",
                Throttled,
                "Throttling",
                false,
            ),
            // Issue 11: these two were labelled Other / not throttling at all.
            (
                "ThrottlingException",
                "Rate exceeded",
                Throttled,
                "Throttling",
                false,
            ),
            (
                "TooManyRequestsException",
                "slow down",
                Throttled,
                "Throttling",
                false,
            ),
            (
                "IDPCommunicationError",
                "Couldn't connect",
                Rejected,
                "IDPCommunicationError",
                true,
            ),
            (
                "InvalidIdentityToken",
                "Couldn't retrieve verification key from your identity provider",
                Rejected,
                "InvalidIdentityToken",
                true,
            ),
            (
                "InvalidIdentityToken",
                "Incorrect token audience",
                Rejected,
                "InvalidIdentityToken",
                false,
            ),
            ("Unreachable", "dns error", Unreachable, "Unreachable", true),
            ("Timeout", "no answer", Unreachable, "Timeout", true),
            ("InternalFailure", "", Rejected, "Other", true),
            (
                "RegionDisabledException",
                "",
                Rejected,
                "RegionDisabledException",
                false,
            ),
            ("SomethingNew", "", Rejected, "Other", false),
            ("arn:aws:iam::secret", "", Rejected, "Other", false),
        ];
        for (code, message, class, label, transient) in cases {
            assert_eq!(sts_class(code), class, "{code}");
            assert_eq!(sts_label(code), label, "{code}");
            assert_eq!(
                sts_is_transient(code, message),
                transient,
                "{code}: {message}"
            );
        }
    }

    #[test]
    fn every_label_is_bounded_and_reachable() {
        for r in STS_CODES {
            assert!(
                STS_LABELS.contains(&r.label),
                "{} has label {}",
                r.code,
                r.label
            );
            assert!(
                !(r.transient && r.class == Throttled),
                "{}: throttling is never retried",
                r.code
            );
        }
        for label in STS_LABELS.iter().filter(|l| **l != "Other") {
            assert!(
                STS_CODES.iter().any(|r| r.label == *label),
                "{label} unreachable"
            );
        }
        for f in [
            AgentFailure::Unreachable,
            AgentFailure::Denied,
            AgentFailure::AgentError,
        ] {
            assert!(AGENT_LABELS.contains(&agent_label(f)));
        }
        assert_eq!(sts_finding(Throttled), Code::StsThrottled);
    }
}
