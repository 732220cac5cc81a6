//! TLS for the HTTP server (`tls_server_config` of `--web-config-file`): a rustls
//! server configuration on the aws-lc-rs provider, rebuilt without a restart when
//! the certificate, key or client CA files change (cert-manager rotates them by
//! swapping a Secret volume's symlink).
//!
//! The files are compared by content at most once a second, when a connection
//! arrives: a rotation is served from the first handshake after it, and an idle
//! server reads nothing. A rotation caught half-written (a new certificate with
//! the old key) keeps the previous configuration until the pair is whole again.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::web_config::settings::{ClientAuth, TlsSettings, TlsVersion};

/// How often the files are compared with what is being served, at most.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why the TLS files cannot be served. Never carries file contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("tls_server_config.{key} {path}: cannot read it: {error}")]
    Read {
        /// `cert_file`, `key_file` or `client_ca_file`.
        key: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        error: String,
    },
    /// A file without the PEM it should hold.
    #[error("tls_server_config.{key} {path}: {what}")]
    Pem {
        /// `cert_file`, `key_file` or `client_ca_file`.
        key: &'static str,
        /// The path.
        path: String,
        /// What is missing or wrong.
        what: String,
    },
    /// rustls refuses the combination (e.g. the key does not match the certificate).
    #[error("tls_server_config: {0}")]
    Rustls(String),
}

/// The three files' contents: what decides whether to rebuild. Not `Debug`: it holds the key.
#[derive(PartialEq, Eq)]
struct Files {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Option<Vec<u8>>,
}

fn read_files(s: &TlsSettings) -> Result<Files, TlsError> {
    let read = |key, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| TlsError::Read {
            key,
            path: path.display().to_string(),
            error: e.to_string(),
        })
    };
    Ok(Files {
        cert: read("cert_file", &s.cert_file)?,
        key: read("key_file", &s.key_file)?,
        ca: s
            .client_ca_file
            .as_deref()
            .map(|p| read("client_ca_file", p))
            .transpose()?,
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds the rustls configuration from the settings and the files' contents (no I/O).
fn build(s: &TlsSettings, files: &Files) -> Result<Arc<ServerConfig>, TlsError> {
    let pem = |key, path: &std::path::Path, what: String| TlsError::Pem {
        key,
        path: path.display().to_string(),
        what,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&files.cert)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            pem(
                "cert_file",
                &s.cert_file,
                format!("not PEM certificates ({e})"),
            )
        })?;
    if certs.is_empty() {
        return Err(pem(
            "cert_file",
            &s.cert_file,
            "no PEM certificate in it".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&files.key).map_err(|e| {
        pem(
            "key_file",
            &s.key_file,
            format!("no usable PEM private key in it ({e})"),
        )
    })?;
    let provider = provider();
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (s.min_version..=s.max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let verifier = client_verifier(s, files, &provider)?;
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            TlsError::Rustls(format!("{e} (do cert_file and key_file belong together?)"))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = s.prefer_server_cipher_suites;
    Ok(Arc::new(config))
}

fn client_verifier(
    s: &TlsSettings,
    files: &Files,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let ca_path = || {
        s.client_ca_file
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    if !s.client_auth.verifies() {
        return Ok(match s.client_auth {
            ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
            other => Arc::new(AnyClientCert {
                mandatory: other.mandatory(),
                algorithms: provider.signature_verification_algorithms,
            }),
        });
    }
    let mut roots = RootCertStore::empty();
    let ca = files.ca.as_deref().unwrap_or_default();
    for cert in CertificateDer::pem_slice_iter(ca) {
        let cert = cert.map_err(|e| TlsError::Pem {
            key: "client_ca_file",
            path: ca_path(),
            what: format!("not PEM certificates ({e})"),
        })?;
        roots.add(cert).map_err(|e| TlsError::Pem {
            key: "client_ca_file",
            path: ca_path(),
            what: format!("not a usable CA certificate ({e})"),
        })?;
    }
    if roots.is_empty() {
        return Err(TlsError::Pem {
            key: "client_ca_file",
            path: ca_path(),
            what: "no PEM certificate in it".into(),
        });
    }
    let builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    let builder = if s.client_auth.mandatory() {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder.build().map_err(|e| TlsError::Rustls(e.to_string()))
}

/// `RequestClientCert` / `RequireAnyClientCert`: any certificate is accepted without a
/// chain check (Go's semantics), but the client must still prove it holds its key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

struct Current {
    config: Arc<ServerConfig>,
    files: Files,
    checked: Instant,
    /// Contents that failed to build, so a broken rotation is logged once, not per second.
    failed: Option<Files>,
}

/// The served TLS configuration and what it was built from.
pub struct Tls {
    settings: TlsSettings,
    current: Mutex<Current>,
}

impl Tls {
    /// Reads the files and builds the configuration; any problem is fatal at startup.
    pub fn load(settings: TlsSettings) -> Result<Tls, TlsError> {
        let files = read_files(&settings)?;
        let config = build(&settings, &files)?;
        Ok(Tls {
            settings,
            current: Mutex::new(Current {
                config,
                files,
                checked: crate::host::instant(),
                failed: None,
            }),
        })
    }

    /// The configuration to accept the next connection with, re-read first if the
    /// files were last compared over a second ago.
    pub fn config(&self) -> Arc<ServerConfig> {
        let mut cur = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cur.checked.elapsed() >= RELOAD_CHECK_INTERVAL {
            cur.checked = crate::host::instant();
            self.reload(&mut cur);
        }
        Arc::clone(&cur.config)
    }

    fn reload(&self, cur: &mut Current) {
        let files = match read_files(&self.settings) {
            Ok(f) => f,
            // Mid-swap (a file briefly missing): try again on a later connection.
            Err(e) => {
                tracing::debug!(error = %e, "TLS files unreadable; serving the previous certificate");
                return;
            }
        };
        if files == cur.files || cur.failed.as_ref() == Some(&files) {
            return;
        }
        match build(&self.settings, &files) {
            Ok(config) => {
                cur.config = config;
                cur.files = files;
                cur.failed = None;
                tracing::info!(cert_file = %self.settings.cert_file.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS files changed but cannot be served; serving the previous certificate");
                cur.failed = Some(files);
            }
        }
    }

    /// Runs the TLS handshake on an accepted connection.
    pub async fn accept(&self, stream: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        TlsAcceptor::from(self.config()).accept(stream).await
    }
}
