//! `--web-config-file`: TLS and basic auth for the HTTP server, in the Prometheus
//! exporter-toolkit web configuration format (SPEC section 2).
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/irsa-doctor/tls/tls.crt
//!   key_file: /etc/irsa-doctor/tls/tls.key
//!   client_ca_file: /etc/irsa-doctor/tls/ca.crt    # optional
//!   client_auth_type: RequireAndVerifyClientCert   # optional
//!   min_version: TLS12                             # optional: TLS12 (default) or TLS13
//!   max_version: TLS13                             # optional
//! basic_auth_users:
//!   prometheus: $2y$10$...                         # bcrypt
//! ```
//!
//! The pure part (`parse`) turns the file's text into a validated `WebConfig`;
//! the shell (`load`) reads it, and `Auth` checks `Authorization` headers with
//! a bounded cache of successful bcrypt verifications. exporter-toolkit keys
//! that irsa-doctor does not implement are refused by name, never ignored:
//! each of them would change what a client may do or see.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{HeaderMap, Response, StatusCode};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// The realm of the `WWW-Authenticate` challenge.
pub const REALM: &str = "irsa-doctor";
/// Paths that never need credentials: the kubelet's probes cannot send any.
pub const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];
/// Successful verifications remembered; past this the cache starts over (bounded memory).
pub const AUTH_CACHE_CAPACITY: usize = 256;
/// bcrypt runs at once: each takes tens of milliseconds of a core by design, so an
/// unauthenticated flood queues here instead of occupying every blocking thread.
const MAX_CONCURRENT_BCRYPT: usize = 2;
/// A valid bcrypt hash (of a random password) verified for unknown users, so that a wrong
/// user name costs as much time as a wrong password and does not reveal which users exist.
const DUMMY_HASH: &str = "$2y$10$sK1B8D1VpqJvcReIvbQ9TOR744LfGooDvU/gtMNt6JDzZfN9INuu2";

/// Client certificate policy (`client_auth_type`), as Go's `tls.ClientAuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is requested.
    NoClientCert,
    /// A certificate is requested, not required, and not verified.
    RequestClientCert,
    /// A certificate is required but not verified against a CA.
    RequireAnyClientCert,
    /// A certificate is optional; one that is sent must verify against `client_ca_file`.
    VerifyClientCertIfGiven,
    /// A certificate is required and must verify against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Every accepted spelling, for the error message.
    const NAMES: &str = "NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert";

    fn parse(s: &str) -> Option<ClientAuth> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // RequireClientCert: exporter-toolkit's older spelling, kept there for compatibility.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    /// Whether the certificate must chain to `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }

    /// Whether a client without a certificate is refused.
    pub fn mandatory(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// A TLS protocol version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// The validated `tls_server_config`; relative paths are already resolved against the
/// web config file's directory (as exporter-toolkit does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA bundle that client certificates must chain to.
    pub client_ca_file: Option<PathBuf>,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
    /// Lowest version offered.
    pub min_version: TlsVersion,
    /// Highest version offered.
    pub max_version: TlsVersion,
    /// Pick the TLS 1.2 cipher suite by our order rather than the client's.
    pub prefer_server_cipher_suites: bool,
}

/// A validated web configuration: plain data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebConfig {
    /// TLS, when `tls_server_config` is present.
    pub tls: Option<TlsSettings>,
    /// User name → bcrypt hash; empty means no basic auth.
    pub users: BTreeMap<String, String>,
}

/// Why a web configuration is unusable: one line, never a secret (the file holds only hashes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The file cannot be read.
    #[error("cannot read it: {0}")]
    Read(String),
    /// YAML syntax, a wrong type or a key exporter-toolkit does not have either.
    #[error("not a valid web configuration: {0}")]
    Yaml(String),
    /// A key of exporter-toolkit's format that irsa-doctor does not implement.
    #[error("{key} is not supported by irsa-doctor: {why}; remove it")]
    Unsupported {
        /// The key, e.g. `tls_server_config.cipher_suites`.
        key: &'static str,
        /// What to do instead.
        why: &'static str,
    },
    /// `tls_server_config` without `cert_file` or `key_file`.
    #[error("tls_server_config.{0} is required")]
    Missing(&'static str),
    /// An unknown `client_auth_type`.
    #[error("tls_server_config.client_auth_type {0:?} is not one of {names}", names = ClientAuth::NAMES)]
    ClientAuthType(String),
    /// A `client_ca_file` that nothing would use.
    #[error(
        "tls_server_config.client_ca_file is set but client_auth_type is NoClientCert; set client_auth_type (e.g. RequireAndVerifyClientCert) or remove client_ca_file"
    )]
    CaWithoutClientAuth,
    /// A verifying `client_auth_type` without a CA to verify against.
    #[error("tls_server_config.client_auth_type {0:?} needs client_ca_file")]
    ClientAuthWithoutCa(String),
    /// A version that is not TLS12 or TLS13.
    #[error(
        "tls_server_config.{key} {value:?} is not supported: use TLS12 or TLS13 (TLS 1.0 and 1.1 are not offered)"
    )]
    Version {
        /// `min_version` or `max_version`.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// `min_version` above `max_version`.
    #[error("tls_server_config.min_version is above max_version")]
    VersionOrder,
    /// A user whose hash is not bcrypt.
    #[error(
        "basic_auth_users.{user}: not a bcrypt hash ({reason}); make one with `htpasswd -nBC 10 {user}`"
    )]
    BadHash {
        /// The user name.
        user: String,
        /// What is wrong with the hash.
        reason: String,
    },
    /// A user name basic auth cannot carry.
    #[error("basic_auth_users: user name {0:?} must be non-empty and contain no ':'")]
    BadUser(String),
    /// The certificate, key or CA files named by `tls_server_config`.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// A problem with the file named by `--web-config-file`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--web-config-file {path}: {problem}")]
pub struct WebConfigError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

/// The file as exporter-toolkit defines it; keys we do not implement are parsed only to be refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
    #[serde(default)]
    rate_limit: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    client_ca_file: Option<String>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    cert: Option<IgnoredAny>,
    #[serde(default)]
    key: Option<IgnoredAny>,
    #[serde(default)]
    client_ca: Option<IgnoredAny>,
    #[serde(default)]
    cipher_suites: Option<IgnoredAny>,
    #[serde(default)]
    curve_preferences: Option<IgnoredAny>,
    #[serde(default)]
    client_allowed_sans: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// We serve HTTP/1.1 only; `http2: true` (Go's default) is a transport preference, not a
    /// security setting, so it is accepted and means HTTP/1.1 here.
    #[serde(default)]
    #[allow(dead_code)] // read by serde only
    http2: Option<bool>,
    #[serde(default)]
    headers: Option<IgnoredAny>,
}

/// Parses and validates the file's text; `dir` resolves relative paths (the file's directory).
pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, Problem> {
    // YAML to a JSON value, then serde: the binary already carries serde_json, and a YAML
    // tree loader is a fraction of the size of a YAML serde deserializer (README, size).
    let yaml = yaml_rust2::YamlLoader::load_from_str(text)
        .map_err(|e| Problem::Yaml(one_line(&e.to_string())))?;
    // Like Go's yaml.Unmarshal: the first document; an empty file is an empty configuration.
    let json = match yaml.into_iter().next() {
        None => serde_json::Value::Null,
        Some(doc) => to_json(doc).map_err(Problem::Yaml)?,
    };
    let raw: RawFile = serde_json::from_value::<Option<RawFile>>(json)
        .map_err(|e| Problem::Yaml(one_line(&e.to_string())))?
        .unwrap_or_default();
    let unsupported = |key, why| Err(Problem::Unsupported { key, why });
    if raw.rate_limit.is_some() {
        return unsupported(
            "rate_limit",
            "irsa-doctor bounds connections itself and never calls STS for a scrape",
        );
    }
    if raw
        .http_server_config
        .as_ref()
        .is_some_and(|h| h.headers.is_some())
    {
        return unsupported(
            "http_server_config.headers",
            "irsa-doctor sets no custom response headers",
        );
    }
    let tls = raw.tls_server_config.map(|t| tls(t, dir)).transpose()?;
    let mut users = BTreeMap::new();
    for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
        if user.is_empty() || user.contains(':') {
            return Err(Problem::BadUser(user));
        }
        if let Err(reason) = check_hash(&hash) {
            return Err(Problem::BadHash { user, reason });
        }
        users.insert(user, hash);
    }
    Ok(WebConfig { tls, users })
}

fn tls(raw: RawTls, dir: &Path) -> Result<TlsSettings, Problem> {
    let refuse = |key, why| Err(Problem::Unsupported { key, why });
    if raw.cert.is_some() || raw.key.is_some() || raw.client_ca.is_some() {
        let key = if raw.cert.is_some() {
            "tls_server_config.cert"
        } else if raw.key.is_some() {
            "tls_server_config.key"
        } else {
            "tls_server_config.client_ca"
        };
        return refuse(
            key,
            "give the PEM in a file with cert_file, key_file or client_ca_file",
        );
    }
    if raw.cipher_suites.is_some() {
        return refuse(
            "tls_server_config.cipher_suites",
            "rustls offers only AEAD suites with forward secrecy; restrict versions with min_version instead",
        );
    }
    if raw.curve_preferences.is_some() {
        return refuse(
            "tls_server_config.curve_preferences",
            "rustls picks among X25519, P-256 and P-384 (and hybrid post-quantum groups)",
        );
    }
    if raw.client_allowed_sans.is_some() {
        return refuse(
            "tls_server_config.client_allowed_sans",
            "restrict clients with client_ca_file and a CA that only signs them",
        );
    }
    let path = |p: Option<String>, key| match p.filter(|p| !p.is_empty()) {
        Some(p) => Ok(dir.join(p)),
        None => Err(Problem::Missing(key)),
    };
    let cert_file = path(raw.cert_file, "cert_file")?;
    let key_file = path(raw.key_file, "key_file")?;
    let client_ca_file = raw
        .client_ca_file
        .filter(|p| !p.is_empty())
        .map(|p| dir.join(p));
    let auth_name = raw.client_auth_type.unwrap_or_default();
    let client_auth =
        ClientAuth::parse(&auth_name).ok_or_else(|| Problem::ClientAuthType(auth_name.clone()))?;
    match (client_auth, &client_ca_file) {
        (ClientAuth::NoClientCert, Some(_)) => return Err(Problem::CaWithoutClientAuth),
        (a, None) if a.verifies() => return Err(Problem::ClientAuthWithoutCa(auth_name)),
        _ => {}
    }
    let version = |v: Option<String>, key, default| match v.as_deref() {
        None | Some("") => Ok(default),
        Some("TLS12") => Ok(TlsVersion::Tls12),
        Some("TLS13") => Ok(TlsVersion::Tls13),
        Some(other) => Err(Problem::Version {
            key,
            value: other.to_owned(),
        }),
    };
    let min_version = version(raw.min_version, "min_version", TlsVersion::Tls12)?;
    let max_version = version(raw.max_version, "max_version", TlsVersion::Tls13)?;
    if min_version > max_version {
        return Err(Problem::VersionOrder);
    }
    Ok(TlsSettings {
        cert_file,
        key_file,
        client_ca_file,
        client_auth,
        min_version,
        max_version,
        prefer_server_cipher_suites: raw.prefer_server_cipher_suites.unwrap_or(false),
    })
}

/// A YAML node as the JSON value serde reads; mapping keys must be scalars.
fn to_json(node: yaml_rust2::Yaml) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    use yaml_rust2::Yaml;
    Ok(match node {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(r), Value::Number),
        Yaml::String(s) => Value::String(s),
        Yaml::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Hash(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => return Err(format!("a mapping key must be a scalar, not {other:?}")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) | Yaml::BadValue => return Err("unresolvable YAML alias".into()),
    })
}

/// Whether `hash` is a bcrypt hash `bcrypt::verify` will accept (without running bcrypt).
fn check_hash(hash: &str) -> Result<(), String> {
    let parts: bcrypt::HashParts = hash
        .parse()
        .map_err(|e: bcrypt::BcryptError| e.to_string())?;
    // bcrypt's own limits; a cost outside them fails every verification.
    if !(4..=31).contains(&parts.get_cost()) {
        return Err(format!("cost {} is outside 4..31", parts.get_cost()));
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads and validates `path`.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let err = |problem| WebConfigError {
        path: path.display().to_string(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(Problem::Read(e.to_string())))?;
    parse(&text, path.parent().unwrap_or(Path::new("."))).map_err(err)
}

/// What the HTTP server enforces: TLS (with its reloading files) and basic auth.
pub struct Web {
    /// TLS, when configured.
    pub tls: Option<crate::tls::Tls>,
    /// Basic auth, when users are configured.
    pub auth: Option<Auth>,
}

impl Web {
    /// Reads `path` and the files it names; any problem is one line naming the file.
    pub fn load(path: &Path) -> Result<Web, WebConfigError> {
        let config = load(path)?;
        let tls = config
            .tls
            .map(crate::tls::Tls::load)
            .transpose()
            .map_err(|e| WebConfigError {
                path: path.display().to_string(),
                problem: Problem::Tls(e),
            })?;
        Ok(Web {
            tls,
            auth: Auth::new(config.users),
        })
    }

    /// How it is served, for the startup log line: `https`/`http`, and whether basic auth is on.
    pub fn describe(&self) -> (&'static str, bool) {
        (
            if self.tls.is_some() { "https" } else { "http" },
            self.auth.is_some(),
        )
    }
}

/// The cache key of one successful verification: a digest of the user, the presented
/// password and the stored hash, so a changed password or a changed hash never hits, and
/// the cache never holds a password.
pub fn cache_key(user: &str, password: &[u8], stored_hash: &str) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
    for part in [user.as_bytes(), password, stored_hash.as_bytes()] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// `user:password` from an `Authorization: Basic` header value, if it is one.
pub fn basic_credentials(header: &[u8]) -> Option<(String, Vec<u8>)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// A bounded set of cache keys; full means start over (simple, and never unbounded).
#[derive(Debug, Default)]
pub struct VerifiedCache {
    keys: HashSet<[u8; 32]>,
}

impl VerifiedCache {
    /// Whether `key` was verified before.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.keys.contains(key)
    }

    /// Remembers `key`, dropping everything first when full.
    pub fn insert(&mut self, key: [u8; 32]) {
        if self.keys.len() >= AUTH_CACHE_CAPACITY {
            self.keys.clear();
        }
        self.keys.insert(key);
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Basic auth over `basic_auth_users`, with the verification cache.
pub struct Auth {
    users: BTreeMap<String, String>,
    cache: Mutex<VerifiedCache>,
    bcrypt_slots: Arc<tokio::sync::Semaphore>,
}

impl Auth {
    /// Basic auth for `users` (user → bcrypt hash); `None` when there are none.
    pub fn new(users: BTreeMap<String, String>) -> Option<Auth> {
        (!users.is_empty()).then(|| Auth {
            users,
            cache: Mutex::new(VerifiedCache::default()),
            bcrypt_slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_BCRYPT)),
        })
    }

    /// Whether the request's `Authorization` header names a user with the right password.
    pub async fn allows(&self, headers: &HeaderMap) -> bool {
        let Some((user, password)) = headers
            .get(AUTHORIZATION)
            .and_then(|v| basic_credentials(v.as_bytes()))
        else {
            return false;
        };
        let (known, hash) = match self.users.get(&user) {
            Some(h) => (true, h.clone()),
            None => (false, DUMMY_HASH.to_owned()),
        };
        let key = cache_key(&user, &password, &hash);
        if known && self.lock().contains(&key) {
            return true;
        }
        // bcrypt is CPU-bound for tens of milliseconds: off the (single) runtime thread, so
        // /healthz and scrapes keep being answered while it runs.
        let Ok(_slot) = self.bcrypt_slots.acquire().await else {
            return false;
        };
        let verified = tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        let ok = known && verified;
        if ok {
            self.lock().insert(key);
        }
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VerifiedCache> {
        // A poisoned cache only ever held digests; its contents are still valid.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The answer to a request without valid credentials.
pub fn unauthorized() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(b"unauthorized\n")));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"irsa-doctor\""),
    );
    r
}

/// The HTTP server's gate: `Some(401)` for a request that needs credentials and lacks them.
pub async fn gate(
    auth: Option<&Auth>,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response<Full<Bytes>>> {
    let auth = auth?;
    if OPEN_PATHS.contains(&path) || auth.allows(headers).await {
        return None;
    }
    Some(unauthorized())
}

#[cfg(test)]
mod tests;
