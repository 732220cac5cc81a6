//! `--web-config-file`: TLS and basic auth for the HTTP server, in the Prometheus
//! exporter-toolkit web configuration format.
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
//! This file holds the validated configuration (plain data), its errors and the entry
//! points: `parse` (pure) turns the file's text into a `WebConfig`, `load` reads the file,
//! and `Web::load` also loads the TLS files it names. The rest, one concern each:
//!
//! - `parse`: exporter-toolkit's keys and the checks on them. Keys that irsa-doctor does
//!   not implement are refused by name, never ignored: each of them would change what a
//!   client may do or see.
//! - `yaml`: YAML text to what serde reads, through serde_json.
//! - `auth`: basic auth: `Auth` checks `Authorization` headers with a bounded cache of
//!   successful bcrypt verifications, and `gate` answers 401 without them.

use std::collections::BTreeMap;
use std::path::Path;

mod auth;
mod parse;
pub mod settings;
mod yaml;

pub use auth::{
    AUTH_CACHE_CAPACITY, Auth, CHALLENGE, OPEN_PATHS, VerifiedCache, basic_credentials, cache_key,
    gate, unauthorized,
};
pub use parse::parse;
pub use settings::{ClientAuth, TlsSettings, TlsVersion};

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

#[cfg(test)]
mod tests;
