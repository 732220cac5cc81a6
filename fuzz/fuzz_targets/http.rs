//! Raw bytes on a TCP connection → the real admin server (`irsa_doctor::http::serve`).
//!
//! `http::handle` takes a hyper `Request<Incoming>`, which only hyper can make, so
//! this target runs the whole server once, on a current-thread tokio runtime of its
//! own thread, bound to 127.0.0.1:0, exactly as `serve` wires it (state from
//! `Cli` + `Config::from_opts`, a decoded token in the snapshot, and a stand-in
//! prober that alternately runs and refuses, for `POST /debug/probe`'s 200 and 429).
//!
//! Each input is written as-is to a fresh connection (method, path, query, headers,
//! bodies, several pipelined requests, invalid bytes), the write side is shut, and
//! the answer is read until the server closes. Then, on a new connection,
//! `GET /healthz` must answer `200 ok`. Failures (panics here) are:
//! - the server does not close a connection within `CLOSE_DEADLINE` of the client's EOF;
//! - it answers something that is not an HTTP/1.x response;
//! - it stops answering `/healthz` (a panic in a connection task, a wedged accept loop).
//! A panic inside the server's tasks aborts the process (libfuzzer-sys's panic hook).
#![no_main]

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use irsa_doctor::config::Cli;
use irsa_doctor::http::{self, App, Prober};
use irsa_doctor::state::State;
use irsa_doctor_core::{fixtures, token};
use irsa_doctor_emulator::harness::{Conn, poll_until};
use libfuzzer_sys::fuzz_target;

/// How long the server may take to finish answering and close after the client's EOF.
const CLOSE_DEADLINE: Duration = Duration::from_secs(2);
/// How long the health check may take.
const HEALTH_DEADLINE: Duration = Duration::from_secs(2);
/// An EKS-shaped token (unsigned: the signature part is a placeholder).
const TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.",
    "eyJhdWQiOlsic3RzLmFtYXpvbmF3cy5jb20iXSwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3OTU0MjgwMDAsImlzcyI6Imh0dHBzOi8vb2lkYy5la3MudXMtZWFzdC0xLmFtYXpvbmF3cy5jb20vaWQvRVhBTVBMRSIsImt1YmVybmV0ZXMuaW8iOnsibmFtZXNwYWNlIjoiZGVtbyIsIm5vZGUiOnsibmFtZSI6ImlwLTEwLTAtMS0yIn0sInBvZCI6eyJuYW1lIjoid2ViLTdkOWYifSwic2VydmljZWFjY291bnQiOnsibmFtZSI6ImRlbW8tc2EifX0sIm5iZiI6MTc5NTQyODAwMCwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlbW86ZGVtby1zYSJ9.",
    "c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
);

/// Runs when the server asks, alternately: "ran" (200) and "refused" (429).
struct Alternating(AtomicBool);

impl Prober for Alternating {
    fn probe_now(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        let ran = !self.0.fetch_xor(true, Ordering::Relaxed);
        Box::pin(async move { ran })
    }
}

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let healthy = fixtures::healthy();
        let token_file = healthy.config.token_file.display().to_string();
        let cli = Cli::try_parse_from([
            "irsa-doctor",
            "--listen",
            "127.0.0.1:0",
            "--role-arn",
            fixtures::ROLE,
        ])
        .expect("fixed flags parse");
        let config = irsa_doctor::config::from_opts(&cli.opts, |k| {
            (k == "AWS_WEB_IDENTITY_TOKEN_FILE").then(|| token_file.clone())
        })
        .expect("fixed flags are valid");
        let env = healthy.env;
        let state = State::new(config, env).expect("state");
        let decoded = token::decode(TOKEN).expect("the fixed token decodes");
        state.apply_token_read(
            None,
            Ok((decoded, token::fingerprint(TOKEN))),
            SystemTime::now(),
        );
        state.update(|s| s.probe_attempted = true);
        let app = App {
            state: Arc::new(state),
            prober: Some(Arc::new(Alternating(AtomicBool::new(false)))),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("http-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind 127.0.0.1:0");
                    tx.send(listener.local_addr().expect("local addr")).unwrap();
                    http::serve(listener, app, std::future::pending()).await;
                });
                panic!("http::serve returned although shutdown never resolves");
            })
            .expect("spawn the server thread");
        rx.recv().expect("the server's address")
    })
}

/// Connects, retrying briefly: a busy fuzzing run can run out of ephemeral ports for a moment.
fn connect(addr: SocketAddr, deadline: Instant) -> TcpStream {
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                if e.kind() != ErrorKind::AddrNotAvailable && e.kind() != ErrorKind::TimedOut {
                    std::thread::sleep(Duration::from_millis(5));
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Err(e) => panic!("cannot connect to the server: {e}"),
        }
    }
}

/// Reads until the server closes (or resets) the connection; `None` past the deadline.
fn read_until_closed(stream: &mut TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut buf) {
            Ok(0) => return Some(answer),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    return None;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset after the server gave up on garbage is a close.
            Err(_) => return Some(answer),
        }
    }
}

/// `GET /healthz` through the harness's HTTP client must answer `200 ok` in time.
fn healthy(addr: SocketAddr) {
    // Only connecting is retried (ports may be short for a moment); the request is not.
    let mut conn = poll_until(
        "a connection for GET /healthz",
        HEALTH_DEADLINE,
        Duration::from_millis(5),
        || Conn::open_with_timeout(addr, HEALTH_DEADLINE).ok(),
    );
    let answer = conn
        .send("GET", "/healthz", &[], b"", true)
        .unwrap_or_else(|e| panic!("GET /healthz got no complete answer within {HEALTH_DEADLINE:?}: {e}"));
    assert!(
        answer.status == 200 && answer.body == "ok\n",
        "GET /healthz answered {answer:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let addr = server();
    let deadline = Instant::now() + CLOSE_DEADLINE;
    let mut s = connect(addr, deadline);
    let _ = s.set_nodelay(true);
    // The server may close early (a bad request line): a failed write is not a failure.
    let _ = s.write_all(data);
    let _ = s.shutdown(Shutdown::Write);
    let Some(answer) = read_until_closed(&mut s, deadline) else {
        panic!(
            "the server kept the connection open {CLOSE_DEADLINE:?} after the client's EOF ({} input bytes)",
            data.len()
        );
    };
    if !answer.is_empty() {
        assert!(
            answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "),
            "not an HTTP response: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        );
    }
    drop(s);
    healthy(addr);
});
