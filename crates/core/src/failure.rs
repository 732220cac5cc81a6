//! One table per fact: what happened when STS or the Pod Identity agent failed.
//!
//! The probe classifies an error with these tables and the metrics label it
//! with them, so the two can never drift apart (`ThrottlingException` was once
//! classified as throttling but labelled `Other`, and `TooManyRequestsException`
//! was neither). Which finding a class raises is the findings' business
//! (`findings/sts.rs`, `findings/pod_identity.rs`): this module says what
//! happened, never what it means for the pod.

use crate::outcome::{AgentFailure, StsFailure};

/// One STS error code: its class and its bounded metric label. (Whether a failure is worth
/// retrying depends on the HTTP status too: `outcome::AssumeFailure::is_transient`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StsCode {
    /// The code as STS (or the probe, for `Unreachable`/`Timeout`) spells it.
    pub code: &'static str,
    /// Rejected, throttled or unreachable: decides the finding and the backoff.
    pub class: StsFailure,
    /// The `code` label of `irsa_sts_assume_errors_total`.
    pub label: &'static str,
}

const fn row(code: &'static str, class: StsFailure, label: &'static str) -> StsCode {
    StsCode { code, class, label }
}

use StsFailure::{Rejected, Throttled, Unreachable};

/// Every STS error code irsa-doctor knows; anything else is `Rejected`, label `Other`.
#[rustfmt::skip]
pub const STS_CODES: &[StsCode] = &[
    row("AccessDenied", Rejected, "AccessDenied"),
    row("InvalidIdentityToken", Rejected, "InvalidIdentityToken"),
    row("ExpiredTokenException", Rejected, "ExpiredTokenException"),
    row("IDPCommunicationError", Rejected, "IDPCommunicationError"),
    row("IDPRejectedClaim", Rejected, "IDPRejectedClaim"),
    row("RegionDisabledException", Rejected, "RegionDisabledException"),
    row("Throttling", Throttled, "Throttling"),
    row("ThrottlingException", Throttled, "Throttling"),
    row("TooManyRequestsException", Throttled, "Throttling"),
    row("TooManyRequests", Throttled, "Throttling"),
    row("RequestLimitExceeded", Throttled, "Throttling"),
    row("RequestThrottled", Throttled, "Throttling"),
    // The probe's own codes for transport failures.
    row("Unreachable", Unreachable, "Unreachable"),
    row("Timeout", Unreachable, "Timeout"),
];

/// Every bounded `code` label of `irsa_sts_assume_errors_total`, in the documented order.
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

/// Every bounded `code` label of `irsa_pod_identity_errors_total`.
pub const AGENT_LABELS: [&str; 4] = ["Unreachable", "Denied", "AgentError", "Throttled"];

/// The bounded metric label of a Pod Identity agent failure.
pub fn agent_label(failure: AgentFailure) -> &'static str {
    match failure {
        AgentFailure::Unreachable => "Unreachable",
        AgentFailure::Denied => "Denied",
        AgentFailure::Throttled => "Throttled",
        AgentFailure::AgentError => "AgentError",
        // Connected but silent: the agent is there, EKS Auth behind it is slow.
        AgentFailure::Slow => "AgentError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_codes_classify_and_label_from_one_table() {
        #[rustfmt::skip]
        let cases = [
            ("AccessDenied", Rejected, "AccessDenied"),
            ("Throttling", Throttled, "Throttling"),
            // Labelled Other, and not throttling at all, before the one table.
            ("ThrottlingException", Throttled, "Throttling"),
            ("TooManyRequestsException", Throttled, "Throttling"),
            ("IDPCommunicationError", Rejected, "IDPCommunicationError"),
            ("InvalidIdentityToken", Rejected, "InvalidIdentityToken"),
            ("RegionDisabledException", Rejected, "RegionDisabledException"),
            ("Unreachable", Unreachable, "Unreachable"),
            ("Timeout", Unreachable, "Timeout"),
            ("InternalFailure", Rejected, "Other"),
            ("SomethingNew", Rejected, "Other"),
            ("arn:aws:iam::secret", Rejected, "Other"),
        ];
        for (code, class, label) in cases {
            assert_eq!(sts_class(code), class, "{code}");
            assert_eq!(sts_label(code), label, "{code}");
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
        }
        for label in STS_LABELS.iter().filter(|l| **l != "Other") {
            assert!(
                STS_CODES.iter().any(|r| r.label == *label),
                "{label} unreachable"
            );
        }
        #[rustfmt::skip]
        let agent = [
            (AgentFailure::Unreachable, "Unreachable"),
            (AgentFailure::Denied, "Denied"),
            (AgentFailure::Throttled, "Throttled"),
            (AgentFailure::AgentError, "AgentError"),
            (AgentFailure::Slow, "AgentError"),
        ];
        for (failure, label) in agent {
            assert_eq!(agent_label(failure), label, "{failure:?}");
            assert!(AGENT_LABELS.contains(&label));
        }
    }
}
