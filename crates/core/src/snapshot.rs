//! The latest observations: plain data that the shell writes and the pure
//! core (`findings`, `report`, `metrics`) reads. One `Snapshot` is the whole
//! state of the daemon; it lives behind a `tokio::sync::watch` channel.

use std::time::SystemTime;

use crate::token::{Decoded, ReadError};

/// Everything observed so far.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The web-identity token file.
    pub token: TokenSnapshot,
    /// The latest STS test-assume.
    pub sts: StsSnapshot,
    /// The latest credential-chain resolution.
    pub chain: ChainSnapshot,
    /// The other tokens, in `Config::extra_tokens` order.
    pub extra_tokens: Vec<TokenSnapshot>,
    /// The latest EKS Pod Identity agent probe.
    pub pod_identity: PodIdentitySnapshot,
    /// The role's trust policy, when one is configured or fetched.
    pub trust_policy: PolicySnapshot,
    /// The last signature check, for the token it was made on.
    pub signature: SignatureSnapshot,
    /// `--expect-access` (issue 14): the role's policies as last read.
    pub access: AccessSnapshot,
    /// Whether a live probe has been attempted (or live probing is off): half of readiness.
    pub probe_attempted: bool,
}

/// The trust policy as last loaded, from a file or from `iam:GetRole`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySnapshot {
    /// Where it came from (`file /path` or `iam:GetRole <role>`); `None` when none is configured.
    pub source: Option<String>,
    /// The parsed policy, or why it could not be read or parsed.
    pub policy: Option<Result<std::sync::Arc<crate::trust_policy::Policy>, String>>,
    /// Info-level notes about obtaining it (e.g. the role may not call iam:GetRole).
    pub notes: Vec<String>,
}

// --- issue 14 (--expect-access) -----------------------------------------------

/// The role's identity policies and boundary as last read with `iam:Get*`/`List*`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessSnapshot {
    /// When the read finished.
    pub checked_at: Option<SystemTime>,
    /// The role they were read for.
    pub role_arn: Option<String>,
    /// The policies, or why they could not be read; `None` before the first read.
    pub policies:
        Option<Result<std::sync::Arc<crate::policy::access::RolePolicies>, AccessReadError>>,
}

/// Why the role's policies could not be read (one line, no credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessReadError {
    /// IAM could not be reached (connect, DNS, TLS, timeout), as opposed to refusing.
    pub unreachable: bool,
    /// `iam:<Operation>: <code>: <message>`, or the document that did not parse.
    pub message: String,
}

// --- end issue 14 ----------------------------------------------------------------

/// A signature check tied to the token (by fingerprint) it judged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureSnapshot {
    /// Fingerprint of the token that was checked.
    pub fingerprint: Option<u64>,
    /// The outcome.
    pub result: Option<Signature>,
}

/// The outcome of checking one token's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// A published key with the token's `kid` verifies it.
    Verified {
        /// The key that verified it.
        key_id: String,
    },
    /// No published key verifies it: STS would reject it too.
    Invalid {
        /// Why (unknown kid, bad signature, unsupported alg).
        reason: String,
    },
    /// The keys could not be obtained, so nothing was checked.
    Unchecked {
        /// Why discovery or the key fetch failed.
        reason: String,
    },
}

impl Snapshot {
    /// The signature check of the *current* token, if one was made.
    pub fn current_signature(&self) -> Option<&Signature> {
        let current = self.token.decoded().and(self.token.fingerprint())?;
        (self.signature.fingerprint == Some(current)).then_some(self.signature.result.as_ref())?
    }

    /// Every configured token has been read once (`irsa`: whether the IRSA token is configured).
    pub fn tokens_read(&self, irsa: bool) -> bool {
        (!irsa || self.token.state != TokenState::NotRead)
            && self
                .extra_tokens
                .iter()
                .all(|t| t.state != TokenState::NotRead)
    }

    /// `/readyz`: the first token reads and the first probe attempt are done.
    pub fn is_ready(&self, irsa: bool) -> bool {
        self.tokens_read(irsa) && self.probe_attempted
    }
}

/// The token file as last read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenSnapshot {
    /// What the last read produced.
    pub state: TokenState,
    /// When the current token (by content) was first loaded.
    pub loaded_at: Option<SystemTime>,
    /// Loads of a new token, counting the first.
    pub reloads: u64,
    /// Fingerprint of the last good token, to tell a refresh from a re-read.
    fingerprint: Option<u64>,
}

/// The outcome of the last read of the token file.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum TokenState {
    /// Not read yet.
    #[default]
    NotRead,
    /// Read and decoded.
    Loaded(Box<Decoded>),
    /// Could not be read or decoded.
    Failed(ReadError),
}

/// What one read changed, for logs and counters.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenChange {
    /// A different token than before (or the first one) was loaded.
    Reloaded,
    /// The same token was read again.
    Unchanged,
    /// The read failed; `first` is true when the previous read did not fail the same way.
    Failed {
        /// The error.
        error: ReadError,
        /// Whether this is a new failure (worth a log line) rather than a repeat.
        first: bool,
    },
}

impl TokenSnapshot {
    /// Applies one read of the file taken at `now`.
    pub fn apply(
        &mut self,
        read: Result<(Decoded, u64), ReadError>,
        now: SystemTime,
    ) -> TokenChange {
        match read {
            Ok((decoded, fingerprint)) => {
                let same = self.fingerprint == Some(fingerprint);
                self.state = TokenState::Loaded(Box::new(decoded));
                if same {
                    // Recovering from a transient read error with the same token is not a refresh.
                    return TokenChange::Unchanged;
                }
                self.fingerprint = Some(fingerprint);
                self.loaded_at = Some(now);
                self.reloads += 1;
                TokenChange::Reloaded
            }
            Err(error) => {
                let first = !matches!(&self.state, TokenState::Failed(prev) if *prev == error);
                self.state = TokenState::Failed(error.clone());
                TokenChange::Failed { error, first }
            }
        }
    }

    /// Fingerprint of the current good token.
    pub fn fingerprint(&self) -> Option<u64> {
        self.fingerprint
    }

    /// The decoded token, when the last read succeeded.
    pub fn decoded(&self) -> Option<&Decoded> {
        match &self.state {
            TokenState::Loaded(d) => Some(d),
            _ => None,
        }
    }

    /// The read error, when the last read failed.
    pub fn error(&self) -> Option<&ReadError> {
        match &self.state {
            TokenState::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// Outcome class of an STS call, for the report's `sts.result`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StsResult {
    /// No attempt yet.
    #[default]
    Never,
    /// The last attempt succeeded.
    Success,
    /// The last attempt failed.
    Error,
}

impl StsResult {
    /// The 0/1 `*_success` gauge value; `None` (absent) before any attempt.
    pub fn gauge(self) -> Option<f64> {
        match self {
            StsResult::Never => None,
            StsResult::Success => Some(1.0),
            StsResult::Error => Some(0.0),
        }
    }

    /// The report's string.
    pub fn as_str(self) -> &'static str {
        match self {
            StsResult::Never => "never",
            StsResult::Success => "success",
            StsResult::Error => "error",
        }
    }
}

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

/// The latest STS test-assume.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StsSnapshot {
    /// The endpoint the probe used.
    pub endpoint: Option<String>,
    /// Outcome of the last attempt.
    pub result: StsResult,
    /// Failure class of the last attempt.
    pub failure: Option<StsFailure>,
    /// When the last attempt started.
    pub last_attempt_at: Option<SystemTime>,
    /// When an attempt last succeeded.
    pub last_success_at: Option<SystemTime>,
    /// Latency of the last attempt.
    pub latency_seconds: Option<f64>,
    /// STS error code of the last attempt (`AccessDenied`, ..., `Unreachable`, `Timeout`).
    pub error_code: Option<String>,
    /// STS error message of the last attempt (never contains credentials).
    pub error_message: Option<String>,
    /// The assumed-role ARN of the last success.
    pub assumed_role_arn: Option<String>,
    /// When the test credentials of the last success expire.
    pub credentials_expire_at: Option<SystemTime>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u64,
    /// The caller ARN `GetCallerIdentity` gave for the test credentials.
    pub caller_arn: Option<String>,
    /// Local clock minus the STS `Date` header, in seconds.
    pub clock_skew_seconds: Option<f64>,
}

/// How a Pod Identity agent call failed (drives the finding code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentFailure {
    /// Timeout, refused, no route: `POD_IDENTITY_AGENT_UNREACHABLE`.
    Unreachable,
    /// A 4xx: `POD_IDENTITY_DENIED`.
    Denied,
    /// A 5xx or an unusable answer: `POD_IDENTITY_AGENT_ERROR`.
    AgentError,
}

/// The latest call to the EKS Pod Identity agent, as the SDK makes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodIdentitySnapshot {
    /// The agent URI called.
    pub endpoint: Option<String>,
    /// Outcome of the last attempt.
    pub result: StsResult,
    /// Failure class of the last attempt.
    pub failure: Option<AgentFailure>,
    /// HTTP status of the last answer.
    pub http_status: Option<u16>,
    /// The agent's error body (or the transport error), never credentials.
    pub error_message: Option<String>,
    /// When the last attempt started.
    pub last_attempt_at: Option<SystemTime>,
    /// When an attempt last succeeded.
    pub last_success_at: Option<SystemTime>,
    /// Latency of the last attempt.
    pub latency_seconds: Option<f64>,
    /// `AccountId` of the returned credentials.
    pub account_id: Option<String>,
    /// `Expiration` of the returned credentials.
    pub credentials_expire_at: Option<SystemTime>,
    /// `GetCallerIdentity` with them.
    pub caller_arn: Option<String>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u64,
}

/// The latest resolution of the default credential chain and IMDS reachability.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainSnapshot {
    /// Which provider of the default chain answered (`WebIdentityToken`, `EnvironmentVariable`, ...).
    pub provider: Option<String>,
    /// `GetCallerIdentity` with the chain's credentials.
    pub caller_arn: Option<String>,
    /// Why the chain could not resolve, when it could not.
    pub error: Option<String>,
    /// IMDSv2 token `PUT` answered.
    pub imds_v2_reachable: Option<bool>,
    /// IMDSv1 `GET` of the credentials path answered.
    pub imds_v1_reachable: Option<bool>,
}

impl ChainSnapshot {
    /// Either IMDS version answered; `None` when not checked.
    pub fn imds_reachable(&self) -> Option<bool> {
        match (self.imds_v2_reachable, self.imds_v1_reachable) {
            (None, None) => None,
            (v2, v1) => Some(v2.unwrap_or(false) || v1.unwrap_or(false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{Claims, MalformedToken};
    use std::time::Duration;

    fn decoded(sub: &str) -> Decoded {
        Decoded {
            header: Default::default(),
            raw_claims: Default::default(),
            algorithm: Some("RS256".into()),
            key_id: None,
            claims: Claims {
                subject: Some(sub.into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn reloads_count_new_tokens_only() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let t1 = t0 + Duration::from_secs(30);
        let missing = ReadError::Missing { path: "/t".into() };
        let mut s = TokenSnapshot::default();

        /// (read, expected change, expected reloads, expected loaded_at)
        type Step = (
            Result<(Decoded, u64), ReadError>,
            TokenChange,
            u64,
            Option<SystemTime>,
        );
        let steps: Vec<Step> = vec![
            (
                Err(missing.clone()),
                TokenChange::Failed {
                    error: missing.clone(),
                    first: true,
                },
                0,
                None,
            ),
            (
                Err(missing.clone()),
                TokenChange::Failed {
                    error: missing.clone(),
                    first: false,
                },
                0,
                None,
            ),
            (Ok((decoded("a"), 1)), TokenChange::Reloaded, 1, Some(t0)),
            (Ok((decoded("a"), 1)), TokenChange::Unchanged, 1, Some(t0)),
            (
                Err(ReadError::Malformed {
                    path: "/t".into(),
                    source: MalformedToken::Empty,
                }),
                TokenChange::Failed {
                    error: ReadError::Malformed {
                        path: "/t".into(),
                        source: MalformedToken::Empty,
                    },
                    first: true,
                },
                1,
                Some(t0),
            ),
            (Ok((decoded("a"), 1)), TokenChange::Unchanged, 1, Some(t0)),
            (Ok((decoded("b"), 2)), TokenChange::Reloaded, 2, Some(t1)),
        ];
        for (i, (read, change, reloads, loaded_at)) in steps.into_iter().enumerate() {
            let now = if i >= 6 { t1 } else { t0 };
            assert_eq!(s.apply(read, now), change, "step {i}");
            assert_eq!(s.reloads, reloads, "step {i}");
            assert_eq!(s.loaded_at, loaded_at, "step {i}");
        }
    }

    #[test]
    fn readiness_needs_token_read_and_probe_attempt() {
        let missing = |path: &str| Err(ReadError::Missing { path: path.into() });
        let mut s = Snapshot::default();
        assert!(!s.is_ready(true));
        s.token.apply(missing("/t"), SystemTime::now());
        assert!(!s.is_ready(true), "probe not attempted yet");
        s.probe_attempted = true;
        assert!(
            s.is_ready(true),
            "a failed read still counts as the first read"
        );
        s.extra_tokens.push(TokenSnapshot::default());
        assert!(!s.is_ready(true), "every configured token is read first");
        s.extra_tokens[0].apply(missing("/k"), SystemTime::now());
        assert!(s.is_ready(true));
        let mut pod_identity_only = Snapshot {
            probe_attempted: true,
            ..Default::default()
        };
        assert!(
            pod_identity_only.is_ready(false),
            "no IRSA token to wait for"
        );
        pod_identity_only.probe_attempted = false;
        assert!(!pod_identity_only.is_ready(false));
    }
}
