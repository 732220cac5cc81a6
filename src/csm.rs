//! The client-side monitoring (CSM) listener: the application's SDK sends one UDP
//! datagram per API call and per attempt to 127.0.0.1:31000 when its container sets
//! `AWS_CSM_ENABLED=true`; a pod's containers share that loopback.
//!
//! CSM is unauthenticated and its attempts carry session tokens, so the listener binds
//! loopback only (`--csm-listen` refuses anything else), reads at most 8 KiB + 1 per
//! datagram, and hands each to the core's total parser; the secrets die there. It keeps
//! its own `AppSnapshot` and publishes a copy at most every [`PUBLISH_EVERY`] (and at
//! once on the first denial of an action), so a flood costs a few snapshot copies a
//! second, never an assessment per datagram.
//!
//! It runs on a thread of its own, not on the runtime: a datagram registered with the
//! runtime's reactor wakes it, one wake-up per datagram, and that wake-up cost several
//! times the parse (a busy application's 2,000 datagrams a second took 2.5% of a core).
//! Here a trickle is left to queue in the kernel for [`BATCH_PAUSE`] and read in one
//! go, and a flood can never delay `/metrics`, `/debug` or the probes on the runtime.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::state::State;
use irsa_doctor_core::app::AppSnapshot;
use irsa_doctor_core::app::csm::{self, MAX_DATAGRAM};

/// How often a changed snapshot is published while datagrams arrive.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// How many datagrams a pause lets queue at most, at the rate they arrive: far inside the
/// receive buffer (the kernel's default holds about 180 of botocore's size).
const BATCH: u32 = 64;
/// The longest pause: what a trickle waits before it is read.
const BATCH_PAUSE: Duration = Duration::from_millis(5);
/// How long a blocking read waits before it looks at the stop flag again.
const STOP_CHECK: Duration = Duration::from_millis(250);

pub use crate::config::{Listen, parse_flag, parse_listen};

/// The kernel receive buffer asked for: a burst of thousands of datagrams queues while the
/// listener parses instead of being dropped (the kernel caps it at `net.core.rmem_max`).
const RECV_BUFFER: usize = 4 * 1024 * 1024;

/// Binds `addr` with a large receive buffer.
fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if let Err(e) = socket.set_recv_buffer_size(RECV_BUFFER) {
        tracing::debug!(error = %e, "could not enlarge the CSM receive buffer");
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The running listener; [`Listener::stop`] ends its thread within [`STOP_CHECK`].
pub struct Listener {
    stop: Arc<AtomicBool>,
}

impl Listener {
    /// Asks the thread to end (it does not wait: shutdown must stay within its second).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts the listener on a thread of its own. A bind failure is recorded in the report
/// (`app.listen_error`) and logged; the daemon keeps serving.
pub fn spawn(state: Arc<State>, addr: SocketAddr) -> Listener {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let started = std::thread::Builder::new()
        .name("csm".into())
        .spawn(move || run(&state, addr, &flag));
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the client-side monitoring listener");
    }
    Listener { stop }
}

fn run(state: &State, addr: SocketAddr, stop: &AtomicBool) {
    let socket = match bind(addr) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(csm_listen = %addr, error = %e, "cannot listen for client-side monitoring");
            state.update(|s| {
                if let Some(app) = s.app.as_mut() {
                    app.listen_error = Some(format!("cannot bind {addr}: {e}"));
                }
            });
            return;
        }
    };
    let bound = socket.local_addr().unwrap_or(addr);
    tracing::info!(csm_listen = %bound, "listening for client-side monitoring");
    let mut local = AppSnapshot::new();
    local.listen = Some(bound.to_string());
    publish(state, &local);

    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    // When the changes not yet published are due to be.
    let mut due: Option<Instant> = None;
    let mut last_read = crate::host::instant();
    while !stop.load(Ordering::Relaxed) {
        // Wait for the first datagram, or until a publish is due, or to look at `stop`.
        let wait = due.map_or(STOP_CHECK, |d| {
            d.saturating_duration_since(crate::host::instant())
                .clamp(Duration::from_millis(1), STOP_CHECK)
        });
        let mut batch: u32 = 0;
        let first = socket
            .set_read_timeout(Some(wait))
            .and_then(|()| socket.recv_from(&mut buf));
        match first {
            Ok((n, _)) => {
                batch = 1;
                let mut changed = ingest(state, &mut local, buf.get(..n).unwrap_or_default());
                // Then whatever else is queued, without blocking.
                let _ = socket.set_nonblocking(true);
                loop {
                    match socket.recv_from(&mut buf) {
                        Ok((n, _)) => {
                            batch += 1;
                            changed |= ingest(state, &mut local, buf.get(..n).unwrap_or_default());
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "CSM receive failed");
                            break;
                        }
                    }
                }
                let _ = socket.set_nonblocking(false);
                if changed && due.is_none() {
                    due = Some(crate::host::instant() + PUBLISH_EVERY);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                // ICMP-induced errors and the like: never fatal, never a spin.
                tracing::debug!(error = %e, "CSM receive failed");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if due.is_some_and(|d| crate::host::instant() >= d) {
            publish(state, &local);
            due = None;
        }
        // A trickle costs a wake-up per datagram, more than parsing it: while calls keep
        // coming, let them queue a moment and take them together — for as long as lets
        // about `BATCH` of them queue at the rate the last read saw, at most `BATCH_PAUSE`.
        let now = crate::host::instant();
        if batch > 0 && batch < BATCH {
            let pause = now.saturating_duration_since(last_read) * BATCH / batch;
            std::thread::sleep(pause.min(BATCH_PAUSE));
        }
        last_read = now;
    }
}

/// Parses and counts one datagram; true when the local snapshot changed and waits to be
/// published. The first denial of an action is published at once and wakes the prober to
/// read the role's policies.
fn ingest(state: &State, local: &mut AppSnapshot, datagram: &[u8]) -> bool {
    let now = crate::host::now();
    // A datagram longer than 8 KiB fills the buffer and is oversized.
    let parsed = csm::parse(datagram, &state.key_hasher);
    let done = local.ingest(parsed, now);
    state.metrics.app_event(done.result, now);
    if let Some((service, action, outcome)) = &done.call {
        state.metrics.app_call(service, action, outcome.as_str());
    }
    if let Some(action) = done.new_denied_action {
        tracing::info!(
            action,
            "the application's call was denied: reading the role's policies to explain it"
        );
        publish(state, local);
        state.app_policy_wanted.notify_one();
        return false;
    }
    true
}

/// Copies the listener's snapshot into the shared one.
fn publish(state: &State, local: &AppSnapshot) {
    state.update(|s| s.app = Some(local.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_is_loopback_or_off() {
        assert_eq!(parse_listen("off"), Ok(None));
        assert_eq!(parse_listen("OFF"), Ok(None));
        assert_eq!(
            parse_listen("127.0.0.1:31000"),
            Ok(Some("127.0.0.1:31000".parse().unwrap()))
        );
        assert_eq!(
            parse_listen("[::1]:0"),
            Ok(Some("[::1]:0".parse().unwrap()))
        );
        for bad in ["0.0.0.0:31000", "10.0.0.5:31000", "[::]:31000"] {
            let e = parse_listen(bad).unwrap_err();
            assert!(e.contains("not a loopback address"), "{bad}: {e}");
        }
        assert!(parse_listen("localhost").is_err());
    }
}
