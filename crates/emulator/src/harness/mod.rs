//! The daemon harness: everything the integration tests, the benchmark, the
//! soak and the fuzz targets need to drive the real binary, written once.
//!
//! - `daemon`: spawn `irsa-doctor serve` with a given environment and flags, read its
//!   listen address from its logs, wait for `/readyz`, stop it with SIGTERM; run the
//!   one-shot commands (`check --format json`).
//! - `http`: a blocking HTTP/1.1 client (one-shot requests, keep-alive connections).
//! - `metrics`: samples out of a Prometheus exposition.
//! - `csm`: the daemon's client-side monitoring port, and datagrams as the SDKs send them.
//! - `kube`: the fake Kubernetes API over HTTPS with its CA, token and a generated KUBECONFIG.
//! - `pod`: a scratch pod (home, token volume) and its fake AWS peers, and the scrubbed
//!   environment that aims the daemon at them.
//! - `pod_identity`: EKS Pod Identity beside a pod (the fake agent, its token volume, the
//!   webhook's variables).
//! - `proc`: a process as `/proc` sees it (RSS, CPU ticks, fds, threads), for the bench,
//!   the soak and `Daemon::alive`.
//!
//! Waiting is always for a condition with a deadline, never a fixed sleep.

pub mod csm;
pub mod daemon;
pub mod http;
pub mod kube;
pub mod metrics;
pub mod pod;
pub mod pod_identity;
pub mod proc;

use std::time::{Duration, Instant};

pub use daemon::{Daemon, KillOnDrop, check_json, codes, kill_daemons_on_panic, run, terminate};
pub use http::{Client, Conn, Response, get, request, send};
pub use metrics::{sample, samples};
pub use pod::{NOWHERE, Peers, Pod, base_env, set, set_pod_identity, shared_issuer, unset};
pub use pod_identity::{AGENT_ACCESS_KEY, PodIdentity};
pub use proc::ProcSample;

/// The longest a harness wait takes unless told otherwise: generous for a slow, shared
/// 2-core box, but finite, so a broken daemon fails the run instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A free loopback port, for peers that take a port rather than a socket (they bind it
/// right after: a small race the OS's port allocation makes unlikely).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Polls `poll` every 10 ms until it returns `Some`; panics naming `what` after `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, poll: impl FnMut() -> Option<T>) -> T {
    poll_until(what, deadline, Duration::from_millis(10), poll)
}

/// Polls `poll` every `interval` until it returns `Some`; panics naming `what` after `deadline`.
pub fn poll_until<T>(
    what: &str,
    deadline: Duration,
    interval: Duration,
    mut poll: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = poll() {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(interval);
    }
}
