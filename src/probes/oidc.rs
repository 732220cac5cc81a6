//! Would the issuer's published keys verify this token? OIDC discovery
//! (`<iss>/.well-known/openid-configuration` → `jwks_uri`), a JWKS cache that
//! respects `Cache-Control: max-age` and refetches on an unknown `kid` at most
//! once a minute, and RS256 verification with `jsonwebtoken`.
//!
//! STS does not need the pod to reach the issuer, so a fetch failure is only
//! ever reported as `OIDC_DISCOVERY_FAILED` (info); last good keys are kept.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use irsa_doctor_core::jwks;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

/// Each discovery or JWKS request may take this long: the pod may simply have no egress.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
pub use irsa_doctor_core::jwks::UNKNOWN_KID_REFETCH;
/// Keys without `Cache-Control: max-age` are kept this long.
const DEFAULT_KEY_TTL: Duration = Duration::from_secs(3600);
/// Discovery documents and key sets larger than this are refused.
const MAX_BODY: usize = 1024 * 1024;

pub use irsa_doctor_core::snapshot::Signature;

/// Why discovery or the JWKS fetch failed; messages name the URL and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("the token has no iss claim to discover keys from")]
    NoIssuer,
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{url}: not a valid {what}: {reason}")]
    Invalid {
        url: String,
        what: &'static str,
        reason: String,
    },
}

#[derive(Debug, Default)]
struct Cache {
    issuer: String,
    keys: Option<JwkSet>,
    fresh_until: Option<Instant>,
    last_fetch: Option<Instant>,
    /// Wall-clock time of the fetch that produced `keys`, to compare with a token's `iat`.
    keys_fetched_at: Option<i64>,
    last_error: Option<FetchError>,
}

/// Discovers, caches and verifies. One per process.
pub struct Verifier {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    discovery_override: Option<String>,
    cache: Mutex<Cache>,
}

impl Verifier {
    /// A verifier using the system's root certificates; `discovery_url` replaces `<iss>/.well-known/openid-configuration`.
    pub fn new(discovery_url: Option<String>) -> std::io::Result<Verifier> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            // The same aws-lc-rs provider the AWS SDK's rustls uses: one TLS stack in the binary.
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Verifier {
            client: Client::builder(TokioExecutor::new()).build(https),
            discovery_override: discovery_url,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// Checks `token` (with its decoded `alg`, `kid`, `iss` and `iat`), fetching keys when needed.
    pub async fn check(
        &self,
        token: &str,
        alg: Option<&str>,
        kid: Option<&str>,
        issuer: Option<&str>,
        issued_at: Option<i64>,
    ) -> Signature {
        let algorithm = match alg.map(str::parse::<Algorithm>) {
            Some(Ok(a))
                if matches!(
                    a,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::ES256
                        | Algorithm::ES384
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                ) =>
            {
                a
            }
            _ => {
                return Signature::Invalid {
                    reason: format!(
                        "header alg {} is not an asymmetric JWS algorithm STS accepts",
                        alg.unwrap_or("(none)")
                    ),
                };
            }
        };
        let Some(kid) = kid else {
            return Signature::Invalid {
                reason: "the token header has no kid, so no published key can be chosen".into(),
            };
        };
        let Some(issuer) = issuer else {
            return Signature::Unchecked {
                reason: FetchError::NoIssuer.to_string(),
            };
        };
        let mut cache = self.cache.lock().await;
        if cache.issuer != issuer {
            *cache = Cache {
                issuer: issuer.to_owned(),
                ..Cache::default()
            };
        }
        let now = crate::host::instant();
        let kid_known = cache.keys.as_ref().is_some_and(|k| k.find(kid).is_some());
        if jwks::refetch_due(cache.fresh_until, cache.last_fetch, kid_known, now) {
            cache.last_fetch = Some(now);
            match self.fetch_keys(issuer).await {
                Ok((keys, ttl)) => {
                    cache.keys = Some(keys);
                    cache.keys_fetched_at = Some(irsa_doctor_core::time::unix(crate::host::now()));
                    cache.fresh_until = Some(now + ttl);
                    cache.last_error = None;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "OIDC key fetch failed; keeping any previous keys");
                    // Retry no sooner than the unknown-kid window, not on every probe.
                    cache.fresh_until = Some(now + UNKNOWN_KID_REFETCH);
                    cache.last_error = Some(e);
                }
            }
        }
        let Some(keys) = cache.keys.as_ref() else {
            let reason = cache
                .last_error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "no keys fetched yet".into());
            return Signature::Unchecked { reason };
        };
        let Some(jwk) = keys.find(kid) else {
            return jwks::missing_kid(kid, &key_ids(keys), cache.keys_fetched_at, issued_at);
        };
        verify(token, jwk, algorithm, kid)
    }

    /// The last discovery/JWKS error, if the last fetch failed.
    pub async fn last_error(&self) -> Option<FetchError> {
        self.cache.lock().await.last_error.clone()
    }

    async fn fetch_keys(&self, issuer: &str) -> Result<(JwkSet, Duration), FetchError> {
        let discovery_url = self.discovery_override.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            )
        });
        let (doc, _) = self.get(&discovery_url).await?;
        let invalid = |url: &str, what, reason: String| FetchError::Invalid {
            url: url.to_owned(),
            what,
            reason,
        };
        let doc: serde_json::Value = serde_json::from_slice(&doc)
            .map_err(|e| invalid(&discovery_url, "discovery document", e.to_string()))?;
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| invalid(&discovery_url, "discovery document", "no jwks_uri".into()))?
            .to_owned();
        let (body, ttl) = self.get(&jwks_uri).await?;
        let keys: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| invalid(&jwks_uri, "JWK set", e.to_string()))?;
        Ok((keys, ttl.unwrap_or(DEFAULT_KEY_TTL)))
    }

    /// GET with a timeout and a size cap; the body and any `Cache-Control: max-age`.
    async fn get(&self, url: &str) -> Result<(Bytes, Option<Duration>), FetchError> {
        let http = |reason: String| FetchError::Http {
            url: url.to_owned(),
            reason,
        };
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| http(e.to_string()))?;
        let request = async {
            let resp = self
                .client
                .get(uri)
                .await
                .map_err(|e| http(super::errors::error_chain(&e)))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(http(format!("HTTP {status}")));
            }
            let max_age = resp
                .headers()
                .get(hyper::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .and_then(max_age);
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| http(format!("reading the body: {e}")))?
                .to_bytes();
            Ok((body, max_age))
        };
        tokio::time::timeout(FETCH_TIMEOUT, request)
            .await
            .map_err(|_| http(format!("no answer within {}s", FETCH_TIMEOUT.as_secs())))?
    }
}

fn key_ids(keys: &JwkSet) -> Vec<&str> {
    keys.keys
        .iter()
        .filter_map(|k| k.common.key_id.as_deref())
        .collect()
}

fn verify(token: &str, jwk: &jsonwebtoken::jwk::Jwk, algorithm: Algorithm, kid: &str) -> Signature {
    let key = match DecodingKey::from_jwk(jwk) {
        Ok(k) => k,
        Err(e) => {
            return Signature::Invalid {
                reason: format!("the published key {kid} is unusable: {e}"),
            };
        }
    };
    // Only the signature is judged here; the claims have their own findings.
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    match jsonwebtoken::decode::<serde_json::Value>(token.trim(), &key, &validation) {
        Ok(_) => Signature::Verified {
            key_id: kid.to_owned(),
        },
        Err(e) => Signature::Invalid {
            reason: format!("the published key {kid} does not verify the token: {e}"),
        },
    }
}

/// `max-age` seconds of a `Cache-Control` header.
pub fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim_matches('"').parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        let cases = [
            ("max-age=300", Some(300)),
            ("public, max-age=3600, must-revalidate", Some(3600)),
            ("no-cache", None),
            ("max-age=soon", None),
        ];
        for (header, want) in cases {
            assert_eq!(max_age(header), want.map(Duration::from_secs), "{header}");
        }
    }
}
