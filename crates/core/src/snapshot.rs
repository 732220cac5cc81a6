//! The latest observations: plain data that the shell writes and the pure
//! core (`findings`, `report`, `metrics`) reads. One `Snapshot` is the whole
//! state of the daemon; it lives behind a `tokio::sync::watch` channel.

use std::time::SystemTime;

pub use crate::outcome::{AccessReadError, AccessReadFailure, AgentFailure, StsFailure};
use crate::outcome::{AgentOutcome, AssumeOutcome};
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
    /// The region the SDK configuration resolved, as the application's SDK would.
    pub region: RegionSnapshot,
    /// `--expect-access`: the role's policies as last read.
    pub access: AccessSnapshot,
    /// Whether a live probe has been attempted (or live probing is off): half of readiness.
    pub probe_attempted: bool,
    /// The application's own calls (client-side monitoring); `None` with `--csm-listen off`.
    pub app: Option<crate::app::AppSnapshot>,
    /// The pod's own Pod and ServiceAccount, read from the Kubernetes API.
    pub pod_spec: crate::pod::PodSpecSnapshot,
}

/// The region the SDK resolved from `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile or IMDS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionSnapshot {
    /// Whether the SDK configuration has been loaded (no probe yet: unknown).
    pub checked: bool,
    /// The region, when one was found: without one the SDK cannot pick its regional STS endpoint.
    pub region: Option<String>,
}

/// The trust policy as last loaded, from a file or from `iam:GetRole`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySnapshot {
    /// Where it came from (`file /path` or `iam:GetRole <role>`); `None` when none is configured.
    pub source: Option<String>,
    /// The parsed policy, or why it could not be read or parsed.
    pub policy: Option<Result<std::sync::Arc<crate::policy::trust::Policy>, String>>,
    /// Info-level notes about obtaining it (e.g. the role may not call iam:GetRole).
    pub notes: Vec<String>,
}

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
    /// The session name of the last test-assume.
    pub session_name: Option<String>,
    /// Fingerprint (`token::fingerprint`) of the token the last attempt presented: with a
    /// success, STS accepted exactly that token, which outranks every prediction.
    pub token_fingerprint: Option<u64>,
}

impl StsSnapshot {
    /// Applies one test-assume that started at `started`. A failure clears the caller (it
    /// confirmed the old credentials, not these) but keeps the last assumed-role ARN and
    /// success time, which say what worked before.
    pub fn apply(&mut self, started: SystemTime, outcome: &AssumeOutcome) {
        if outcome.endpoint.is_some() {
            self.endpoint.clone_from(&outcome.endpoint);
        }
        self.last_attempt_at = Some(started);
        self.latency_seconds = Some(outcome.latency.as_secs_f64());
        self.session_name = Some(outcome.session_name.clone());
        if outcome.clock_skew_seconds.is_some() {
            self.clock_skew_seconds = outcome.clock_skew_seconds;
        }
        match &outcome.result {
            Ok(a) => {
                self.result = StsResult::Success;
                self.failure = None;
                self.last_success_at = Some(started);
                self.error_code = None;
                self.error_message = None;
                self.assumed_role_arn.clone_from(&a.assumed_role_arn);
                self.credentials_expire_at = a.credentials_expire_at;
                self.consecutive_failures = 0;
                self.caller_arn = a.caller.as_ref().ok().cloned();
            }
            Err(f) => {
                self.result = StsResult::Error;
                self.failure = Some(f.kind);
                self.error_code = Some(f.code.clone());
                self.error_message = Some(f.message.clone());
                self.consecutive_failures += 1;
                self.caller_arn = None;
            }
        }
    }
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

impl PodIdentitySnapshot {
    /// Applies one agent call to `endpoint` that started at `started`.
    pub fn apply(&mut self, started: SystemTime, endpoint: &str, outcome: &AgentOutcome) {
        self.endpoint = Some(endpoint.to_owned());
        self.last_attempt_at = Some(started);
        self.latency_seconds = Some(outcome.latency.as_secs_f64());
        self.http_status = outcome.http_status;
        match &outcome.result {
            Ok(c) => {
                self.result = StsResult::Success;
                self.failure = None;
                self.error_message = None;
                self.last_success_at = Some(started);
                self.account_id.clone_from(&c.account_id);
                self.credentials_expire_at = c.expires_at;
                self.caller_arn = c.caller.as_ref().ok().cloned();
                self.consecutive_failures = 0;
            }
            Err((failure, message)) => {
                self.result = StsResult::Error;
                self.failure = Some(*failure);
                self.error_message = Some(message.clone());
                self.caller_arn = None;
                self.consecutive_failures += 1;
            }
        }
    }
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
    /// The fingerprint (`app::csm::KeyEvidence`) of the node role's current key as IMDS
    /// serves it, read while client-side monitoring listens: whether the application signs
    /// with it.
    pub node_key: Option<u64>,
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
mod tests;
