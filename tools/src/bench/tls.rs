//! `/metrics` over TLS with basic auth (`--web-config-file`) beside plain HTTP, on
//! the same load generator as the plain figures (`load_over`, with the harness's
//! HTTP client over a rustls stream). `--tls` runs only this.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use irsa_doctor_emulator::harness::http::{READ_TIMEOUT, connect_tcp};
use irsa_doctor_emulator::harness::{Conn, Pod};

use crate::daemon::spawn;
use crate::load::{Load, load, load_over};
use crate::options::Plan;
use crate::report::{Row, plural, print_report, progress};

/// The scrape credentials of the bench's web config.
const SCRAPE_USER: &str = "prometheus";
const SCRAPE_PASSWORD: &str = "bench-scrape-password";
/// bcrypt cost of the bench's hash: what `htpasswd -nBC 10` (the documented recipe) makes.
const SCRAPE_COST: u32 = 10;

/// `--tls`: plain `/metrics` at 1 and 50 clients, then the same over TLS + basic auth.
pub fn tls_only(binary: &Path, pod: &Pod, plan: &Plan, facts: &[String]) {
    progress("starting irsa-doctor serve (plain)");
    let daemon = spawn(binary, pod, &[]);
    let plain: Vec<Load> = [1, 50]
        .into_iter()
        .map(|clients| {
            progress(&format!("plain: {clients} client(s) of GET /metrics"));
            load(daemon.addr(), "/metrics", clients, plan.window)
        })
        .collect();
    let mut rows: Vec<Row> = plain.iter().map(|l| l.row("/metrics", l.clients)).collect();
    drop(daemon);
    rows.extend(tls_rows(binary, pod, &plain, plan.window));
    print_report(facts, &rows, &[]);
}

/// A throwaway certificate for `localhost` and a web config with one bcrypt user.
struct WebConfig {
    dir: tempfile::TempDir,
    client: Arc<rustls::ClientConfig>,
}

impl WebConfig {
    fn new() -> WebConfig {
        let dir = tempfile::tempdir().expect("create a dir for the web config");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("generate a certificate");
        std::fs::write(dir.path().join("tls.crt"), cert.cert.pem()).expect("write tls.crt");
        std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem())
            .expect("write tls.key");
        let hash = bcrypt::hash(SCRAPE_PASSWORD, SCRAPE_COST).expect("bcrypt");
        std::fs::write(
            dir.path().join("web.yml"),
            format!(
                "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  {SCRAPE_USER}: '{hash}'\n"
            ),
        )
        .expect("write web.yml");
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(cert.cert.der().clone())
            .expect("trust the certificate");
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        WebConfig {
            dir,
            client: Arc::new(client),
        }
    }

    fn path(&self) -> String {
        self.dir.path().join("web.yml").display().to_string()
    }

    /// The `Authorization` header line for its user.
    fn authorization(&self) -> String {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{SCRAPE_USER}:{SCRAPE_PASSWORD}"));
        format!("Authorization: Basic {token}")
    }
}

/// The TLS rows: the same load as `plain` (1 and 50 clients), over TLS + basic auth.
pub fn tls_rows(binary: &Path, pod: &Pod, plain: &[Load], window: Duration) -> Vec<Row> {
    let web = WebConfig::new();
    progress("starting irsa-doctor serve --web-config-file (TLS + basic auth)");
    let daemon = spawn(binary, pod, &["--web-config-file", &web.path()]);
    let mut rows = Vec::new();
    for base in plain {
        progress(&format!(
            "TLS + basic auth: {} client(s) of GET /metrics",
            base.clients
        ));
        let tls = load_over(
            https(daemon.addr(), Arc::clone(&web.client)),
            "/metrics",
            &[web.authorization()],
            base.clients,
            window,
        );
        let ratio = base.throughput() / tls.throughput().max(f64::MIN_POSITIVE);
        let figure = format!(
            "/metrics over TLS + basic auth, {} client{}",
            base.clients,
            plural(base.clients)
        );
        let value = format!("{}; plain is {ratio:.2}× its throughput", tls.describe());
        rows.push(Row::judged(
            figure,
            value,
            "within 2× of plain",
            tls.errors == 0 && ratio <= 2.0,
        ));
    }
    rows
}

/// A rustls client stream over TCP.
type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Opens HTTPS connections to `addr` for `localhost` (the bench certificate's name).
fn https(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> impl Fn() -> io::Result<Conn<TlsStream>> + Clone + Send + 'static {
    move || {
        let tcp = connect_tcp(addr, READ_TIMEOUT)?;
        let name =
            rustls::pki_types::ServerName::try_from("localhost").map_err(io::Error::other)?;
        let tls =
            rustls::ClientConnection::new(Arc::clone(&config), name).map_err(io::Error::other)?;
        Ok(Conn::over(rustls::StreamOwned::new(tls, tcp)))
    }
}
