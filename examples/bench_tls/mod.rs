//! `scripts/bench`: `/metrics` over TLS with basic auth (`--web-config-file`) beside
//! plain HTTP, on the same load generator as the plain figures. A module of
//! `examples/bench.rs` (a directory without `main.rs`, so cargo does not take it for
//! an example of its own).

use super::*;
use irsa_doctor_emulator::harness::http::Response;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// The scrape credentials of the bench's web config.
const SCRAPE_USER: &str = "prometheus";
const SCRAPE_PASSWORD: &str = "bench-scrape-password";
/// bcrypt cost of the bench's hash: what `htpasswd -nBC 10` (the documented recipe) makes.
const SCRAPE_COST: u32 = 10;

/// `--tls`: plain `/metrics` at 1 and 50 clients, then the same over TLS + basic auth.
pub(super) fn tls_only(binary: &Path, pod: &Pod, plan: &Plan, facts: &[String]) {
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
}

/// The TLS rows: the same load as `plain` (1 and 50 clients), over TLS + basic auth.
pub(super) fn tls_rows(binary: &Path, pod: &Pod, plain: &[Load], window: Duration) -> Vec<Row> {
    let web = WebConfig::new();
    progress("starting irsa-doctor serve --web-config-file (TLS + basic auth)");
    let daemon = spawn(binary, pod, &["--web-config-file", &web.path()]);
    let mut rows = Vec::new();
    for base in plain {
        progress(&format!(
            "TLS + basic auth: {} client(s) of GET /metrics",
            base.clients
        ));
        let tls = tls_load(daemon.addr(), &web.client, base.clients, window);
        let ratio = base.throughput() / tls.throughput().max(f64::MIN_POSITIVE);
        let figure = format!(
            "/metrics over TLS + basic auth, {} client{}",
            base.clients,
            if base.clients == 1 { "" } else { "s" }
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

/// `load` over TLS with basic auth: `clients` keep-alive TLS connections, released together.
fn tls_load(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    clients: usize,
    window: Duration,
) -> Load {
    let start_line = Arc::new(Barrier::new(clients + 1));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let start_line = Arc::clone(&start_line);
            let config = Arc::clone(config);
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    // The handshake and the one bcrypt of this password stay out of the figures.
                    let mut conn = TlsConn::open(addr, config).expect("TLS connection");
                    let body_bytes = conn.get("/metrics").map_or(0, |r| r.body.len());
                    start_line.wait();
                    let until = Instant::now() + window;
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    while Instant::now() < until {
                        let sent = Instant::now();
                        match conn.get("/metrics") {
                            Ok(r) if r.status == 200 => latencies.push(sent.elapsed()),
                            _ => errors += 1,
                        }
                    }
                    (latencies, errors, body_bytes)
                })
                .expect("spawn a client thread")
        })
        .collect();
    start_line.wait();
    let released = Instant::now();
    let mut out = Load {
        clients,
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
        body_bytes: 0,
    };
    for worker in workers {
        let (latencies, errors, body_bytes) = worker.join().expect("a client thread panicked");
        out.latencies.extend(latencies);
        out.errors += errors;
        out.body_bytes = out.body_bytes.max(body_bytes);
    }
    out.elapsed = released.elapsed();
    out.latencies.sort();
    out
}

/// One keep-alive HTTPS connection sending basic auth (irsa-doctor always sends Content-Length).
struct TlsConn {
    stream: BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
    line: String,
    authorization: String,
}

impl TlsConn {
    fn open(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> io::Result<TlsConn> {
        use base64::Engine;
        let tcp = TcpStream::connect(addr)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(PATIENCE))?;
        let name =
            rustls::pki_types::ServerName::try_from("localhost").map_err(io::Error::other)?;
        let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{SCRAPE_USER}:{SCRAPE_PASSWORD}"));
        Ok(TlsConn {
            stream: BufReader::with_capacity(64 * 1024, rustls::StreamOwned::new(conn, tcp)),
            line: String::new(),
            authorization: format!("Basic {token}"),
        })
    }

    fn get(&mut self, path: &str) -> io::Result<Response> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\r\n",
            self.authorization
        );
        let stream = self.stream.get_mut();
        stream.write_all(request.as_bytes())?;
        stream.flush()?;
        let status = self
            .read_line()?
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid("no HTTP status line"))?;
        let mut length = None;
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().ok();
            }
        }
        let mut body = vec![0; length.ok_or_else(|| invalid("no Content-Length"))?];
        self.stream.read_exact(&mut body)?;
        Ok(Response {
            status,
            head: String::new(),
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    fn read_line(&mut self) -> io::Result<&str> {
        self.line.clear();
        if self.stream.read_line(&mut self.line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(self.line.trim_end())
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}
