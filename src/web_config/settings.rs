//! The validated `tls_server_config`: plain data that `parse` produces and `crate::tls`
//! serves from (its own module, so the TLS server depends on the settings alone).

use std::path::PathBuf;

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
    pub(super) const NAMES: &str = "NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert";

    pub(super) fn parse(s: &str) -> Option<ClientAuth> {
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
