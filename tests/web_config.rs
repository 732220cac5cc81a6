//! `--web-config-file`: the real binary serving TLS and basic auth, client
//! certificates, certificate rotation without a restart, and bad files.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};

const DEADLINE: Duration = Duration::from_secs(10);
const USER: &str = "prometheus";
const PASSWORD: &str = "s3cret-scrape-password";

/// A throwaway CA that signs server and client certificates.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM) for `localhost` / 127.0.0.1, or a client named `cn`.
    fn issue(&self, cn: &str, server: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let sans = if server {
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
        } else {
            vec![]
        };
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A directory with a server certificate, its CA, and a web config naming them.
struct Setup {
    dir: tempfile::TempDir,
    ca: Ca,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("irsa-doctor test CA");
        let s = Setup { dir, ca };
        s.write_server_cert("server-1");
        std::fs::write(s.path("ca.crt"), &s.ca.pem).unwrap();
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a freshly issued server certificate and key; returns the certificate's DER.
    fn write_server_cert(&self, cn: &str) -> Vec<u8> {
        let (cert, key) = self.ca.issue(cn, true);
        std::fs::write(self.path("tls.key"), key).unwrap();
        std::fs::write(self.path("tls.crt"), &cert).unwrap();
        CertificateDer::from_pem_slice(cert.as_bytes())
            .unwrap()
            .to_vec()
    }

    /// Writes `web.yml` (TLS with relative paths, basic auth, then `extra`) and returns its path.
    fn web_config(&self, tls_extra: &str, with_users: bool) -> PathBuf {
        let hash = bcrypt::hash(PASSWORD, 4).unwrap();
        let users = if with_users {
            format!("basic_auth_users:\n  {USER}: '{hash}'\n")
        } else {
            String::new()
        };
        let yaml = format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n{tls_extra}{users}"
        );
        let path = self.path("web.yml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    fn start(&self, web_config: &Path) -> Server {
        let mut env = base_env(&self.dir.path().join("home"));
        set(
            &mut env,
            "IRSA_DOCTOR_WEB_CONFIG_FILE",
            &web_config.display().to_string(),
        );
        serve(&env, &["--no-imds-check"])
    }

    fn client(&self, cert: Option<(String, String)>) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca.pem.as_bytes()).unwrap())
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = match cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
        };
        Client {
            config: Arc::new(config),
        }
    }
}

/// A TLS client trusting the test CA.
struct Client {
    config: Arc<rustls::ClientConfig>,
}

/// What a TLS request got: the response, and the certificate the server presented.
struct TlsResp {
    resp: Resp,
    server_cert: Vec<u8>,
}

impl Client {
    /// One HTTPS request with `Connection: close`; `Err` when TLS or the connection fails.
    fn request(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
    ) -> std::io::Result<TlsResp> {
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        tcp.set_read_timeout(Some(Duration::from_secs(15)))?;
        let conn = rustls::ClientConnection::new(
            Arc::clone(&self.config),
            ServerName::try_from("localhost").unwrap(),
        )
        .map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some((user, password)) = auth {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            req.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        req.push_str("Content-Length: 0\r\n\r\n");
        tls.write_all(req.as_bytes())?;
        let mut raw = Vec::new();
        match tls.read_to_end(&mut raw) {
            Ok(_) => {}
            // A peer that closes without close_notify after a full answer is still an answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(e),
        }
        let server_cert = tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no HTTP response: {text:?}")))?;
        let head = lines.collect::<Vec<_>>().join("\n");
        Ok(TlsResp {
            resp: Resp {
                status,
                head,
                body: body.to_owned(),
            },
            server_cert,
        })
    }

    fn get(&self, addr: SocketAddr, path: &str, auth: Option<(&str, &str)>) -> Resp {
        self.request(addr, "GET", path, auth)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .resp
    }
}

#[test]
fn tls_with_basic_auth() {
    let setup = Setup::new();
    let server = setup.start(&setup.web_config("", true));
    let client = setup.client(None);
    let addr = server.addr();
    let right = Some((USER, PASSWORD));

    // Open without credentials: the kubelet's probes.
    assert_eq!(client.get(addr, "/healthz", None).status, 200);
    wait_for("/readyz 200 without credentials", DEADLINE, || {
        (client.get(addr, "/readyz", None).status == 200).then_some(())
    });

    // (method, path, credentials, status)
    type Credentials<'a> = Option<(&'a str, &'a str)>;
    let cases: [(&str, &str, Credentials, u16); 9] = [
        ("GET", "/metrics", None, 401),
        ("GET", "/debug", None, 401),
        ("POST", "/debug/probe", None, 401),
        ("GET", "/", None, 401),
        ("GET", "/metrics", Some((USER, "wrong")), 401),
        ("GET", "/metrics", Some(("nobody", PASSWORD)), 401),
        ("GET", "/metrics", right, 200),
        ("GET", "/debug?format=json", right, 200),
        ("GET", "/metrics", right, 200),
    ];
    for (method, path, auth, want) in cases {
        let r = client
            .request(addr, method, path, auth)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
            .resp;
        assert_eq!(r.status, want, "{method} {path} {auth:?}: {}", r.body);
        if want == 401 {
            assert_eq!(
                r.header("www-authenticate"),
                Some("Basic realm=\"irsa-doctor\""),
                "{method} {path}"
            );
            assert!(!r.body.contains("irsa_"), "no metrics without credentials");
        }
    }
    let metrics = client.get(addr, "/metrics", right).body;
    assert!(metrics.contains("irsa_doctor_build_info"), "{metrics}");
    let report = client.get(addr, "/debug?format=json", right).json();
    assert!(report["status"].is_string(), "{report}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    if let Ok(r) = request(addr, "GET", "/healthz", &[]) {
        assert_eq!(r.status, 0, "plain HTTP must not be served: {r:?}");
    }

    // Neither the password nor the header carrying it is ever logged.
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let logs = server.logs();
    assert!(logs.contains("\"scheme\":\"https\""), "{logs}");
    assert!(!logs.contains(PASSWORD) && !logs.contains(&token), "{logs}");
}

#[test]
fn basic_auth_without_tls() {
    let setup = Setup::new();
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let path = setup.path("auth-only.yml");
    std::fs::write(&path, format!("basic_auth_users:\n  {USER}: '{hash}'\n")).unwrap();
    let server = setup.start(&path);
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let auth = format!("Authorization: Basic {token}");
    assert_eq!(server.get("/metrics").status, 401);
    assert_eq!(server.get("/healthz").status, 200);
    let r = request(server.addr(), "GET", "/metrics", &[&auth]).unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn client_certificate_modes() {
    let setup = Setup::new();
    let trusted = setup.ca.issue("prometheus", false);
    let foreign = Ca::new("another CA").issue("intruder", false);
    // (client_auth_type, client cert: none / trusted / foreign → served?)
    let cases = [
        ("RequireAndVerifyClientCert", [false, true, false]),
        ("VerifyClientCertIfGiven", [true, true, false]),
        ("RequireAnyClientCert", [false, true, true]),
        ("RequestClientCert", [true, true, true]),
    ];
    for (mode, want) in cases {
        let config = setup.web_config(
            &format!("  client_ca_file: ca.crt\n  client_auth_type: {mode}\n"),
            false,
        );
        let server = setup.start(&config);
        let clients = [
            ("no certificate", setup.client(None)),
            (
                "a certificate of the CA",
                setup.client(Some(trusted.clone())),
            ),
            (
                "a certificate of another CA",
                setup.client(Some(foreign.clone())),
            ),
        ];
        for ((what, client), served) in clients.iter().zip(want) {
            let got = client.request(server.addr(), "GET", "/healthz", None);
            match (&got, served) {
                (Ok(r), true) => assert_eq!(r.resp.status, 200, "{mode}, {what}"),
                (Err(_), false) => {}
                (Ok(r), false) => panic!("{mode}: {what} was served: {}", r.resp.status),
                (Err(e), true) => panic!("{mode}: {what} was refused: {e}"),
            }
        }
    }
}

#[test]
fn certificate_rotation_is_served_without_restart() {
    let setup = Setup::new();
    let first = CertificateDer::from_pem_slice(&std::fs::read(setup.path("tls.crt")).unwrap())
        .unwrap()
        .to_vec();
    let server = setup.start(&setup.web_config("", false));
    let client = setup.client(None);
    let served = |c: &Client| {
        c.request(server.addr(), "GET", "/healthz", None)
            .ok()
            .map(|r| r.server_cert)
    };
    assert_eq!(served(&client), Some(first.clone()));
    let pid = server.pid();

    for round in 2..=3 {
        let next = setup.write_server_cert(&format!("server-{round}"));
        assert_ne!(next, first);
        wait_for("the rotated certificate to be served", DEADLINE, || {
            (served(&client).as_ref() == Some(&next)).then_some(())
        });
    }
    assert_eq!(server.pid(), pid, "same process");
    server.wait_for_log("TLS certificate reloaded", 2);

    // A broken rotation (a key that does not match) keeps serving the last good pair.
    let last = served(&client).unwrap();
    let (_, other_key) = setup.ca.issue("mismatch", true);
    std::fs::write(setup.path("tls.key"), other_key).unwrap();
    // Files are compared when a connection arrives: keep connecting until the warning.
    wait_for("the warning about the mismatched pair", DEADLINE, || {
        assert_eq!(
            served(&client).as_ref(),
            Some(&last),
            "still the last good pair"
        );
        server
            .logs()
            .contains("cannot be served; serving the previous certificate")
            .then_some(())
    });
    assert_eq!(served(&client), Some(last));
}

#[test]
fn bad_web_config_exits_2_with_one_line() {
    let setup = Setup::new();
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    std::fs::write(setup.path("garbage.key"), "not a key\n").unwrap();
    // (file name, contents or None for no file, text the line must contain)
    let cases: [(&str, Option<String>, &str); 8] = [
        ("missing.yml", None, "cannot read it"),
        ("yaml.yml", Some("tls_server_config: [\n".into()), "not a valid web configuration"),
        ("hash.yml", Some("basic_auth_users:\n  prometheus: hunter2\n".into()), "not a bcrypt hash"),
        (
            "cert.yml",
            Some("tls_server_config:\n  cert_file: nope.crt\n  key_file: tls.key\n".into()),
            "cert_file",
        ),
        (
            "key.yml",
            Some("tls_server_config:\n  cert_file: tls.crt\n  key_file: garbage.key\n".into()),
            "key_file",
        ),
        (
            "auth.yml",
            Some(format!(
                "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_auth_type: Sometimes\nbasic_auth_users:\n  u: '{hash}'\n"
            )),
            "client_auth_type \"Sometimes\"",
        ),
        (
            "ciphers.yml",
            Some("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n".into()),
            "cipher_suites is not supported",
        ),
        (
            "ca.yml",
            Some("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_ca_file: garbage.key\n  client_auth_type: RequireAndVerifyClientCert\n".into()),
            "client_ca_file",
        ),
    ];
    let env = base_env(&setup.dir.path().join("home"));
    for (name, contents, mention) in cases {
        let path = setup.path(name);
        if let Some(c) = &contents {
            std::fs::write(&path, c).unwrap();
        }
        let path = path.display().to_string();
        let out = run(
            &env,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--web-config-file",
                &path,
            ],
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: one line: {err}");
        assert!(
            err.starts_with(&format!("irsa-doctor: --web-config-file {path}: "))
                && err.contains(mention),
            "{name}: {err}"
        );
        assert!(!err.contains("irsa-doctor serving"), "{name}: never serves");
    }
}

/// Publishes `files` into `dir` as the kubelet updates a Secret volume: a new
/// timestamped directory, `..data` swapped to it by one rename, stable symlinks.
fn publish_secret(dir: &Path, generation: u32, files: &[(&str, &str)]) {
    use std::os::unix::fs::symlink;
    let ts = format!("..2026_12_01_00_00_0{generation}.000000000");
    std::fs::create_dir_all(dir.join(&ts)).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(&ts).join(name), content).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    symlink(&ts, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

#[test]
fn secret_volume_symlink_swap_is_served_without_restart() {
    let setup = Setup::new();
    let secret = setup.path("secret");
    let der = |pem: &str| {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    };
    let (cert, key) = setup.ca.issue("generation-1", true);
    publish_secret(&secret, 1, &[("tls.crt", &cert), ("tls.key", &key)]);
    let config = setup.path("swap.yml");
    std::fs::write(
        &config,
        "tls_server_config:\n  cert_file: secret/tls.crt\n  key_file: secret/tls.key\n",
    )
    .unwrap();
    let server = setup.start(&config);
    let client = setup.client(None);
    let served = || {
        client
            .request(server.addr(), "GET", "/healthz", None)
            .ok()
            .map(|r| r.server_cert)
    };
    assert_eq!(served(), Some(der(&cert)));
    let (cert2, key2) = setup.ca.issue("generation-2", true);
    publish_secret(&secret, 2, &[("tls.crt", &cert2), ("tls.key", &key2)]);
    wait_for("the swapped certificate to be served", DEADLINE, || {
        (served() == Some(der(&cert2))).then_some(())
    });
}
