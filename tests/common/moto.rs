//! moto's STS and IAM server (PyPI `moto[server]`) as a peer, and the Python scripts in
//! `tests/peers/` that set it up with boto3.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use irsa_doctor_emulator::harness::{self, KillOnDrop, request, wait_for};
use serde_json::Value;

/// A running `moto_server` on loopback; killed when dropped (and when a panic aborts).
pub struct Moto {
    _child: KillOnDrop,
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_STS` / `_IAM` and the setup scripts.
    pub endpoint: String,
    /// Its socket address.
    pub addr: SocketAddr,
}

/// Whether `moto_server` (and boto3, which comes with it) is installed; a skip with a note
/// when not, outside CI.
pub fn moto_installed() -> bool {
    let found = Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if found.is_err() {
        super::peer_missing("moto_server", "pip install 'moto[server]' pyjwt");
    }
    found.is_ok()
}

/// Starts `moto_server` on a free loopback port, or `None` when it is not installed outside CI.
pub fn start_moto() -> Option<Moto> {
    if !moto_installed() {
        return None;
    }
    // moto takes a port, not a socket: borrow a free one from the OS.
    let port = harness::free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn moto_server");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let moto = Moto {
        _child: KillOnDrop::new(child),
        endpoint: format!("http://{addr}"),
        addr,
    };
    wait_for("moto_server to answer", Duration::from_secs(30), || {
        request(addr, "POST", "/moto-api/reset", &[])
            .ok()
            .filter(|r| r.status == 200)
    });
    Some(moto)
}

/// The path of `tests/peers/NAME`.
pub fn peer(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `python3 ARGS` and parses the one JSON document it prints; panics with its stderr.
pub fn python(args: &[&str]) -> Value {
    let out = Command::new("python3").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
