//! Our NO_PROXY matcher next to two real ones: hyper-util's
//! `Matcher` (the Rust stacks) and CPython's `urllib.request.proxy_bypass_environment`
//! (what botocore's `utils.should_bypass_proxies` calls with the URL's netloc).
//! Each row pins all three answers, so the module documentation's claims about
//! where the stacks differ are checked, not remembered. Ours is their union:
//! a configuration any of them honours raises nothing.
//!
//! Needs python3 (stdlib only); without it the Python column fails under `CI`
//! and is skipped locally with the reason.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

use std::io::Write;
use std::process::{Command, Stdio};

use hyper_util::client::proxy::matcher::Matcher;
use irsa_doctor_core::no_proxy::{bypasses, parse_endpoint};

/// (NO_PROXY, URL, ours, hyper-util, botocore/urllib). One line per row.
#[rustfmt::skip]
const ROWS: &[(&str, &str, bool, bool, bool)] = &[
    ("169.254.169.254", "http://169.254.169.254/latest/api/token", true, true, true),
    ("169.254.0.0/16", "http://169.254.170.23/v1/credentials", true, true, false),
    ("fd00:ec2::/64", "http://[fd00:ec2::23]/v1/credentials", true, true, false),
    ("fd00:ec2::23", "http://[fd00:ec2::23]/v1/credentials", true, true, false),
    ("[fd00:ec2::23]", "http://[fd00:ec2::23]/v1/credentials", true, false, true),
    ("169.254.170.23:80", "http://169.254.170.23/v1/credentials", true, false, false),
    ("169.254.170.23:80", "http://169.254.170.23:80/v1/credentials", true, false, true),
    (".amazonaws.com", "https://sts.us-east-1.amazonaws.com/", true, true, true),
    ("amazonaws.com", "https://sts.us-east-1.amazonaws.com/", true, true, true),
    ("amazonaws.com", "https://notamazonaws.com/", false, false, false),
    ("EXAMPLE.com", "https://api.example.com/", true, true, true),
    // hyper-util keeps `*` among the domain entries and never matches an IP literal against those.
    ("*", "http://169.254.169.254/", true, false, true),
    ("*", "https://sts.us-east-1.amazonaws.com/", true, true, true),
    ("localhost, *", "http://169.254.169.254/", true, false, false),
    ("localhost, *", "https://sts.us-east-1.amazonaws.com/", true, true, false),
    (" 169.254.169.254 , ,localhost", "http://169.254.169.254/", true, true, true),
    ("", "http://169.254.169.254/", false, false, false),
    ("localhost", "http://169.254.169.254/", false, false, false),
];

fn hyper_util_bypasses(no_proxy: &str, url: &str) -> bool {
    let m = Matcher::builder()
        .http("http://proxy.invalid:3128")
        .https("http://proxy.invalid:3128")
        .no(no_proxy)
        .build();
    m.intercept(&url.parse().expect("a valid URL")).is_none()
}

/// All rows through urllib at once: `proxy_bypass_environment(netloc, {"no": NO_PROXY})`.
fn urllib_bypasses() -> Result<Vec<bool>, String> {
    let script = r#"
import json, sys, urllib.parse, urllib.request
rows = json.load(sys.stdin)
print(json.dumps([bool(urllib.request.proxy_bypass_environment(urllib.parse.urlparse(u).netloc, {"no": n})) for n, u in rows]))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    let rows: Vec<(&str, &str)> = ROWS.iter().map(|r| (r.0, r.1)).collect();
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(
            serde_json::to_string(&rows)
                .map_err(|e| e.to_string())?
                .as_bytes(),
        )
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

#[test]
fn no_proxy_matches_the_union_of_the_stacks() {
    let python = match urllib_bypasses() {
        Ok(v) => Some(v),
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 is required in CI: {why}"
            );
            eprintln!("skipping the urllib column: {why}");
            None
        }
    };
    let mut wrong = Vec::new();
    for (i, (no_proxy, url, want_ours, want_hyper, want_py)) in ROWS.iter().enumerate() {
        let e = parse_endpoint("x", url).expect("row URL parses");
        let ours = bypasses(no_proxy, &e.host, e.port);
        let hyper = hyper_util_bypasses(no_proxy, url);
        let py = python.as_ref().map(|p| p[i]);
        if ours != *want_ours || hyper != *want_hyper || py.is_some_and(|p| p != *want_py) {
            wrong.push(format!(
                "NO_PROXY={no_proxy:?} {url}: ours {ours} (want {want_ours}), hyper-util {hyper} (want {want_hyper}), urllib {py:?} (want {want_py})"
            ));
        }
        // Ours is the union: whatever a real stack bypasses, we treat as covered.
        assert!(
            ours || !(hyper || py == Some(true)),
            "NO_PROXY={no_proxy:?} {url}: a real stack bypasses, ours does not"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
