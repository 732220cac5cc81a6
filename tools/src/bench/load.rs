//! The load generator and the scrape-storm figures: `/metrics` under 1, 50 and
//! 500 concurrent clients (for irsa-doctor and the exporters alike), and
//! `/debug?format=json` under 50.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use irsa_doctor_emulator::harness::{Client, Conn};

use crate::report::{Row, format_ms, percentile, plural, progress};

/// The concurrency levels of the `/metrics` load.
pub const CLIENTS: [usize; 3] = [1, 50, 500];

/// The outcome of one load run against one target.
pub struct Load {
    pub clients: usize,
    /// Latencies of the requests answered 200, sorted.
    pub latencies: Vec<Duration>,
    /// Requests not answered 200 (other status, or a broken connection).
    pub errors: usize,
    pub elapsed: Duration,
    pub body_bytes: usize,
}

impl Load {
    /// The `p` percentile latency; `None` when nothing was answered.
    pub fn p(&self, p: f64) -> Option<Duration> {
        (!self.latencies.is_empty()).then(|| percentile(&self.latencies, p))
    }

    /// Answered requests per second.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn describe(&self) -> String {
        let ms = |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), format_ms);
        let errors = if self.errors > 0 {
            format!(", {} failed", self.errors)
        } else {
            String::new()
        };
        format!(
            "p50 {}, p99 {}, {:.0} req/s ({} requests{errors}; {:.1} KiB body)",
            ms(self.p(0.5)),
            ms(self.p(0.99)),
            self.throughput(),
            self.latencies.len(),
            self.body_bytes as f64 / 1024.0
        )
    }

    /// irsa-doctor's row; the 50-client `/metrics` figure has the README's target.
    pub fn row(&self, path: &str, clients: usize) -> Row {
        let figure = format!(
            "{path} latency, {clients} concurrent client{}",
            plural(clients)
        );
        match (path, clients) {
            ("/metrics", 50) => Row::judged(
                figure,
                self.describe(),
                "p99 < 2 ms",
                self.errors == 0 && self.p(0.99).is_some_and(|p| p < Duration::from_millis(2)),
            ),
            _ => Row::info(figure, self.describe()),
        }
    }
}

/// `clients` × `window` of `GET /metrics` on `target` (named in the progress line).
pub fn metrics(target: &str, addr: SocketAddr, clients: usize, window: Duration) -> Load {
    progress(&format!(
        "{target}: {clients} client(s) × {} s of GET /metrics",
        window.as_secs_f64()
    ));
    load(addr, "/metrics", clients, window)
}

/// 50 clients × `window` of `GET /debug?format=json` on irsa-doctor: its row.
pub fn debug_row(addr: SocketAddr, window: Duration) -> Row {
    progress(&format!(
        "irsa-doctor: 50 clients × {} s of GET /debug?format=json",
        window.as_secs_f64()
    ));
    load(addr, "/debug?format=json", 50, window).row("/debug?format=json", 50)
}

/// A scrape storm over plain HTTP: `load_over` on TCP connections to `addr`.
pub fn load(addr: SocketAddr, path: &str, clients: usize, window: Duration) -> Load {
    load_over(move || Conn::open(addr), path, &[], clients, window)
}

/// A scrape storm: `clients` threads, each on its own keep-alive connection (whatever
/// stream `connect` opens: TCP, or TLS in `tls`), released together, sending
/// `GET path` with `headers` back to back for `window`; every answered request's latency
/// counts. A connection the server closes is reopened and the request sent again (the
/// harness `Client`); one that still fails counts as an error, so a server that sheds load
/// shows errors, not a hung bench.
pub fn load_over<S: Read + Write + 'static>(
    connect: impl Fn() -> io::Result<Conn<S>> + Clone + Send + 'static,
    path: &str,
    headers: &[String],
    clients: usize,
    window: Duration,
) -> Load {
    let start_line = Arc::new(Barrier::new(clients + 1));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let start_line = Arc::clone(&start_line);
            let path = path.to_owned();
            let headers = headers.to_vec();
            let connect = connect.clone();
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
                    // One untimed request first, so connection setup (a TLS handshake, the
                    // one bcrypt of a basic-auth password) stays out of the figures.
                    let mut client = Client::with_connect(connect);
                    let body_bytes = client.get_with(&path, &headers).map_or(0, |r| r.body.len());
                    start_line.wait();
                    let until = Instant::now() + window;
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    while Instant::now() < until {
                        let sent = Instant::now();
                        match client.get_with(&path, &headers) {
                            Ok(r) if r.status == 200 => latencies.push(sent.elapsed()),
                            _ => errors += 1,
                        }
                    }
                    (latencies, errors, body_bytes)
                })
                .expect("spawn a client thread")
        })
        .collect();
    start_line.wait();
    let released = Instant::now();
    let mut out = Load {
        clients,
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
        body_bytes: 0,
    };
    for worker in workers {
        let (latencies, errors, body_bytes) = worker.join().expect("a client thread panicked");
        out.latencies.extend(latencies);
        out.errors += errors;
        out.body_bytes = out.body_bytes.max(body_bytes);
    }
    out.elapsed = released.elapsed();
    out.latencies.sort();
    out
}
