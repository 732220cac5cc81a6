//! The client-side monitoring (CSM) listener: the application's SDK sends one UDP
//! datagram per API call and per attempt to 127.0.0.1:31000 when its container sets
//! `AWS_CSM_ENABLED=true`; a pod's containers share that loopback.
//!
//! CSM is unauthenticated and its attempts carry session tokens, so the listener binds
//! loopback only (`--csm-listen` refuses anything else), reads at most 8 KiB + 1 per
//! datagram, and hands each to the core's total parser; the secrets die there. The
//! task keeps its own `AppSnapshot` and publishes a copy at most every
//! [`PUBLISH_EVERY`] (and at once on the first denial of an action), so a flood costs
//! a few snapshot copies a second, never an assessment per datagram.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::state::State;
use irsa_doctor_core::app::AppSnapshot;
use irsa_doctor_core::app::csm::{self, MAX_DATAGRAM};

/// How often a changed snapshot is published while datagrams arrive.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);

pub use crate::config::{Listen, parse_flag, parse_listen};

/// The kernel receive buffer asked for: a burst of thousands of datagrams queues while the
/// task parses instead of being dropped (the kernel caps it at `net.core.rmem_max`).
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
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// Runs the listener until the task is aborted. A bind failure is recorded in the report
/// (`app.listen_error`) and logged; the daemon keeps serving.
pub async fn run(state: Arc<State>, addr: SocketAddr) {
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
    publish(&state, &local);

    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut dirty = false;
    let mut next_publish = tokio::time::Instant::now() + PUBLISH_EVERY;
    loop {
        let received = if dirty {
            tokio::time::timeout_at(next_publish, socket.recv_from(&mut buf))
                .await
                .ok()
        } else {
            Some(socket.recv_from(&mut buf).await)
        };
        match received {
            None => {}
            Some(Err(e)) => {
                // ICMP-induced errors and the like: never fatal, never a spin.
                tracing::debug!(error = %e, "CSM receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Some(Ok((n, _))) => {
                let now = crate::host::now();
                // `n` is at most the buffer; a datagram longer than 8 KiB fills it and is oversized.
                let parsed = csm::parse(buf.get(..n).unwrap_or_default(), &state.key_hasher);
                let done = local.ingest(parsed, now);
                state.metrics.app_event(done.result, now);
                if let Some((service, action, outcome)) = &done.call {
                    state.metrics.app_call(service, action, outcome.as_str());
                }
                if !dirty {
                    dirty = true;
                    next_publish = tokio::time::Instant::now() + PUBLISH_EVERY;
                }
                if let Some(action) = done.new_denied_action {
                    tracing::info!(
                        action,
                        "the application's call was denied: reading the role's policies to explain it"
                    );
                    publish(&state, &local);
                    dirty = false;
                    state.app_policy_wanted.notify_one();
                }
            }
        }
        if dirty && tokio::time::Instant::now() >= next_publish {
            publish(&state, &local);
            dirty = false;
        }
    }
}

/// Copies the listener's snapshot into the shared one, keeping what the prober wrote there.
fn publish(state: &State, local: &AppSnapshot) {
    state.update(|s| {
        let node_key = s.app.as_ref().and_then(|a| a.node_key);
        let mut app = local.clone();
        app.node_key = node_key;
        s.app = Some(app);
    });
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
