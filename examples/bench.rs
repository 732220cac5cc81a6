//! Performance figures for the README, measured on the release binary: idle
//! memory and CPU, how fast a kubelet token rotation reaches `/metrics`,
//! `/metrics` latency under 1, 50 and 500 concurrent clients, STS calls per hour and
//! memory after many probes; and the same idle and `/metrics` load figures for
//! Debian's `prometheus-node-exporter` and `prometheus-blackbox-exporter`, run in the
//! same bench on 127.0.0.1, with our figures as ratios to theirs. It is not a test: a
//! missed target is a row marked `fail`, not a failing exit code. Run it through
//! `scripts/bench`, which builds the release binary and this example first (and
//! installs the exporters with apt when they are missing):
//!
//! ```text
//! scripts/bench           # the full run, about five minutes
//! scripts/bench --long    # the full run with 1,000 probes instead of 100 (~20 minutes)
//! scripts/bench --quick   # short windows: a smoke test of the bench itself
//! ```
//!
//! One load generator serves all three targets: `clients` threads, each on its own
//! keep-alive connection, send `GET /metrics` back to back for a fixed window, and
//! every answered request's latency counts. The clients share the machine with the
//! server they measure, as a node's Prometheus would not; the ratios are fairer than
//! the absolute figures.
//!
//! Machine facts and the Markdown table go to stdout, progress to stderr. The
//! daemon runs with a scrubbed environment aimed at in-process fakes (STS, the
//! OIDC issuer), IMDS at the loopback discard port and its IMDS check off, so
//! nothing it does leaves 127.0.0.1.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use irsa_doctor_emulator::harness::{
    Client, Conn, Daemon, KillOnDrop, Pod, kill_daemons_on_panic, poll_until, sample, shared_issuer,
};
use irsa_doctor_emulator::issuer::TokenSpec;
use serde_json::Value;

#[path = "bench_tls/mod.rs"]
mod bench_tls;
use bench_tls::{tls_only, tls_rows};

const USAGE: &str = "usage: bench [--quick | --long | --tls] [--binary PATH] [--node-exporter PATH] [--blackbox-exporter PATH]
  --quick                   short windows, few probes (smoke-tests the bench; not for the README)
  --tls                     only /metrics plain beside TLS + basic auth (--web-config-file)
  --long                    measure RSS after 1,000 probes instead of 100 (adds ~15 minutes)
  --binary PATH             the irsa-doctor to measure [default: target/release/irsa-doctor]
  --node-exporter PATH      prometheus-node-exporter to compare with [default: /usr/bin/prometheus-node-exporter if present]
  --blackbox-exporter PATH  prometheus-blackbox-exporter to compare with [default: /usr/bin/prometheus-blackbox-exporter if present]";

/// The series a rotation must change.
const EXPIRY_SERIES: &str = "irsa_token_expiry_timestamp_seconds{token=\"irsa\"}";
/// The webhook's default token lifetime; rotations add a second per rotation to it.
const LIFETIME: i64 = 86_400;
/// Pause between rotations, so the trailing events of one swap (removal of the old
/// directory) and the daemon's re-read settle before the next rotation is timed.
const ROTATION_GAP: Duration = Duration::from_millis(200);
/// The longest any single wait may take: generous for a slow 2-core box, but finite,
/// so a broken daemon fails the run instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);
const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let options = Options::from_args();
    kill_daemons_on_panic();
    let plan = Plan::new(&options);
    let facts = machine_facts(&options.binary);

    progress("starting the fake STS and OIDC issuer; writing the first token");
    let pod = pod();
    if options.tls {
        tls_only(&options.binary, &pod, &plan, &facts);
        return;
    }
    let mut rows = vec![binary_size(&options.binary)];

    progress("starting irsa-doctor serve");
    let daemon = spawn(&options.binary, &pod, &[]);
    rows.push(startup_to_ready(&daemon));
    let peers = Peer::start_all(&options);

    // One idle window for everyone: they are idle side by side.
    let (ours_idle, peers_idle) = idle(&daemon, &peers, plan.idle);
    rows.extend(ours_idle.rows(plan.idle));
    if let Some(node) = peers.iter().position(|p| p.name == NODE_EXPORTER) {
        let theirs = &peers_idle[node];
        let ratio = ours_idle.rss.total as f64 / theirs.rss.total as f64;
        rows.push(Row::judged(
            "idle RSS vs node_exporter's".into(),
            format!(
                "{ratio:.2}× ({} vs {})",
                format_mib(ours_idle.rss.total),
                format_mib(theirs.rss.total)
            ),
            "< 0.5×",
            ratio < 0.5,
        ));
    }
    rows.push(rotation_latency(&daemon, &pod, plan.rotations));

    let mut ours_load = Vec::new();
    for clients in CLIENTS {
        progress(&format!(
            "irsa-doctor: {clients} client(s) × {} s of GET /metrics",
            plan.window.as_secs_f64()
        ));
        let load = load(daemon.addr(), "/metrics", clients, plan.window);
        rows.push(load.row("/metrics", clients));
        ours_load.push(load);
    }
    progress(&format!(
        "irsa-doctor: 50 clients × {} s of GET /debug?format=json",
        plan.window.as_secs_f64()
    ));
    rows.push(
        load(daemon.addr(), "/debug?format=json", 50, plan.window).row("/debug?format=json", 50),
    );
    rows.push(Row::info(
        "RSS after the load above".into(),
        Rss::of(daemon.pid()).describe(),
    ));
    let mut notes = run_notes(&daemon, &pod, &plan);
    drop(daemon);
    rows.extend(tls_rows(
        &options.binary,
        &pod,
        &ours_load[..2],
        plan.window,
    ));

    let mut peers_load = Vec::new();
    for peer in &peers {
        let mut loads = Vec::new();
        for clients in CLIENTS {
            progress(&format!(
                "{}: {clients} client(s) × {} s of GET /metrics",
                peer.name,
                plan.window.as_secs_f64()
            ));
            loads.push(load(peer.addr, "/metrics", clients, plan.window));
        }
        peers_load.push(loads);
    }
    for peer in &peers {
        notes.push(format!("{}: {} ({})", peer.name, peer.version, peer.flags));
    }
    notes.extend(Peer::missing(&options));
    drop(peers);

    rows.extend(probe_figures(&options.binary, &plan));

    print_report(&facts, &rows, &notes);
    print_comparison(
        &ours_idle,
        &ours_load,
        &plan,
        &PEER_NAMES,
        &peers_idle,
        &peers_load,
    );
}

/// The concurrency levels of the `/metrics` load.
const CLIENTS: [usize; 3] = [1, 50, 500];

/// Command-line options.
struct Options {
    binary: PathBuf,
    quick: bool,
    long: bool,
    tls: bool,
    node_exporter: Option<PathBuf>,
    blackbox_exporter: Option<PathBuf>,
}

impl Options {
    fn from_args() -> Options {
        let installed = |path: &str| Some(PathBuf::from(path)).filter(|p| p.is_file());
        let mut options = Options {
            binary: PathBuf::from("target/release/irsa-doctor"),
            quick: false,
            long: false,
            tls: false,
            node_exporter: installed("/usr/bin/prometheus-node-exporter"),
            blackbox_exporter: installed("/usr/bin/prometheus-blackbox-exporter"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--long" => options.long = true,
                "--tls" => options.tls = true,
                "--node-exporter" => match args.next() {
                    Some(path) => options.node_exporter = Some(PathBuf::from(path)),
                    None => usage_error("--node-exporter needs a path"),
                },
                "--blackbox-exporter" => match args.next() {
                    Some(path) => options.blackbox_exporter = Some(PathBuf::from(path)),
                    None => usage_error("--blackbox-exporter needs a path"),
                },
                "--binary" => match args.next() {
                    Some(path) => options.binary = PathBuf::from(path),
                    None => usage_error("--binary needs a path"),
                },
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => usage_error(&format!("unknown argument {other:?}")),
            }
        }
        if options.quick && options.long {
            usage_error("--quick and --long do not mix");
        }
        if !options.binary.is_file() {
            usage_error(&format!(
                "no binary at {} (scripts/bench builds it)",
                options.binary.display()
            ));
        }
        options
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("bench: {message}\n{USAGE}");
    std::process::exit(2);
}

/// How long and how much to measure.
struct Plan {
    quick: bool,
    long: bool,
    idle: Duration,
    rotations: u32,
    /// How long each `/metrics` load runs, per target and concurrency level.
    window: Duration,
    /// Probes counted for the STS-calls and RSS-after-probes figures.
    probes: u64,
}

impl Plan {
    fn new(options: &Options) -> Plan {
        let quick = options.quick;
        Plan {
            quick,
            long: options.long,
            idle: Duration::from_secs(if quick { 5 } else { 60 }),
            rotations: if quick { 10 } else { 50 },
            window: Duration::from_secs(if quick { 1 } else { 10 }),
            probes: if quick {
                10
            } else if options.long {
                1_000
            } else {
                100
            },
        }
    }
}

// ---------------------------------------------------------------------------
// The figures, one function each, in the order they are measured.

/// The release profile already strips; stripping a copy makes the row true whatever the profile says.
fn binary_size(binary: &Path) -> Row {
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
fn startup_to_ready(daemon: &Daemon) -> Row {
    let ready_at = daemon.wait_ready(PATIENCE);
    Row::info(
        "startup to ready (spawn → first 200 from /readyz)".into(),
        format_ms(ready_at - daemon.spawned()),
    )
}

/// What one process did over the idle window: RSS at the end, CPU ticks over it.
struct Idle {
    rss: Rss,
    ticks: u64,
    elapsed: f64,
    ticks_per_second: u64,
}

impl Idle {
    /// CPU seconds, or `None` when under one tick (`/proc` counts whole ticks).
    fn cpu_seconds(&self) -> Option<f64> {
        (self.ticks > 0).then(|| self.ticks as f64 / self.ticks_per_second as f64)
    }

    /// Percent of one core; for zero ticks, the bound one tick would have been.
    fn percent_of_core(&self) -> (f64, bool) {
        let seconds = self.cpu_seconds();
        let bound = seconds.is_none();
        let seconds = seconds.unwrap_or(1.0 / self.ticks_per_second as f64);
        (seconds / self.elapsed * 100.0, bound)
    }

    fn describe_cpu(&self) -> String {
        match self.percent_of_core() {
            (bound, true) => format!(
                "< 1 tick (1/{} s) CPU = < {bound:.3}% of a core",
                self.ticks_per_second
            ),
            (percent, false) => format!(
                "{:.2} s CPU ({} ticks) = {percent:.3}% of a core",
                self.cpu_seconds().unwrap_or_default(),
                self.ticks
            ),
        }
    }

    fn rows(&self, window: Duration) -> [Row; 2] {
        let secs = window.as_secs();
        let (percent, bound) = self.percent_of_core();
        // Zero ticks proves the target only when one tick over the window is already below it.
        let cpu_result = match (bound, percent < 0.1) {
            (_, true) => "pass",
            (true, false) => "inconclusive",
            (false, false) => "fail",
        };
        [
            Row::judged(
                format!("idle RSS after {secs} s"),
                self.rss.describe(),
                "< 10 MiB",
                (self.rss.total as f64) < 10.0 * MIB,
            ),
            Row {
                figure: format!("idle CPU over {secs} s"),
                value: self.describe_cpu(),
                target: "< 0.1% of a core",
                result: cpu_result,
            },
        ]
    }
}

/// RSS at the end, and CPU over the window, of processes nobody talks to: the daemon and
/// the exporters side by side. The window opens once each answered its first request, so
/// start-up work (the first probe, the first scrape) is not in it.
fn idle(daemon: &Daemon, peers: &[Peer], window: Duration) -> (Idle, Vec<Idle>) {
    progress(&format!("idle window: {} s", window.as_secs()));
    let ticks_per_second = clock_ticks_per_second();
    let pids: Vec<u32> = std::iter::once(daemon.pid())
        .chain(peers.iter().map(Peer::pid))
        .collect();
    let before: Vec<u64> = pids.iter().map(|&p| cpu_ticks(p)).collect();
    let opened = Instant::now();
    thread::sleep(window);
    let mut figures = pids.iter().zip(before).map(|(&pid, before)| Idle {
        ticks: cpu_ticks(pid) - before,
        elapsed: opened.elapsed().as_secs_f64(),
        rss: Rss::of(pid),
        ticks_per_second,
    });
    let ours = figures.next().expect("the daemon's figures");
    (ours, figures.collect())
}

/// Each rotation is a kubelet-style symlink swap of a token with a new `exp`; the clock
/// runs from just before the swap (signing is done already) until `/metrics` shows it.
fn rotation_latency(daemon: &Daemon, pod: &Pod, rotations: u32) -> Row {
    progress(&format!("{rotations} token rotations"));
    let mut client = Client::new(daemon.addr());
    let mut latencies = Vec::new();
    for i in 1..=rotations {
        // A lifetime one second longer each time gives every token a distinct `exp`.
        let (token, exp) = mint(LIFETIME + i64::from(i));
        let swapped = Instant::now();
        pod.writer
            .write_token(token.as_bytes())
            .expect("rotate the token");
        loop {
            let metrics = client.get("/metrics").expect("GET /metrics").body;
            if sample(&metrics, EXPIRY_SERIES) == Some(exp as f64) {
                break;
            }
            assert!(
                swapped.elapsed() < PATIENCE,
                "rotation {i}: exp {exp} never reached /metrics"
            );
        }
        latencies.push(swapped.elapsed());
        thread::sleep(ROTATION_GAP);
    }
    latencies.sort();
    let median = percentile(&latencies, 0.5);
    let max = percentile(&latencies, 1.0);
    Row::judged(
        format!("rotation → /metrics latency ({rotations} rotations)"),
        format!("median {}, max {}", format_ms(median), format_ms(max)),
        "< 100 ms",
        max < Duration::from_millis(100),
    )
}

/// The outcome of one load run against one target.
struct Load {
    clients: usize,
    /// Latencies of the requests answered 200, sorted.
    latencies: Vec<Duration>,
    /// Requests not answered 200 (other status, or a broken connection).
    errors: usize,
    elapsed: Duration,
    body_bytes: usize,
}

impl Load {
    fn p(&self, p: f64) -> Option<Duration> {
        (!self.latencies.is_empty()).then(|| percentile(&self.latencies, p))
    }

    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn describe(&self) -> String {
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
    fn row(&self, path: &str, clients: usize) -> Row {
        let figure = format!(
            "{path} latency, {clients} concurrent client{}",
            if clients == 1 { "" } else { "s" }
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

/// A scrape storm over plain HTTP: `load_over` on TCP connections to `addr`.
fn load(addr: SocketAddr, path: &str, clients: usize, window: Duration) -> Load {
    load_over(move || Conn::open(addr), path, &[], clients, window)
}

/// A scrape storm: `clients` threads, each on its own keep-alive connection (whatever
/// stream `connect` opens: TCP, or TLS in `bench_tls`), released together, sending
/// `GET path` with `headers` back to back for `window`; every answered request's latency
/// counts. A connection the server closes is reopened and the request sent again (the
/// harness `Client`); one that still fails counts as an error, so a server that sheds load
/// shows errors, not a hung bench.
fn load_over<S: Read + Write + 'static>(
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

/// Facts that say whether the figures describe a healthy daemon.
fn run_notes(daemon: &Daemon, pod: &Pod, plan: &Plan) -> Vec<String> {
    let metrics = Client::new(daemon.addr())
        .get("/metrics")
        .expect("GET /metrics")
        .body;
    let assumed = match sample(&metrics, "irsa_sts_assume_success") {
        Some(1.0) => "yes",
        Some(_) => "NO: the figures describe a daemon whose STS check fails",
        None => "unknown (no irsa_sts_assume_success sample)",
    };
    let threads = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid()))
        .ok()
        .and_then(|status| proc_status_number(&status, "Threads"))
        .map_or_else(|| "unknown".to_owned(), |n| n.to_string());
    let logs = daemon.log_lines();
    let loud = logs
        .iter()
        .filter(|line| {
            serde_json::from_str::<Value>(line)
                .is_ok_and(|v| v["level"] == "WARN" || v["level"] == "ERROR")
        })
        .count();
    let mode = if plan.quick {
        "quick (--quick): shortened windows, not for the README"
    } else if plan.long {
        "long (--long)"
    } else {
        "full"
    };
    let mode = format!(
        "{mode}: idle window {} s, {} rotations, /metrics load windows of {} s per target and concurrency, {} probes",
        plan.idle.as_secs(),
        plan.rotations,
        plan.window.as_secs_f64(),
        plan.probes
    );
    vec![
        format!("run: {mode}"),
        format!("last STS test-assume succeeded: {assumed}"),
        format!(
            "fake STS requests served: {} (AssumeRoleWithWebIdentity {}, GetCallerIdentity {}); fake OIDC requests: {}",
            pod.peers.sts.requests(),
            pod.peers.sts.assume_calls(),
            pod.peers.sts.caller_identity_calls(),
            pod.peers.oidc.requests()
        ),
        format!("daemon log lines: {} ({loud} at WARN or ERROR)", logs.len()),
        format!("daemon threads: {threads}"),
        // The clients share the box with the daemon, and so does anything else running.
        format!("load average at the end: {}", load_average()),
    ]
}

// ---------------------------------------------------------------------------
// The pod and the daemon (the emulator crate's harness).

/// A pod (fake STS and OIDC issuer, home, token volume) with its first token written.
fn pod() -> Pod {
    let pod = Pod::new();
    let (token, _) = mint(LIFETIME);
    pod.writer
        .write_token(token.as_bytes())
        .expect("write the first token");
    pod
}

/// A signed token issued now that lives `lifetime` seconds, and its `exp`.
fn mint(lifetime: i64) -> (String, i64) {
    let issuer = shared_issuer();
    let spec = TokenSpec {
        lifetime,
        ..issuer.token_spec()
    };
    let token = issuer.issue(&spec).expect("sign a token");
    (token, spec.expires_at())
}

/// `irsa-doctor serve` in `pod`, its IMDS check off (IMDS is at the discard port anyway).
fn spawn(binary: &Path, pod: &Pod, extra_args: &[&str]) -> Daemon {
    let mut args = vec!["--no-imds-check"];
    args.extend_from_slice(extra_args);
    Daemon::spawn(binary, &pod.env(), &args)
}

// ---------------------------------------------------------------------------
// The exporters we compare with.

const NODE_EXPORTER: &str = "node_exporter";
const BLACKBOX_EXPORTER: &str = "blackbox_exporter";
const PEER_NAMES: [&str; 2] = [NODE_EXPORTER, BLACKBOX_EXPORTER];

/// A running exporter on a free 127.0.0.1 port, killed when dropped.
struct Peer {
    name: &'static str,
    process: KillOnDrop,
    addr: SocketAddr,
    version: String,
    flags: String,
    _scratch: tempfile::TempDir,
}

impl Peer {
    /// Starts each configured exporter and waits for its first `200` on `/metrics`.
    fn start_all(options: &Options) -> Vec<Peer> {
        let mut peers = Vec::new();
        if let Some(binary) = &options.node_exporter {
            // Defaults, except: no limit on parallel scrapes (the default 40 would turn the
            // 500-client load into 503s), and no systemd collector, which fails on every
            // scrape without a systemd (as in a container) and logs an error each time.
            peers.push(Peer::start(NODE_EXPORTER, binary, |addr, _| {
                vec![
                    format!("--web.listen-address={addr}"),
                    "--web.max-requests=0".into(),
                    "--no-collector.systemd".into(),
                ]
            }));
        }
        if let Some(binary) = &options.blackbox_exporter {
            // It needs a module file; one HTTP module, never probed: `/metrics` is its own.
            peers.push(Peer::start(BLACKBOX_EXPORTER, binary, |addr, scratch| {
                let config = scratch.join("blackbox.yml");
                std::fs::write(&config, "modules:\n  http_2xx:\n    prober: http\n")
                    .expect("write blackbox.yml");
                vec![
                    format!("--config.file={}", config.display()),
                    format!("--web.listen-address={addr}"),
                ]
            }));
        }
        peers
    }

    fn start(
        name: &'static str,
        binary: &Path,
        args: impl FnOnce(SocketAddr, &Path) -> Vec<String>,
    ) -> Peer {
        progress(&format!("starting {name} ({})", binary.display()));
        let scratch = tempfile::tempdir().expect("a scratch dir for the exporter");
        // Take a free port from the OS; the exporter binds it right after (a small race).
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port");
        let args = args(addr, scratch.path());
        let child = Command::new(binary)
            .args(&args)
            .current_dir(scratch.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let mut process = KillOnDrop::new(child);
        let mut client = Client::new(addr);
        poll_until(
            &format!("{name} to answer GET /metrics"),
            PATIENCE,
            Duration::from_millis(1),
            || {
                if let Ok(Some(status)) = process.0.try_wait() {
                    panic!("{name} exited early ({status})");
                }
                client.get("/metrics").ok().filter(|r| r.status == 200)
            },
        );
        let version = command_output(&binary.display().to_string(), &["--version"])
            .or_else(|| {
                // Go exporters print their version on stderr.
                let out = Command::new(binary).arg("--version").output().ok()?;
                Some(String::from_utf8_lossy(&out.stderr).trim().to_owned())
            })
            .and_then(|v| v.lines().next().map(str::to_owned))
            .unwrap_or_else(|| "version unknown".into());
        Peer {
            name,
            process,
            addr,
            version,
            flags: args.join(" "),
            _scratch: scratch,
        }
    }

    fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// Notes for the exporters that are not there to compare with.
    fn missing(options: &Options) -> Vec<String> {
        [
            (
                NODE_EXPORTER,
                &options.node_exporter,
                "prometheus-node-exporter",
            ),
            (
                BLACKBOX_EXPORTER,
                &options.blackbox_exporter,
                "prometheus-blackbox-exporter",
            ),
        ]
        .into_iter()
        .filter(|(_, path, _)| path.is_none())
        .map(|(name, _, package)| {
            format!("{name}: not compared (not installed: apt-get install {package})")
        })
        .collect()
    }
}

/// Our figures next to each exporter's, with ours as a multiple of theirs.
fn print_comparison(
    ours_idle: &Idle,
    ours_load: &[Load],
    plan: &Plan,
    names: &[&str],
    peers_idle: &[Idle],
    peers_load: &[Vec<Load>],
) {
    if peers_idle.is_empty() {
        return;
    }
    let names = &names[..peers_idle.len().min(names.len())];
    println!();
    print!("| same bench, same machine | irsa-doctor |");
    for name in names {
        print!(" {name} | irsa-doctor ÷ {name} |");
    }
    println!();
    println!("|---|---|{}", "---|---|".repeat(names.len()));

    let ratio = |ours: f64, theirs: f64| {
        if theirs <= 0.0 || ours <= 0.0 {
            return "-".to_owned();
        }
        match ours / theirs {
            r if r < 0.1 => format!("1/{:.0}×", 1.0 / r),
            r if r < 10.0 => format!("{r:.2}×"),
            r => format!("{r:.0}×"),
        }
    };
    let line = |figure: String, ours: String, theirs: Vec<(String, String)>| {
        print!("| {figure} | {ours} |");
        for (value, r) in theirs {
            print!(" {value} | {r} |");
        }
        println!();
    };

    line(
        format!("idle RSS after {} s", plan.idle.as_secs()),
        format_mib(ours_idle.rss.total),
        peers_idle
            .iter()
            .map(|p| {
                (
                    format_mib(p.rss.total),
                    ratio(ours_idle.rss.total as f64, p.rss.total as f64),
                )
            })
            .collect(),
    );
    let cpu = |i: &Idle| match i.percent_of_core() {
        (b, true) => format!("< {b:.3}%"),
        (p, false) => format!("{p:.3}%"),
    };
    line(
        format!("idle CPU over {} s (% of a core)", plan.idle.as_secs()),
        cpu(ours_idle),
        peers_idle
            .iter()
            .map(|p| {
                let r = match (ours_idle.cpu_seconds(), p.cpu_seconds()) {
                    (Some(o), Some(t)) => ratio(o, t),
                    // Under one tick: bounded by one tick.
                    (None, Some(t)) => {
                        format!("< {}", ratio(1.0 / ours_idle.ticks_per_second as f64, t))
                    }
                    (_, None) => "- (theirs < 1 tick)".to_owned(),
                };
                (cpu(p), r)
            })
            .collect(),
    );
    if let Some(first) = ours_load.first() {
        line(
            "/metrics body".into(),
            format!("{:.1} KiB", first.body_bytes as f64 / 1024.0),
            peers_load
                .iter()
                .map(|l| {
                    let theirs = l.first().map_or(0, |l| l.body_bytes);
                    (
                        format!("{:.1} KiB", theirs as f64 / 1024.0),
                        ratio(first.body_bytes as f64, theirs as f64),
                    )
                })
                .collect(),
        );
    }
    let ms = |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), format_ms);
    let secs = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64());
    for (i, ours) in ours_load.iter().enumerate() {
        let theirs: Vec<&Load> = peers_load.iter().filter_map(|l| l.get(i)).collect();
        let c = ours.clients;
        for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
            line(
                format!(
                    "/metrics {label}, {c} client{}",
                    if c == 1 { "" } else { "s" }
                ),
                ms(ours.p(p)),
                theirs
                    .iter()
                    .map(|t| (ms(t.p(p)), ratio(secs(ours.p(p)), secs(t.p(p)))))
                    .collect(),
            );
        }
        line(
            format!(
                "/metrics req/s, {c} client{} (higher is better)",
                if c == 1 { "" } else { "s" }
            ),
            format!("{:.0}", ours.throughput()),
            theirs
                .iter()
                .map(|t| {
                    (
                        format!("{:.0}", t.throughput()),
                        ratio(ours.throughput(), t.throughput()),
                    )
                })
                .collect(),
        );
        if ours.errors > 0 || theirs.iter().any(|t| t.errors > 0) {
            line(
                format!("/metrics failed requests, {c} clients"),
                ours.errors.to_string(),
                theirs
                    .iter()
                    .map(|t| (t.errors.to_string(), String::new()))
                    .collect(),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Probes: STS calls per hour, memory after many probes.

/// A daemon of its own probing every second (`--probe-interval 1s`, the schedule's
/// floor): STS calls per probe, scaled to an hour at the default interval, and RSS
/// growth over `plan.probes` probes after a warm-up of 10.
fn probe_figures(binary: &Path, plan: &Plan) -> [Row; 2] {
    const WARM_UP: u64 = 10;
    let default_interval = default_probe_interval(binary);
    progress(&format!(
        "probing every second: {WARM_UP} warm-up probes, then {} (about {} s)",
        plan.probes,
        (WARM_UP + plan.probes) * 11 / 10
    ));
    let pod = pod();
    let daemon = spawn(
        binary,
        &pod,
        &["--probe-interval", "1s", "--probe-timeout", "500ms"],
    );
    let probes_done = |n: u64| {
        let patience = Duration::from_secs(30 + 3 * n);
        let started = Instant::now();
        while pod.peers.sts.assume_calls() < n {
            assert!(
                started.elapsed() < patience,
                "only {} probes after {patience:?}",
                pod.peers.sts.assume_calls()
            );
            thread::sleep(Duration::from_millis(50));
        }
    };
    probes_done(WARM_UP);
    let base_rss = Rss::of(daemon.pid());
    let (base_requests, base_assumes) = (pod.peers.sts.requests(), pod.peers.sts.assume_calls());
    let opened = Instant::now();
    probes_done(base_assumes + plan.probes);
    let elapsed = opened.elapsed();
    let end_rss = Rss::of(daemon.pid());
    let requests = pod.peers.sts.requests() - base_requests;
    let probes = pod.peers.sts.assume_calls() - base_assumes;
    drop(daemon);

    // Each probe makes one AssumeRoleWithWebIdentity; everything else it sends is counted too.
    let per_probe = requests as f64 / probes as f64;
    let per_hour = per_probe * 3600.0 / default_interval.as_secs_f64();
    let growth = end_rss.total as i64 - base_rss.total as i64;
    [
        Row::info(
            format!(
                "STS calls per hour, healthy pod, default --probe-interval {}",
                humantime::format_duration(default_interval)
            ),
            format!(
                "{per_hour:.1}: {per_probe:.2} calls per probe ({requests} over {probes} probes at --probe-interval 1s, one every {:.2} s) × 3600 s ÷ {} s; computed, not waited for; a token refresh adds one probe (~every 19 h)",
                elapsed.as_secs_f64() / probes as f64,
                default_interval.as_secs()
            ),
        ),
        Row::judged(
            format!("RSS growth over {probes} probes (after {WARM_UP} warm-up)"),
            format!(
                "{} → {} ({:+.2} MiB)",
                format_mib(base_rss.total),
                format_mib(end_rss.total),
                growth as f64 / MIB
            ),
            "≤ 1 MiB",
            growth <= 1024 * 1024,
        ),
    ]
}

/// The binary's default `--probe-interval`, from its `--help` (300 s if that fails).
fn default_probe_interval(binary: &Path) -> Duration {
    let help = command_output(&binary.display().to_string(), &["--help"]).unwrap_or_default();
    help.split("--probe-interval")
        .nth(1)
        .and_then(|rest| rest.split("[default: ").nth(1))
        .and_then(|rest| rest.split(']').next())
        .and_then(|d| humantime::parse_duration(d.trim()).ok())
        .unwrap_or(Duration::from_secs(300))
}

// ---------------------------------------------------------------------------
// /proc, the machine, and the report.

/// `utime + stime` of `pid`, in clock ticks (fields 14 and 15 of `/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // Field 2 is the command name in parentheses and may contain spaces: count from the last ')'.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // `after_name` starts at field 3, so field N is at index N - 3.
    let field = |n: usize| -> u64 {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .expect("a numeric field in /proc/PID/stat")
    };
    field(14) + field(15)
}

/// Resident memory of `pid`, in bytes: the total, and how much of it is anonymous (heap,
/// stacks) versus file-backed (mostly the pages of the binary itself).
struct Rss {
    total: u64,
    anon: u64,
    file: u64,
}

impl Rss {
    fn of(pid: u32) -> Rss {
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
        let bytes = |field: &str| proc_status_number(&status, field).map_or(0, |kib| kib * 1024);
        Rss {
            total: proc_status_number(&status, "VmRSS").expect("a VmRSS line in /proc/PID/status")
                * 1024,
            anon: bytes("RssAnon"),
            file: bytes("RssFile"),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} (anon {:.1} + file-backed {:.1})",
            format_mib(self.total),
            self.anon as f64 / MIB,
            self.file as f64 / MIB
        )
    }
}

/// The number on a `Name:   1234 kB` line of `/proc/PID/status` (KiB, or a count for `Threads`).
fn proc_status_number(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Clock ticks per second for `/proc/PID/stat` (`getconf CLK_TCK`; 100 on every common Linux).
fn clock_ticks_per_second() -> u64 {
    command_output("getconf", &["CLK_TCK"])
        .and_then(|v| v.parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

fn machine_facts(binary: &Path) -> Vec<String> {
    let unknown = || "unknown".to_owned();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(unknown);
    let binary_name = binary.display().to_string();
    vec![
        format!("load average at start: {}", load_average()),
        format!(
            "CPUs (nproc): {}",
            command_output("nproc", &[]).unwrap_or_else(unknown)
        ),
        format!("CPU model: {cpu}"),
        format!(
            "kernel: {}",
            command_output("uname", &["-r"]).unwrap_or_else(unknown)
        ),
        format!(
            "date: {}",
            command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(unknown)
        ),
        format!(
            "measured: {} (`{binary_name}`, release profile)",
            command_output(&binary_name, &["--version"]).unwrap_or_else(unknown)
        ),
        format!(
            "rustc: {}",
            command_output("rustc", &["--version"]).unwrap_or_else(unknown)
        ),
    ]
}

/// The 1, 5 and 15 minute load averages: a busy box makes every figure worse.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// A command's trimmed stdout, if it ran and succeeded.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// One line of the table.
struct Row {
    figure: String,
    value: String,
    target: &'static str,
    result: &'static str,
}

impl Row {
    fn judged(figure: String, value: String, target: &'static str, pass: bool) -> Row {
        Row {
            figure,
            value,
            target,
            result: if pass { "pass" } else { "fail" },
        }
    }

    fn info(figure: String, value: String) -> Row {
        Row {
            figure,
            value,
            target: "—",
            result: "info",
        }
    }
}

fn print_report(facts: &[String], rows: &[Row], notes: &[String]) {
    for fact in facts {
        println!("- {fact}");
    }
    println!();
    println!("| figure | value | target | result |");
    println!("|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} |",
            row.figure, row.value, row.target, row.result
        );
    }
    println!();
    for note in notes {
        println!("- {note}");
    }
}

// ---------------------------------------------------------------------------
// Small helpers.

/// The nearest-rank percentile `p` (0 < p ≤ 1) of sorted, non-empty `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn format_ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn format_mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

fn progress(message: &str) {
    eprintln!("bench: {message}");
}
