//! An RS256 token issuer standing in for a cluster's OIDC issuer: it mints
//! EKS-shaped projected service-account tokens with real signatures and
//! publishes the matching JWKS, so anything that verifies tokens can be tested
//! against it exactly as against a real cluster.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The issuer URL of the EKS-shaped default token.
pub const DEFAULT_ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
/// The subject of the EKS-shaped default token.
pub const DEFAULT_SUBJECT: &str = "system:serviceaccount:demo:demo-sa";
/// The audience the EKS pod-identity webhook projects tokens for.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

/// Why an issuer could not be created or could not sign.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("RSA-2048 key generation failed")]
    KeyGeneration,
    #[error("RSA signing failed")]
    Signing,
    #[error("claims could not be serialised: {0}")]
    Claims(#[from] serde_json::Error),
}

/// An OIDC issuer with a fresh RSA-2048 signing key.
pub struct Issuer {
    issuer_url: String,
    key_id: String,
    key: RsaKeyPair,
    /// Big-endian modulus and exponent, kept for the JWKS.
    public: PublicKeyComponents<Vec<u8>>,
}

impl std::fmt::Debug for Issuer {
    // The private key never appears in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer_url", &self.issuer_url)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Generates a fresh RSA-2048 key for an issuer at `issuer_url`.
    pub fn generate(issuer_url: &str) -> Result<Issuer, IssuerError> {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| IssuerError::KeyGeneration)?;
        let public = PublicKeyComponents::<Vec<u8>>::from(key.public_key());
        // Kubernetes derives `kid` from a hash of the public key, so it is stable
        // for a key and changes on rotation; 20 hex bytes mimic its SHA-1 shape.
        let hash = digest::digest(&digest::SHA256, key.public_key().as_ref());
        let key_id = hash.as_ref()[..20]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Issuer {
            issuer_url: issuer_url.to_owned(),
            key_id,
            key,
            public,
        })
    }

    /// The issuer URL this issuer was created for.
    pub fn issuer_url(&self) -> &str {
        &self.issuer_url
    }

    /// The `kid` placed in every token header and in the JWKS.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// A healthy default token spec whose `iss` is this issuer.
    pub fn token_spec(&self) -> TokenSpec {
        TokenSpec {
            issuer: self.issuer_url.clone(),
            ..TokenSpec::default()
        }
    }

    /// Signs a token built from `spec`.
    pub fn issue(&self, spec: &TokenSpec) -> Result<String, IssuerError> {
        self.sign(&spec.claims())
    }

    /// Signs arbitrary claims as a compact RS256 JWT (RSASSA-PKCS1-v1_5 with SHA-256).
    pub fn sign(&self, claims: &Value) -> Result<String, IssuerError> {
        let header = json!({"alg": "RS256", "kid": self.key_id, "typ": "JWT"});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| IssuerError::Signing)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// The RFC 7517 JWK Set publishing this issuer's public key.
    pub fn jwks(&self) -> Value {
        json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.key_id,
            "n": URL_SAFE_NO_PAD.encode(&self.public.n),
            "e": URL_SAFE_NO_PAD.encode(&self.public.e),
        }]})
    }

    /// The OIDC discovery document (`/.well-known/openid-configuration`) a cluster issuer serves.
    pub fn openid_configuration(&self) -> Value {
        let base = self.issuer_url.trim_end_matches('/');
        json!({
            "issuer": self.issuer_url,
            "jwks_uri": format!("{base}/keys"),
            "authorization_endpoint": "urn:kubernetes:programmatic_authorization",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "claims_supported": ["sub", "iss"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }
}

/// What to put in a projected service-account token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// `iss`.
    pub issuer: String,
    /// `sub`; not derived from namespace/service account, so a mismatch can be staged.
    pub subject: String,
    /// `aud`, always emitted as an array as the API server does.
    pub audiences: Vec<String>,
    /// `iat` (and `nbf`) in Unix seconds.
    pub issued_at: i64,
    /// `exp - iat` in seconds.
    pub lifetime: i64,
    /// `kubernetes.io.namespace`.
    pub namespace: String,
    /// `kubernetes.io.serviceaccount.name`.
    pub service_account: String,
    /// `kubernetes.io.pod.name`.
    pub pod: String,
    /// `kubernetes.io.node.name`.
    pub node: String,
}

impl Default for TokenSpec {
    /// A healthy EKS IRSA token issued now, valid for the webhook's default 24 h.
    fn default() -> Self {
        TokenSpec {
            issuer: DEFAULT_ISSUER.to_owned(),
            subject: DEFAULT_SUBJECT.to_owned(),
            audiences: vec![DEFAULT_AUDIENCE.to_owned()],
            issued_at: unix_now(),
            lifetime: 86_400,
            namespace: "demo".to_owned(),
            service_account: "demo-sa".to_owned(),
            pod: "web-7d9f".to_owned(),
            node: "ip-10-0-1-2.ec2.internal".to_owned(),
        }
    }
}

impl TokenSpec {
    /// `exp`, in Unix seconds.
    pub fn expires_at(&self) -> i64 {
        self.issued_at.saturating_add(self.lifetime)
    }

    /// The claims exactly as the API server lays them out for a bound token (Kubernetes 1.30+).
    pub fn claims(&self) -> Value {
        json!({
            "aud": self.audiences,
            "exp": self.expires_at(),
            "iat": self.issued_at,
            "iss": self.issuer,
            "jti": random_uuid(),
            "kubernetes.io": {
                "namespace": self.namespace,
                // UIDs are derived from the names so they stay put across
                // rotations, as a real pod's do.
                "node": {"name": self.node, "uid": stable_uid("node", &self.node)},
                "pod": {"name": self.pod, "uid": stable_uid(&self.namespace, &self.pod)},
                "serviceaccount": {
                    "name": self.service_account,
                    "uid": stable_uid(&self.namespace, &self.service_account),
                },
            },
            "nbf": self.issued_at,
            "sub": self.subject,
        })
    }
}

/// The current time in Unix seconds (0 if the clock is before 1970).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A random version-4-shaped UUID (for `jti`s and request ids; not for security).
pub(crate) fn random_uuid() -> String {
    uuid_from(fastrand::u128(..))
}

/// A UUID-shaped id that is a pure function of its inputs (FNV-1a, twice for 128 bits).
fn stable_uid(scope: &str, name: &str) -> String {
    let fnv = |seed: u64| {
        let mut h = seed;
        for b in scope.bytes().chain([0]).chain(name.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    uuid_from(
        (u128::from(fnv(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(fnv(0x8422_2325_cbf2_9ce4)),
    )
}

fn uuid_from(bits: u128) -> String {
    // Set the version (4) and RFC 4122 variant bits so the id looks like what Kubernetes emits.
    let v = (bits & !(0xf000 << 64) & !(0xc000 << 48)) | (0x4000 << 64) | (0x8000 << 48);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        v >> 96,
        (v >> 80) & 0xffff,
        (v >> 64) & 0xffff,
        (v >> 48) & 0xffff,
        v & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    #[test]
    fn signature_verifies_against_the_published_jwks() {
        let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
        let token = issuer.issue(&issuer.token_spec()).unwrap();

        let set: JwkSet = serde_json::from_value(issuer.jwks()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some(issuer.key_id()));
        let jwk = set.find(issuer.key_id()).unwrap();
        let key = DecodingKey::from_jwk(jwk).unwrap();

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[DEFAULT_AUDIENCE]);
        validation.set_issuer(&[DEFAULT_ISSUER]);
        let verified = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
        assert_eq!(verified.claims["sub"], DEFAULT_SUBJECT);

        // A tampered payload must fail: the signature is real, not decorative.
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = issuer.token_spec();
        forged.subject = "system:serviceaccount:kube-system:admin".into();
        let forged_claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged.claims()).unwrap());
        let tampered = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert!(jsonwebtoken::decode::<Value>(&tampered, &key, &validation).is_err());

        // And another issuer's key must not verify it.
        let other = Issuer::generate(DEFAULT_ISSUER).unwrap();
        let other_set: JwkSet = serde_json::from_value(other.jwks()).unwrap();
        let other_key = DecodingKey::from_jwk(&other_set.keys[0]).unwrap();
        assert!(jsonwebtoken::decode::<Value>(&token, &other_key, &validation).is_err());
    }

    #[test]
    fn jwks_is_an_rfc7517_rsa_key() {
        let issuer = Issuer::generate("https://example.test/id/X").unwrap();
        let jwks = issuer.jwks();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["e"], "AQAB");
        let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256, "RSA-2048 modulus");
        assert_eq!(issuer.key_id().len(), 40);
        assert_eq!(
            issuer.openid_configuration()["jwks_uri"],
            "https://example.test/id/X/keys"
        );
    }

    #[test]
    fn default_spec_has_the_eks_claim_layout() {
        let spec = TokenSpec {
            issued_at: 1_700_000_000,
            ..TokenSpec::default()
        };
        let c = spec.claims();
        assert_eq!(c["aud"], json!(["sts.amazonaws.com"]));
        assert_eq!(c["iss"], DEFAULT_ISSUER);
        assert_eq!(c["sub"], DEFAULT_SUBJECT);
        assert_eq!(c["iat"], 1_700_000_000);
        assert_eq!(c["nbf"], 1_700_000_000);
        assert_eq!(c["exp"], 1_700_086_400);
        let k = &c["kubernetes.io"];
        assert_eq!(k["namespace"], "demo");
        assert_eq!(k["pod"]["name"], "web-7d9f");
        assert_eq!(k["serviceaccount"]["name"], "demo-sa");
        assert_eq!(k["node"]["name"], "ip-10-0-1-2.ec2.internal");
        // Stable UIDs across rotations, fresh jti per token.
        let again = spec.claims();
        assert_eq!(k["pod"]["uid"], again["kubernetes.io"]["pod"]["uid"]);
        assert_ne!(c["jti"], again["jti"]);
        let jti = c["jti"].as_str().unwrap();
        assert_eq!(jti.len(), 36);
        assert_eq!(&jti[14..15], "4");

        // What our own decoder makes of it.
        let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
        let decoded = irsa_doctor_core::token::decode(&issuer.issue(&spec).unwrap()).unwrap();
        assert_eq!(decoded.algorithm.as_deref(), Some("RS256"));
        assert_eq!(decoded.claims.lifetime_seconds(), Some(86_400));
        assert_eq!(decoded.claims.kubernetes.pod.as_deref(), Some("web-7d9f"));
    }
}
