//! Test-only glue over the emulator crate's harness (`irsa_doctor_emulator::harness`),
//! which owns spawning the daemon, waiting for it, HTTP and the pod's peers: this file
//! binds the harness to this package's binary and adds the integration tests' token
//! helpers and the promtool check.
#![allow(dead_code, unused_imports)] // each test binary uses a different part of the harness

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

pub mod moto;
pub mod pushgateway;

use irsa_doctor_emulator::harness::{self, Daemon};
pub use irsa_doctor_emulator::harness::{
    Peers, Pod, Response as Resp, base_env, codes, request, sample, set, set_pod_identity,
    shared_issuer as issuer, terminate, unset, wait_for,
};
use irsa_doctor_emulator::issuer::{DEFAULT_ISSUER, DEFAULT_SUBJECT, TokenSpec};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_irsa-doctor");
pub const ROLE: &str = "arn:aws:iam::111122223333:role/demo";
pub const ISSUER: &str = DEFAULT_ISSUER;
pub const SUB: &str = DEFAULT_SUBJECT;

/// A running `irsa-doctor serve` of this package's binary.
pub type Server = Daemon;

/// Starts `serve` on an OS-chosen loopback port with exactly `env`.
pub fn serve(env: &[(String, String)], args: &[&str]) -> Server {
    Daemon::spawn(Path::new(BIN), env, args)
}

/// Runs this package's binary to completion with `env` and `args`, optional stdin.
pub fn run(env: &[(String, String)], args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    harness::run(Path::new(BIN), env, args, stdin)
}

/// `check --format json` with `extra` flags: its exit code and the one JSON document it prints.
pub fn check_json(env: &[(String, String)], extra: &[&str]) -> (i32, Value) {
    harness::check_json(Path::new(BIN), env, extra)
}

/// `GET path`; panics when there is no answer.
pub fn get(addr: SocketAddr, path: &str) -> Resp {
    harness::get(addr, path)
}

/// The signature part of a compact JWT: what no output may ever contain.
pub fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or_default()
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A peer that is not installed: a skip with a note locally, a failure under `CI`, where
/// `.ci/run` installs it (`install` says how).
pub fn peer_missing(what: &str, install: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is required in CI ({install})"
    );
    eprintln!("skipping: {what} not installed ({install})");
}

/// EKS-shaped claims (the emulator's `TokenSpec`) issued `age` seconds ago with `lifetime` seconds to live.
pub fn claims(age: i64, lifetime: i64) -> Value {
    TokenSpec {
        issued_at: now() - age,
        lifetime,
        ..TokenSpec::default()
    }
    .claims()
}

/// A compact JWT really signed (RS256) by the test cluster's key, which the fake OIDC endpoint publishes.
pub fn jwt(claims: &Value) -> String {
    issuer().sign(claims).expect("sign a test token")
}

/// Pipes an exposition through Prometheus' own `promtool check metrics` (Debian `prometheus`).
/// Without promtool the check is skipped with a note, except under `CI`, where it is required.
pub fn assert_promtool_accepts(metrics: &str) {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    if Command::new(&promtool).arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required in CI (apt-get install prometheus)"
        );
        eprintln!("skipping the promtool check: promtool not installed");
        return;
    }
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "promtool: {complaints}"
    );
}
