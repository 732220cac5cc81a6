//! exporter-toolkit's web configuration keys and the checks on them: the file's text to a
//! validated `WebConfig` (pure). Every key of its format has a field here, so the ones
//! irsa-doctor does not implement are refused by name rather than as unknown.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{ClientAuth, Problem, TlsSettings, TlsVersion, WebConfig, yaml};

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
    // An empty file (YAML `null`) is an empty configuration.
    let raw: RawFile = yaml::from_str::<Option<RawFile>>(text)
        .map_err(Problem::Yaml)?
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
