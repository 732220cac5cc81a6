//! The pod and the daemon under measure (the emulator's harness): a pod with its
//! fake STS and OIDC issuer and a first token, `irsa-doctor serve` in it, and the
//! two figures of the binary itself — its size and its start-up to ready.

use std::path::Path;
use std::process::{Command, Stdio};

use irsa_doctor_emulator::harness::{Daemon, PATIENCE, Pod, shared_issuer};
use irsa_doctor_emulator::issuer::TokenSpec;

use crate::report::{MIB, Row, format_ms};

/// The webhook's default token lifetime; rotations add a second per rotation to it.
pub const LIFETIME: i64 = 86_400;

/// A pod (fake STS and OIDC issuer, home, token volume) with its first token written.
pub fn pod() -> Pod {
    let pod = Pod::new();
    let (token, _) = mint(LIFETIME);
    pod.writer
        .write_token(token.as_bytes())
        .expect("write the first token");
    pod
}

/// A signed token issued now that lives `lifetime` seconds, and its `exp`.
pub fn mint(lifetime: i64) -> (String, i64) {
    let issuer = shared_issuer();
    let spec = TokenSpec {
        lifetime,
        ..issuer.token_spec()
    };
    let token = issuer.issue(&spec).expect("sign a token");
    (token, spec.expires_at())
}

/// `irsa-doctor serve` in `pod`, its IMDS check off (IMDS is at the discard port anyway).
pub fn spawn(binary: &Path, pod: &Pod, extra_args: &[&str]) -> Daemon {
    let mut args = vec!["--no-imds-check"];
    args.extend_from_slice(extra_args);
    Daemon::spawn(binary, &pod.env(), &args)
}

/// The release profile already strips; stripping a copy makes the row true whatever the profile says.
pub fn binary_size(binary: &Path) -> Row {
    let scratch = tempfile::tempdir().expect("create a scratch dir for the stripped copy");
    let copy = scratch.path().join("irsa-doctor");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(binary)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (measured, caveat) = if stripped {
        (copy.as_path(), "")
    } else {
        (binary, " (as built: `strip` unavailable)")
    };
    let bytes = std::fs::metadata(measured).expect("stat the binary").len();
    Row::info(
        "stripped binary size".into(),
        format!("{:.2} MiB{caveat}", bytes as f64 / MIB),
    )
}

/// From `spawn` to the first `200` from `/readyz`: process start, config, the first token
/// read and the first STS test-assume (readiness waits for it).
pub fn startup_to_ready(daemon: &Daemon) -> Row {
    let ready_at = daemon.wait_ready(PATIENCE);
    Row::info(
        "startup to ready (spawn → first 200 from /readyz)".into(),
        format_ms(ready_at - daemon.spawned()),
    )
}
