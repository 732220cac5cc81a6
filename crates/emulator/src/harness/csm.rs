//! Client-side monitoring (CSM) for tests and benchmarks: the daemon's bound UDP port
//! (read from its logs, so `--csm-listen 127.0.0.1:0` works), and datagrams shaped as
//! botocore's `CSMSerializer` writes them, for where no real SDK can send them.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Daemon, PATIENCE, wait_for};

/// Where the daemon receives CSM datagrams: the `csm_listen` field of its
/// "listening for client-side monitoring" log line.
pub fn csm_addr(daemon: &Daemon) -> SocketAddr {
    wait_for(
        "the CSM listen address in the daemon's logs",
        PATIENCE,
        || {
            daemon.log_lines().iter().find_map(|l| {
                let event: Value = serde_json::from_str(l).ok()?;
                (event["message"] == "listening for client-side monitoring")
                    .then(|| event["csm_listen"].as_str()?.parse().ok())?
            })
        },
    )
}

/// A `User-Agent` as boto3 sends it, with the `m/` business metrics given.
pub fn boto3_user_agent(version: &str, metrics: &str) -> String {
    format!(
        "Boto3/{version} md/Botocore#{version} ua/2.1 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/{metrics} cfg/retry-mode#legacy Botocore/{version}"
    )
}

/// An `ApiCall` datagram: the call's final outcome (`status`, and the AWS error when given).
pub fn api_call(
    service: &str,
    api: &str,
    user_agent: &str,
    status: u16,
    error: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut event = json!({
        "Version": 1, "ClientId": "", "Type": "ApiCall", "Service": service, "Api": api,
        "Timestamp": 1_796_000_000_000u64, "AttemptCount": 1, "Region": "us-east-1",
        "UserAgent": user_agent, "FinalHttpStatusCode": status, "Latency": 12,
        "MaxRetriesExceeded": 0,
    });
    if let Some((code, message)) = error {
        event["FinalAwsException"] = code.into();
        event["FinalAwsExceptionMessage"] = message.into();
    }
    event.to_string().into_bytes()
}

/// An `ApiCallAttempt` datagram signed with `access_key` and carrying `session_token`,
/// as botocore sends them (the daemon must drop both).
pub fn api_call_attempt(
    service: &str,
    api: &str,
    user_agent: &str,
    access_key: &str,
    session_token: &str,
) -> Vec<u8> {
    json!({
        "Version": 1, "ClientId": "", "Type": "ApiCallAttempt", "Service": service, "Api": api,
        "Timestamp": 1_796_000_000_000u64, "AttemptLatency": 10, "Fqdn": "s3.amazonaws.com",
        "UserAgent": user_agent, "AccessKey": access_key, "Region": "us-east-1",
        "SessionToken": session_token, "HttpStatusCode": 200,
    })
    .to_string()
    .into_bytes()
}

/// Sends each datagram to `to` from one ephemeral loopback socket.
pub fn send(to: SocketAddr, datagrams: &[Vec<u8>]) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
    for d in datagrams {
        // A refused or full destination is what a flood test measures, not a test failure.
        let _ = socket.send_to(d, to);
    }
}

/// Polls the daemon's JSON report until `app.events_received` reaches `n`.
pub fn wait_for_events(daemon: &Daemon, n: u64) -> Value {
    wait_for(
        &format!("{n} CSM events in the report"),
        Duration::from_secs(30),
        || {
            let r = daemon.report();
            (r["app"]["events_received"].as_u64()? >= n).then_some(r)
        },
    )
}
