//! One client-side monitoring (CSM) datagram, parsed totally and within a size cap.
//!
//! The format is botocore's (`botocore/monitoring.py`, `CSMSerializer`; the Go v1,
//! Java v1 and JS v2 SDKs send the same fields): one JSON object per UDP datagram,
//! `"Type": "ApiCall"` once per call with its final outcome, `"ApiCallAttempt"` once
//! per HTTP attempt with the request's signing key. CSM is unauthenticated: any
//! process in the pod can send anything, so everything here is capped and checked.
//!
//! Secrets never get past this module: `SessionToken` is not even a field of the
//! wire struct (serde skips it without keeping it), and the `AccessKey` is turned at
//! once into [`KeyEvidence`] — whether it is a long-term or a temporary key, and a
//! keyed fingerprint to compare with the node role's key — and dropped.

use std::borrow::Cow;
use std::hash::BuildHasher;

use serde::Deserialize;

/// The largest datagram accepted; botocore never sends more (`_MAX_MONITOR_EVENT_LENGTH`).
pub const MAX_DATAGRAM: usize = 8 * 1024;
/// Longest `Service` kept (SDK service ids are under 40 characters).
const MAX_SERVICE: usize = 64;
/// Longest `Api` kept.
const MAX_API: usize = 128;
/// Longest `ClientId` (botocore's own limit).
const MAX_CLIENT_ID: usize = 255;
/// Longest `UserAgent` kept (botocore truncates at 256).
const MAX_USER_AGENT: usize = 512;
/// Longest error code kept (botocore truncates at 128).
const MAX_CODE: usize = 128;
/// Longest error message kept (botocore truncates at 512).
const MAX_MESSAGE: usize = 512;

/// Why a datagram was refused; each is an `irsa_app_events_total{result}` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Over [`MAX_DATAGRAM`].
    Oversized,
    /// Not a JSON object with the fields of a CSM event, or a field of the wrong type.
    Malformed,
}

/// What kind of access key signed an attempt: enough to tell the credential source,
/// never the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `AKIA…`: an IAM user's long-term key (environment or profile), never web identity.
    LongTerm,
    /// `ASIA…`: temporary credentials (STS, IMDS, the Pod Identity agent).
    Temporary,
    /// Anything else (a test endpoint's key, an unknown prefix).
    Other,
}

impl KeyKind {
    /// The kind of `key`, by its documented prefix.
    pub fn of(key: &str) -> KeyKind {
        if key.starts_with("AKIA") {
            KeyKind::LongTerm
        } else if key.starts_with("ASIA") {
            KeyKind::Temporary
        } else {
            KeyKind::Other
        }
    }

    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            KeyKind::LongTerm => "a long-term access key (AKIA…)",
            KeyKind::Temporary => "temporary credentials (ASIA…)",
            KeyKind::Other => "an access key of unknown kind",
        }
    }
}

/// What an attempt's signing key tells, with the key dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyEvidence {
    /// Long-term or temporary.
    pub kind: KeyKind,
    /// A keyed hash of the key id (the key is per process and random, so it cannot be
    /// reversed or compared across processes): equal to the node role's means the node role.
    pub fingerprint: u64,
}

impl KeyEvidence {
    /// The evidence of `key`, hashed with `hasher` (the same one hashes the node role's key).
    pub fn of(key: &str, hasher: &impl BuildHasher) -> KeyEvidence {
        KeyEvidence {
            kind: KeyKind::of(key),
            fingerprint: hasher.hash_one(key),
        }
    }
}

/// One parsed datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram {
    /// `ApiCall`: one call and its final outcome (attempts are not calls).
    Call(Call),
    /// `ApiCallAttempt`: one HTTP attempt; only its signing key is of interest.
    Attempt(Attempt),
}

/// An `ApiCall` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `ClientId` (`AWS_CSM_CLIENT_ID`; empty by default).
    pub client_id: String,
    /// `Service`: the SDK's service id (`S3`, `Secrets Manager`).
    pub service: String,
    /// `Api`: the operation (`PutObject`).
    pub api: String,
    /// `UserAgent`: SDK, version and, in newer SDKs, `m/` business metrics.
    pub user_agent: String,
    /// `FinalHttpStatusCode`.
    pub status: Option<u16>,
    /// `FinalAwsException`: the service's error code.
    pub error_code: Option<String>,
    /// `FinalAwsExceptionMessage`.
    pub error_message: Option<String>,
    /// `FinalSdkException`: a client-side failure (connection, timeout) with no answer.
    pub sdk_exception: Option<String>,
    /// `FinalSdkExceptionMessage`.
    pub sdk_exception_message: Option<String>,
}

/// An `ApiCallAttempt` event, reduced to what identifies the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `ClientId`.
    pub client_id: String,
    /// `UserAgent`.
    pub user_agent: String,
    /// What the signing key tells; `None` for an unsigned request.
    pub key: Option<KeyEvidence>,
}

/// The fields read. Everything else (notably `SessionToken`) is skipped by serde
/// without being kept; a listed field of the wrong type fails the whole datagram.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "Type", borrow)]
    kind: Cow<'a, str>,
    #[serde(rename = "ClientId", borrow, default)]
    client_id: Option<Cow<'a, str>>,
    #[serde(rename = "Service", borrow)]
    service: Cow<'a, str>,
    #[serde(rename = "Api", borrow)]
    api: Cow<'a, str>,
    #[serde(rename = "UserAgent", borrow, default)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(rename = "FinalHttpStatusCode", default)]
    status: Option<u16>,
    #[serde(rename = "FinalAwsException", borrow, default)]
    error_code: Option<Cow<'a, str>>,
    #[serde(rename = "FinalAwsExceptionMessage", borrow, default)]
    error_message: Option<Cow<'a, str>>,
    #[serde(rename = "FinalSdkException", borrow, default)]
    sdk_exception: Option<Cow<'a, str>>,
    #[serde(rename = "FinalSdkExceptionMessage", borrow, default)]
    sdk_exception_message: Option<Cow<'a, str>>,
    #[serde(rename = "AccessKey", borrow, default)]
    access_key: Option<Cow<'a, str>>,
}

/// Parses one datagram. Total: every input is a `Datagram` or a `Rejected`.
pub fn parse(bytes: &[u8], hasher: &impl BuildHasher) -> Result<Datagram, Rejected> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(Rejected::Oversized);
    }
    let wire: Wire<'_> = serde_json::from_slice(bytes).map_err(|_| Rejected::Malformed)?;
    let client_id = capped(wire.client_id.as_deref().unwrap_or(""), MAX_CLIENT_ID)?;
    let user_agent = capped(wire.user_agent.as_deref().unwrap_or(""), MAX_USER_AGENT)?;
    match wire.kind.as_ref() {
        "ApiCall" => {
            let service = wire.service.trim();
            let service_ok = !service.is_empty()
                && service.len() <= MAX_SERVICE
                && service
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'-' | b'.' | b'_'));
            let api = wire.api.as_ref();
            let api_ok = !api.is_empty()
                && api.len() <= MAX_API
                && api.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !service_ok || !api_ok {
                return Err(Rejected::Malformed);
            }
            Ok(Datagram::Call(Call {
                client_id,
                service: service.to_owned(),
                api: api.to_owned(),
                user_agent,
                status: wire.status,
                error_code: wire.error_code.map(|c| truncate(&c, MAX_CODE)),
                error_message: wire.error_message.map(|m| truncate(&m, MAX_MESSAGE)),
                sdk_exception: wire.sdk_exception.map(|c| truncate(&c, MAX_CODE)),
                sdk_exception_message: wire
                    .sdk_exception_message
                    .map(|m| truncate(&m, MAX_MESSAGE)),
            }))
        }
        "ApiCallAttempt" => Ok(Datagram::Attempt(Attempt {
            client_id,
            user_agent,
            // The key is hashed here and goes no further.
            key: wire
                .access_key
                .as_deref()
                .filter(|k| !k.is_empty())
                .map(|k| KeyEvidence::of(k, hasher)),
        })),
        _ => Err(Rejected::Malformed),
    }
}

/// `s` when within `max` bytes, else malformed (identifiers are never truncated: a cut
/// one would be another identity).
fn capped(s: &str, max: usize) -> Result<String, Rejected> {
    if s.len() > max {
        return Err(Rejected::Malformed);
    }
    Ok(s.to_owned())
}

/// `s` cut to at most `max` bytes at a character boundary (texts are only shown).
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    s[..s.floor_char_boundary(max)].to_owned()
}
