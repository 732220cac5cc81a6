use super::*;
use std::path::PathBuf;

/// `htpasswd -nbBC 4 prometheus secret` (cost 4: fast tests); `auth/tests.rs` uses it too.
pub(super) const HASH: &str = "$2y$04$YvA2UPEQagimWZ8w7r8iDuDsQGj5mb/WJXK01uIiPso/U96PSJ/ZW";

fn parse_ok(yaml: &str) -> WebConfig {
    parse(yaml, Path::new("/etc/web")).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

fn tls_yaml(extra: &str) -> String {
    format!("tls_server_config:\n  cert_file: tls.crt\n  key_file: /abs/tls.key\n{extra}")
}

#[test]
fn valid_configurations() {
    assert_eq!(parse_ok(""), WebConfig::default());
    assert_eq!(parse_ok("# only a comment\n"), WebConfig::default());
    let c = parse_ok(&tls_yaml(""));
    let t = c.tls.unwrap();
    assert_eq!(
        t.cert_file,
        PathBuf::from("/etc/web/tls.crt"),
        "relative to the file"
    );
    assert_eq!(t.key_file, PathBuf::from("/abs/tls.key"));
    assert_eq!(t.client_auth, ClientAuth::NoClientCert);
    assert_eq!(
        (t.min_version, t.max_version),
        (TlsVersion::Tls12, TlsVersion::Tls13)
    );
    let c = parse_ok(&format!("basic_auth_users:\n  prometheus: {HASH}\n"));
    assert!(c.tls.is_none());
    assert_eq!(c.users.get("prometheus").map(String::as_str), Some(HASH));
    let c = parse_ok(&tls_yaml(
        "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS13\n  prefer_server_cipher_suites: true\nhttp_server_config:\n  http2: false\n",
    ));
    let t = c.tls.unwrap();
    assert_eq!(t.client_ca_file, Some(PathBuf::from("/etc/web/ca.crt")));
    assert_eq!(t.client_auth, ClientAuth::RequireAndVerifyClientCert);
    assert_eq!(t.min_version, TlsVersion::Tls13);
    assert!(t.prefer_server_cipher_suites);
}

#[test]
fn client_auth_types() {
    // (client_auth_type, with a CA, result)
    let cases: [(&str, bool, Result<ClientAuth, &str>); 9] = [
        ("NoClientCert", false, Ok(ClientAuth::NoClientCert)),
        ("NoClientCert", true, Err("client_ca_file is set but")),
        (
            "RequestClientCert",
            false,
            Ok(ClientAuth::RequestClientCert),
        ),
        (
            "RequireAnyClientCert",
            false,
            Ok(ClientAuth::RequireAnyClientCert),
        ),
        (
            "RequireClientCert",
            true,
            Ok(ClientAuth::RequireAnyClientCert),
        ),
        (
            "VerifyClientCertIfGiven",
            true,
            Ok(ClientAuth::VerifyClientCertIfGiven),
        ),
        (
            "VerifyClientCertIfGiven",
            false,
            Err("needs client_ca_file"),
        ),
        (
            "RequireAndVerifyClientCert",
            false,
            Err("needs client_ca_file"),
        ),
        ("RequireAndVerify", true, Err("is not one of NoClientCert")),
    ];
    for (name, ca, want) in cases {
        let ca = if ca { "  client_ca_file: ca.pem\n" } else { "" };
        let yaml = tls_yaml(&format!("{ca}  client_auth_type: {name}\n"));
        let got = parse(&yaml, Path::new("/d"));
        match want {
            Ok(auth) => assert_eq!(got.map(|c| c.tls.unwrap().client_auth), Ok(auth), "{name}"),
            Err(text) => {
                let e = got.expect_err(name).to_string();
                assert!(e.contains(text), "{name}: {e}");
            }
        }
    }
}

#[test]
fn refusals_name_the_key() {
    // (yaml, text the one-line error must contain)
    let cases: Vec<(String, &str)> = vec![
        ("tls_server_config: [1, 2\n".into(), "not a valid web configuration"),
        ("tls_server_config: 5\n".into(), "not a valid web configuration"),
        ("tls_sever_config: {}\n".into(), "tls_sever_config"),
        (tls_yaml("  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"), "tls_server_config.cipher_suites is not supported"),
        (tls_yaml("  curve_preferences: [X25519]\n"), "curve_preferences is not supported"),
        (tls_yaml("  client_allowed_sans: [a]\n"), "client_allowed_sans is not supported"),
        (tls_yaml("  cert: inline\n"), "tls_server_config.cert is not supported"),
        (tls_yaml("  bogus: 1\n"), "bogus"),
        ("http_server_config:\n  headers:\n    X-Frame-Options: deny\n".into(), "http_server_config.headers is not supported"),
        ("rate_limit:\n  interval: 1s\n".into(), "rate_limit is not supported"),
        ("tls_server_config:\n  key_file: k\n".into(), "tls_server_config.cert_file is required"),
        ("tls_server_config:\n  cert_file: c\n".into(), "tls_server_config.key_file is required"),
        (tls_yaml("  min_version: TLS11\n"), "min_version \"TLS11\" is not supported"),
        (tls_yaml("  max_version: TLS10\n"), "max_version \"TLS10\" is not supported"),
        (tls_yaml("  min_version: TLS13\n  max_version: TLS12\n"), "min_version is above max_version"),
        ("basic_auth_users:\n  prometheus: secret\n".into(), "basic_auth_users.prometheus: not a bcrypt hash"),
        ("basic_auth_users:\n  p: $2y$99$YvA2UPEQagimWZ8w7r8iDuDsQGj5mb/WJXK01uIiPso/U96PSJ/ZW\n".into(), "cost 99"),
        (format!("basic_auth_users:\n  'a:b': {HASH}\n"), "must be non-empty and contain no ':'"),
    ];
    for (yaml, text) in cases {
        let e = parse(&yaml, Path::new("/d")).expect_err(&yaml).to_string();
        assert!(e.contains(text), "{yaml:?}: {e}");
        assert_eq!(e.lines().count(), 1, "one line: {e}");
    }
}

#[test]
fn errors_name_the_file() {
    let e = load(Path::new("/nonexistent/web.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--web-config-file /nonexistent/web.yml: cannot read it"),
        "{e}"
    );
}
