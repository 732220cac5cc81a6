//! Decoding the projected service-account token (reading it is the shell's `files`).
//!
//! Decoding is deliberately lenient about *content* (absent claims are
//! `None`, unknown `alg` values are kept as strings) and strict about
//! *shape* (three dot-separated base64url parts, JSON objects), because a
//! diagnostic tool must describe a bad token rather than refuse to look at
//! it. Signatures are never checked here and never kept.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Largest token file we read; larger files are rejected without reading them whole (a token is a few KiB).
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// Why a token could not be decoded. Messages never quote the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedToken {
    #[error("token is {size} bytes, over the {MAX_TOKEN_BYTES}-byte limit")]
    TooLarge { size: u64 },
    #[error("token is not valid UTF-8 text")]
    NotText,
    #[error("token file is empty")]
    Empty,
    #[error("token has {parts} dot-separated parts, a JWT has 3 (header.claims.signature)")]
    WrongPartCount { parts: usize },
    #[error("token {part} is not valid base64url")]
    BadBase64 { part: &'static str },
    #[error("token {part} is not a JSON object: {reason}")]
    BadJson { part: &'static str, reason: String },
    #[error("token claim {claim} has the wrong type: {reason}")]
    BadClaim { claim: &'static str, reason: String },
}

/// A decoded JWT: the raw header and claims (for `decode`) and a typed view of the claims we check.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The JOSE header as sent.
    pub header: Map<String, Value>,
    /// Every claim as sent, including ones we do not interpret (`jti`, ...).
    pub raw_claims: Map<String, Value>,
    /// Header `alg`, kept as text so unexpected values can be reported.
    pub algorithm: Option<String>,
    /// Header `kid`.
    pub key_id: Option<String>,
    /// The claims irsa-doctor reasons about.
    pub claims: Claims,
}

/// The claims of a Kubernetes service-account token that matter for IRSA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// `iss`: the cluster's OIDC issuer URL.
    pub issuer: Option<String>,
    /// `sub`: `system:serviceaccount:<ns>:<sa>`.
    pub subject: Option<String>,
    /// `aud`, normalised to a list whether it was a string or an array.
    pub audiences: Vec<String>,
    /// `exp` in Unix seconds.
    pub expires_at: Option<i64>,
    /// `iat` in Unix seconds.
    pub issued_at: Option<i64>,
    /// `nbf` in Unix seconds.
    pub not_before: Option<i64>,
    /// The nested `kubernetes.io` object.
    pub kubernetes: KubernetesClaims,
}

/// The `kubernetes.io` claim of a bound service-account token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubernetesClaims {
    /// Pod namespace.
    pub namespace: Option<String>,
    /// Pod name.
    pub pod: Option<String>,
    /// ServiceAccount name.
    pub service_account: Option<String>,
    /// Node name (Kubernetes 1.30+).
    pub node: Option<String>,
    /// `warnafter` in Unix seconds (only on the API server's extended-expiry token).
    pub warn_after: Option<i64>,
}

impl Claims {
    /// `exp - iat`, the lifetime the token was issued with.
    pub fn lifetime_seconds(&self) -> Option<i64> {
        self.expires_at?.checked_sub(self.issued_at?)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
struct NameRef {
    name: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawKubernetes {
    namespace: Option<String>,
    pod: Option<NameRef>,
    serviceaccount: Option<NameRef>,
    node: Option<NameRef>,
    warnafter: Option<f64>,
}

/// Decodes a compact JWT without verifying it. Surrounding whitespace (a trailing newline) is ignored.
pub fn decode(raw: &str) -> Result<Decoded, MalformedToken> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(MalformedToken::Empty);
    }
    let parts: Vec<&str> = raw.split('.').collect();
    if parts.len() != 3 {
        return Err(MalformedToken::WrongPartCount { parts: parts.len() });
    }
    let header = json_object(parts[0], "header")?;
    let raw_claims = json_object(parts[1], "claims")?;

    let algorithm = header.get("alg").and_then(Value::as_str).map(str::to_owned);
    let key_id = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    let claims = typed_claims(&raw_claims)?;
    Ok(Decoded {
        header,
        raw_claims,
        algorithm,
        key_id,
        claims,
    })
}

fn json_object(part: &str, name: &'static str) -> Result<Map<String, Value>, MalformedToken> {
    // Tolerate padding: some hand-made tokens carry it, and it changes nothing.
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| MalformedToken::BadBase64 { part: name })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(MalformedToken::BadJson {
            part: name,
            reason: format!("found a JSON {}", json_kind(&other)),
        }),
        Err(e) => Err(MalformedToken::BadJson {
            part: name,
            reason: e.to_string(),
        }),
    }
}

/// The kind of a JSON value, for error messages that must not quote the value itself.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn typed_claims(map: &Map<String, Value>) -> Result<Claims, MalformedToken> {
    fn field<T: serde::de::DeserializeOwned>(
        map: &Map<String, Value>,
        claim: &'static str,
    ) -> Result<Option<T>, MalformedToken> {
        match map.get(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::deserialize(v)
                .map(Some)
                .map_err(|e| MalformedToken::BadClaim {
                    claim,
                    reason: e.to_string(),
                }),
        }
    }
    let audiences = match field::<Audience>(map, "aud")? {
        None => Vec::new(),
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(list)) => list,
    };
    let kube = field::<RawKubernetes>(map, "kubernetes.io")?.unwrap_or_default();
    Ok(Claims {
        issuer: field(map, "iss")?,
        subject: field(map, "sub")?,
        audiences,
        // NumericDate may legally be fractional; whole seconds are all we need.
        expires_at: field::<f64>(map, "exp")?.map(|v| v as i64),
        issued_at: field::<f64>(map, "iat")?.map(|v| v as i64),
        not_before: field::<f64>(map, "nbf")?.map(|v| v as i64),
        kubernetes: KubernetesClaims {
            namespace: kube.namespace,
            pod: kube.pod.and_then(|p| p.name),
            service_account: kube.serviceaccount.and_then(|s| s.name),
            node: kube.node.and_then(|n| n.name),
            warn_after: kube.warnafter.map(|v| v as i64),
        },
    })
}

/// Why the token file could not be turned into a decoded token; the bounded `reason` of the read-error metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("token file {path} does not exist")]
    Missing { path: String },
    #[error("token file {path} cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("token file {path} is not a valid JWT: {source}")]
    Malformed {
        path: String,
        #[source]
        source: MalformedToken,
    },
}

impl ReadError {
    /// The bounded label value for `irsa_token_read_errors_total{reason}`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReadError::Missing { .. } => "missing",
            ReadError::Unreadable { .. } => "unreadable",
            ReadError::Malformed { .. } => "malformed",
        }
    }
}

/// Every `reason` label value, so the counter can be initialised to zero for each.
pub const READ_ERROR_REASONS: [&str; 3] = ["missing", "unreadable", "malformed"];

/// A non-cryptographic fingerprint of the token text, to tell a new token from a re-read of the same one.
/// Never exported: it only ever lives in memory.
pub fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.trim().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn jwt(header: Value, claims: Value) -> String {
        format!("{}.{}.c2lnbmF0dXJl", b64(&header), b64(&claims))
    }

    fn eks_claims() -> Value {
        json!({
            "aud": ["sts.amazonaws.com"],
            "exp": 1617113203, "iat": 1617026803, "nbf": 1617026803,
            "iss": "https://oidc.eks.us-east-2.amazonaws.com/id/05631FE9BC883BD8EFE956EC31A9AEA8",
            "jti": "a9a186b9-58c4-4000-b767-e55399d278dd",
            "kubernetes.io": {
                "namespace": "devops",
                "node": {"name": "ip-10-0-1-23.us-east-2.compute.internal", "uid": "aad42a6b"},
                "pod": {"name": "follower-6cfbb89f59-nwz2l", "uid": "a2e67c29"},
                "serviceaccount": {"name": "follower", "uid": "21d8cbc1"}
            },
            "sub": "system:serviceaccount:devops:follower"
        })
    }

    #[test]
    fn decodes_a_real_eks_shaped_token() {
        let d = decode(&jwt(json!({"alg": "RS256", "kid": "abc"}), eks_claims())).unwrap();
        assert_eq!(d.algorithm.as_deref(), Some("RS256"));
        assert_eq!(d.key_id.as_deref(), Some("abc"));
        let c = &d.claims;
        assert_eq!(
            c.issuer.as_deref(),
            Some("https://oidc.eks.us-east-2.amazonaws.com/id/05631FE9BC883BD8EFE956EC31A9AEA8")
        );
        assert_eq!(
            c.subject.as_deref(),
            Some("system:serviceaccount:devops:follower")
        );
        assert_eq!(c.audiences, vec!["sts.amazonaws.com"]);
        assert_eq!(c.lifetime_seconds(), Some(86400));
        assert_eq!(c.not_before, Some(1617026803));
        assert_eq!(c.kubernetes.namespace.as_deref(), Some("devops"));
        assert_eq!(c.kubernetes.service_account.as_deref(), Some("follower"));
        assert_eq!(
            c.kubernetes.pod.as_deref(),
            Some("follower-6cfbb89f59-nwz2l")
        );
        assert_eq!(
            c.kubernetes.node.as_deref(),
            Some("ip-10-0-1-23.us-east-2.compute.internal")
        );
        assert_eq!(c.kubernetes.warn_after, None);
        assert_eq!(d.raw_claims["jti"], "a9a186b9-58c4-4000-b767-e55399d278dd");
    }

    /// One row per input shape: what decode must make of it.
    #[test]
    fn decode_table() {
        let h = json!({"alg": "RS256"});
        let ok = |claims: Value| {
            Ok::<Claims, MalformedToken>(decode(&jwt(h.clone(), claims)).unwrap().claims)
        };
        let cases: Vec<(&str, String, Result<Claims, MalformedToken>)> = vec![
            (
                "aud as a single string",
                jwt(h.clone(), json!({"aud": "sts.amazonaws.com"})),
                Ok(Claims {
                    audiences: vec!["sts.amazonaws.com".into()],
                    ..Default::default()
                }),
            ),
            (
                "empty claims tolerated",
                jwt(h.clone(), json!({})),
                Ok(Claims::default()),
            ),
            (
                "null claims are absent",
                jwt(h.clone(), json!({"sub": null, "exp": null})),
                Ok(Claims::default()),
            ),
            (
                "fractional exp",
                jwt(h.clone(), json!({"exp": 1700000000.9})),
                Ok(Claims {
                    expires_at: Some(1700000000),
                    ..Default::default()
                }),
            ),
            (
                "warnafter on the api token",
                jwt(
                    h.clone(),
                    json!({"kubernetes.io": {"warnafter": 1700003607}}),
                ),
                ok(json!({"kubernetes.io": {"warnafter": 1700003607}})),
            ),
            (
                "trailing newline",
                format!("{}\n", jwt(h.clone(), json!({"sub": "x"}))),
                Ok(Claims {
                    subject: Some("x".into()),
                    ..Default::default()
                }),
            ),
            ("empty", "  \n".into(), Err(MalformedToken::Empty)),
            (
                "two parts",
                "abc.def".into(),
                Err(MalformedToken::WrongPartCount { parts: 2 }),
            ),
            (
                "four parts",
                "a.b.c.d".into(),
                Err(MalformedToken::WrongPartCount { parts: 4 }),
            ),
            (
                "garbage text",
                "hello world".into(),
                Err(MalformedToken::WrongPartCount { parts: 1 }),
            ),
            (
                "bad base64 header",
                "!!!.e30.sig".into(),
                Err(MalformedToken::BadBase64 { part: "header" }),
            ),
            (
                "header is an array",
                format!("{}.e30.sig", b64(&json!([1]))),
                Err(MalformedToken::BadJson {
                    part: "header",
                    reason: "found a JSON array".into(),
                }),
            ),
            (
                "claims not JSON",
                format!("{}.{}.sig", b64(&h), URL_SAFE_NO_PAD.encode("nope")),
                Err(MalformedToken::BadJson {
                    part: "claims",
                    reason: "expected ident at line 1 column 2".into(),
                }),
            ),
            (
                "exp as a string",
                jwt(h.clone(), json!({"exp": "tomorrow"})),
                Err(MalformedToken::BadClaim {
                    claim: "exp",
                    reason: "invalid type: string \"tomorrow\", expected f64".into(),
                }),
            ),
            (
                "aud as a number",
                jwt(h.clone(), json!({"aud": 7})),
                Err(MalformedToken::BadClaim {
                    claim: "aud",
                    reason: "data did not match any variant of untagged enum Audience".into(),
                }),
            ),
        ];
        for (name, input, want) in cases {
            let got = decode(&input).map(|d| d.claims);
            assert_eq!(got, want, "case: {name}");
        }
    }

    #[test]
    fn unknown_algorithm_is_reported_not_rejected() {
        let d = decode(&jwt(json!({"alg": "none"}), json!({}))).unwrap();
        assert_eq!(d.algorithm.as_deref(), Some("none"));
        assert_eq!(d.key_id, None);
    }

    #[test]
    fn errors_never_quote_the_token() {
        let secret_sig = "U0VDUkVUU0lHTkFUVVJF";
        let bad = format!("{}.{}.{secret_sig}", b64(&json!({"alg": "RS256"})), "%%%");
        let msg = decode(&bad).unwrap_err().to_string();
        assert!(!msg.contains(secret_sig), "{msg}");
        assert!(!msg.contains("%%%"), "{msg}");
    }
}
