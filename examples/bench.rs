//! Performance figures for the README, measured on the release binary: idle
//! memory and CPU, how fast a kubelet token rotation reaches `/metrics`, and
//! `/metrics` latency under a scrape storm. It is not a test: a missed target
//! is a row marked `fail`, not a failing exit code. Run it through
//! `scripts/bench`, which builds the release binary and this example first:
//!
//! ```text
//! scripts/bench           # the full run, about two minutes
//! scripts/bench --quick   # 5 s windows, 10 rotations: a smoke test of the bench itself
//! ```
//!
//! Machine facts and the Markdown table go to stdout, progress to stderr. The
//! daemon runs with a scrubbed environment aimed at in-process fakes (STS, the
//! OIDC issuer), IMDS at the loopback discard port and its IMDS check off, so
//! nothing it does leaves 127.0.0.1.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use irsa_doctor::emulator::issuer::{DEFAULT_ISSUER, Issuer, TokenSpec};
use irsa_doctor::emulator::kubelet::AtomicWriter;
use irsa_doctor::emulator::oidc::FakeOidc;
use irsa_doctor::emulator::sts::{FakeSts, StsConfig};
use serde_json::Value;

const USAGE: &str = "usage: bench [--quick] [--binary PATH]
  --quick        5 s idle window and 10 rotations (smoke-tests the bench; not for the README)
  --binary PATH  the irsa-doctor to measure [default: target/release/irsa-doctor]";

/// The role `StsConfig::default()` lets the issuer's default tokens assume.
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/demo";
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
    let plan = Plan::new(options.quick);
    let facts = machine_facts(&options.binary);

    progress("starting the fake STS and OIDC issuer; writing the first token");
    let pod = Pod::new();
    let mut rows = vec![binary_size(&options.binary)];

    progress("starting irsa-doctor serve");
    let daemon = Daemon::spawn(&options.binary, &pod);
    rows.push(startup_to_ready(&daemon));
    rows.extend(idle(&daemon, plan.idle));
    rows.push(rotation_latency(&daemon, &pod, plan.rotations));
    rows.push(serial_latency(&daemon, plan.serial_requests));
    rows.push(concurrent_latency(
        &daemon,
        plan.clients,
        plan.requests_per_client,
    ));
    rows.push(Row::info(
        "RSS after the load above".into(),
        Rss::of(daemon.pid()).describe(),
    ));
    let notes = run_notes(&daemon, &pod, &plan);
    drop(daemon);

    print_report(&facts, &rows, &notes);
}

/// Command-line options.
struct Options {
    binary: PathBuf,
    quick: bool,
}

impl Options {
    fn from_args() -> Options {
        let mut options = Options {
            binary: PathBuf::from("target/release/irsa-doctor"),
            quick: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
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
    idle: Duration,
    rotations: u32,
    serial_requests: usize,
    clients: usize,
    requests_per_client: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        Plan {
            quick,
            idle: Duration::from_secs(if quick { 5 } else { 60 }),
            rotations: if quick { 10 } else { 50 },
            serial_requests: 2_000,
            clients: 50,
            requests_per_client: 200,
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
    let mut client = Client::new(daemon.addr);
    let ready_at = wait_until("/readyz to answer 200", || {
        (client.get("/readyz").ok()?.status == 200).then(Instant::now)
    });
    Row::info(
        "startup to ready (spawn → first 200 from /readyz)".into(),
        format_ms(ready_at - daemon.spawned),
    )
}

/// RSS at the end, and CPU over the window, of a daemon nobody talks to. The window
/// opens once it is ready, so the startup probe is not in it.
fn idle(daemon: &Daemon, window: Duration) -> [Row; 2] {
    progress(&format!("idle window: {} s", window.as_secs()));
    let ticks_per_second = clock_ticks_per_second();
    let before = cpu_ticks(daemon.pid());
    let opened = Instant::now();
    thread::sleep(window);
    let ticks = cpu_ticks(daemon.pid()) - before;
    let elapsed = opened.elapsed().as_secs_f64();
    let rss = Rss::of(daemon.pid());

    let tick = 1.0 / ticks_per_second as f64;
    let percent_of_core = |seconds: f64| seconds / elapsed * 100.0;
    let (cpu, cpu_result) = if ticks == 0 {
        // /proc counts whole ticks: zero means "less than one", which proves the target only
        // when one tick over the window is already below it (not so in a --quick window).
        let bound = percent_of_core(tick);
        (
            format!("< 1 tick (1/{ticks_per_second} s) CPU = < {bound:.3}% of a core"),
            if bound < 0.1 { "pass" } else { "inconclusive" },
        )
    } else {
        let seconds = ticks as f64 * tick;
        let percent = percent_of_core(seconds);
        (
            format!("{seconds:.2} s CPU ({ticks} ticks) = {percent:.3}% of a core"),
            if percent < 0.1 { "pass" } else { "fail" },
        )
    };
    let secs = window.as_secs();
    [
        Row::judged(
            format!("idle RSS after {secs} s"),
            rss.describe(),
            "< 10 MiB",
            (rss.total as f64) < 10.0 * MIB,
        ),
        Row {
            figure: format!("idle CPU over {secs} s"),
            value: cpu,
            target: "< 0.1% of a core",
            result: cpu_result,
        },
    ]
}

/// Each rotation is a kubelet-style symlink swap of a token with a new `exp`; the clock
/// runs from just before the swap (signing is done already) until `/metrics` shows it.
fn rotation_latency(daemon: &Daemon, pod: &Pod, rotations: u32) -> Row {
    progress(&format!("{rotations} token rotations"));
    let mut client = Client::new(daemon.addr);
    let mut latencies = Vec::new();
    for i in 1..=rotations {
        // A lifetime one second longer each time gives every token a distinct `exp`.
        let (token, exp) = pod.mint(LIFETIME + i64::from(i));
        let swapped = Instant::now();
        pod.writer
            .write_token(token.as_bytes())
            .expect("rotate the token");
        loop {
            let metrics = client.get("/metrics").expect("GET /metrics").body;
            if sample(&String::from_utf8_lossy(&metrics), EXPIRY_SERIES) == Some(exp as f64) {
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

/// One client, one request at a time: the cost of rendering and serving one scrape, which
/// is what the concurrent figure below is made of.
fn serial_latency(daemon: &Daemon, requests: usize) -> Row {
    progress(&format!("{requests} serial /metrics requests"));
    let mut client = Client::new(daemon.addr);
    let mut body_bytes = 0;
    let mut latencies: Vec<Duration> = (0..requests)
        .map(|_| {
            let sent = Instant::now();
            let response = client.get("/metrics").expect("GET /metrics");
            let latency = sent.elapsed();
            body_bytes = response.body.len();
            latency
        })
        .collect();
    latencies.sort();
    Row::info(
        "/metrics latency, 1 client (serial)".into(),
        format!(
            "p50 {}, p99 {} ({:.1} KiB body)",
            format_ms(percentile(&latencies, 0.5)),
            format_ms(percentile(&latencies, 0.99)),
            body_bytes as f64 / 1024.0
        ),
    )
}

/// A scrape storm: `clients` threads, each on its own keep-alive connection, all released
/// together; every request's latency counts.
fn concurrent_latency(daemon: &Daemon, clients: usize, per_client: usize) -> Row {
    progress(&format!(
        "{clients} concurrent clients × {per_client} /metrics requests"
    ));
    let start_line = Arc::new(Barrier::new(clients + 1));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let start_line = Arc::clone(&start_line);
            let addr = daemon.addr;
            thread::spawn(move || {
                let mut conn = Conn::open(addr).expect("open a client connection");
                // One untimed request first, so connection setup stays out of the figures.
                conn.get("/metrics").expect("warm-up GET /metrics");
                start_line.wait();
                (0..per_client)
                    .map(|_| {
                        let sent = Instant::now();
                        let response = conn.get("/metrics").expect("GET /metrics");
                        assert_eq!(response.status, 200, "GET /metrics under load");
                        sent.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    start_line.wait();
    let released = Instant::now();
    let mut latencies: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a client thread panicked"))
        .collect();
    let throughput = latencies.len() as f64 / released.elapsed().as_secs_f64();
    latencies.sort();
    let p99 = percentile(&latencies, 0.99);
    Row::judged(
        format!("/metrics latency, {clients} concurrent clients"),
        format!(
            "p50 {}, p99 {}, {throughput:.0} req/s",
            format_ms(percentile(&latencies, 0.5)),
            format_ms(p99)
        ),
        "p99 < 2 ms",
        p99 < Duration::from_millis(2),
    )
}

/// Facts that say whether the figures describe a healthy daemon.
fn run_notes(daemon: &Daemon, pod: &Pod, plan: &Plan) -> Vec<String> {
    let metrics = Client::new(daemon.addr)
        .get("/metrics")
        .expect("GET /metrics")
        .body;
    let metrics = String::from_utf8_lossy(&metrics);
    let assumed = match sample(&metrics, "irsa_sts_assume_success") {
        Some(1.0) => "yes",
        Some(_) => "NO: the figures describe a daemon whose STS check fails",
        None => "unknown (no irsa_sts_assume_success sample)",
    };
    let threads = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid()))
        .ok()
        .and_then(|status| proc_status_number(&status, "Threads"))
        .map_or_else(|| "unknown".to_owned(), |n| n.to_string());
    let logs = lock(&daemon.logs);
    let loud = logs
        .iter()
        .filter(|line| {
            serde_json::from_str::<Value>(line)
                .is_ok_and(|v| v["level"] == "WARN" || v["level"] == "ERROR")
        })
        .count();
    let mode = if plan.quick {
        "quick (--quick): shortened windows, not for the README"
    } else {
        "full"
    };
    vec![
        format!("run: {mode}"),
        format!("last STS test-assume succeeded: {assumed}"),
        format!(
            "fake STS requests served: {} (AssumeRoleWithWebIdentity {}, GetCallerIdentity {}); fake OIDC requests: {}",
            pod.sts.requests(),
            pod.sts.assume_calls(),
            pod.sts.caller_identity_calls(),
            pod.oidc.requests()
        ),
        format!("daemon log lines: {} ({loud} at WARN or ERROR)", logs.len()),
        format!("daemon threads: {threads}"),
        // The clients share the box with the daemon, and so does anything else running.
        format!("load average at the end: {}", load_average()),
    ]
}

// ---------------------------------------------------------------------------
// The pod and the daemon.

/// The pod around the daemon: a home directory, the kubelet-written token volume, the
/// cluster's token issuer, and fake STS and OIDC endpoints on a runtime of their own.
struct Pod {
    dir: tempfile::TempDir,
    writer: AtomicWriter,
    issuer: Issuer,
    sts: FakeSts,
    oidc: FakeOidc,
    /// Declared last so the fakes above are dropped while it still runs them.
    _runtime: tokio::runtime::Runtime,
}

impl Pod {
    fn new() -> Pod {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("build a tokio runtime for the fakes");
        let issuer = Issuer::generate(DEFAULT_ISSUER).expect("generate the issuer's key");
        let (sts, oidc) = runtime.block_on(async {
            let sts = FakeSts::start(StsConfig::default())
                .await
                .expect("start the fake STS");
            let oidc = FakeOidc::start(&issuer)
                .await
                .expect("start the fake OIDC issuer");
            (sts, oidc)
        });
        let dir = tempfile::tempdir().expect("create a temp dir for the pod");
        std::fs::create_dir(dir.path().join("home")).expect("create the pod's home");
        let writer =
            AtomicWriter::new(dir.path().join("serviceaccount")).expect("create the volume");
        let pod = Pod {
            dir,
            writer,
            issuer,
            sts,
            oidc,
            _runtime: runtime,
        };
        let (token, _) = pod.mint(LIFETIME);
        pod.writer
            .write_token(token.as_bytes())
            .expect("write the first token");
        pod
    }

    /// A signed token issued now that lives `lifetime` seconds, and its `exp`.
    fn mint(&self, lifetime: i64) -> (String, i64) {
        let spec = TokenSpec {
            lifetime,
            ..self.issuer.token_spec()
        };
        let token = self.issuer.issue(&spec).expect("sign a token");
        (token, spec.expires_at())
    }

    /// The daemon's whole environment: nothing of ours but PATH, every AWS peer on loopback.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", self.dir.path().join("home").display().to_string()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_STS_REGIONAL_ENDPOINTS", "regional".into()),
            ("AWS_ROLE_ARN", ROLE_ARN.into()),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                self.writer.token_path().display().to_string(),
            ),
            // Port 9 (discard): nothing listens, so a stray IMDS call fails fast and locally.
            (
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                "http://127.0.0.1:9".into(),
            ),
            ("AWS_ENDPOINT_URL_STS", self.sts.endpoint()),
            // Without it the daemon would fetch the token issuer's real discovery URL.
            ("IRSA_DOCTOR_OIDC_DISCOVERY_URL", self.oidc.discovery_url()),
        ]
    }
}

/// A running `irsa-doctor serve`, its stderr drained into `logs`; killed when dropped.
struct Daemon {
    process: KillOnDrop,
    addr: SocketAddr,
    spawned: Instant,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn spawn(binary: &Path, pod: &Pod) -> Daemon {
        let spawned = Instant::now();
        let mut child = Command::new(binary)
            .env_clear()
            .envs(pod.env())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--log-format", "json", "--no-imds-check"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn irsa-doctor");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut process = KillOnDrop::new(child);
        let logs = drain(stderr);
        let addr = wait_until("the listen address in the daemon's logs", || {
            if let Ok(Some(status)) = process.0.try_wait() {
                panic!(
                    "irsa-doctor exited early ({status}):\n{}",
                    lock(&logs).join("\n")
                );
            }
            listen_address(&lock(&logs))
        });
        Daemon {
            process,
            addr,
            spawned,
            logs,
        }
    }

    fn pid(&self) -> u32 {
        self.process.0.id()
    }
}

/// Keeps reading the daemon's stderr so it never blocks on a full pipe.
fn drain(stderr: ChildStderr) -> Arc<Mutex<Vec<String>>> {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&logs);
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lock(&sink).push(line);
        }
    });
    logs
}

/// The `listen` field of the first JSON log line saying "irsa-doctor serving".
fn listen_address(logs: &[String]) -> Option<SocketAddr> {
    logs.iter().find_map(|line| {
        let event: Value = serde_json::from_str(line).ok()?;
        if event["message"] != "irsa-doctor serving" {
            return None;
        }
        event["listen"].as_str()?.parse().ok()
    })
}

/// PIDs of daemons still running. The release profile sets `panic = "abort"`, so a panic
/// runs no destructors and `KillOnDrop` never fires: the panic hook kills these instead.
static LIVE_DAEMONS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn kill_daemons_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        // `try_lock`: never block a dying process on a lock its panicking thread may hold.
        if let Ok(pids) = LIVE_DAEMONS.try_lock() {
            for pid in pids.iter() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }));
}

/// Kills and reaps the child when dropped (normal exit, or unwinding in a dev build).
struct KillOnDrop(Child);

impl KillOnDrop {
    fn new(child: Child) -> KillOnDrop {
        lock(&LIVE_DAEMONS).push(child.id());
        KillOnDrop(child)
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = self.0.id();
        // Forget the PID before reaping it, so the hook can never kill a recycled one.
        lock(&LIVE_DAEMONS).retain(|&p| p != pid);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------
// Just enough HTTP/1.1.

/// A status and a body.
struct Response {
    status: u16,
    body: Vec<u8>,
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Conn {
    fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        // A request is one small write; don't let Nagle hold it back behind an unacked one.
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        Ok(Conn {
            stream: BufReader::with_capacity(64 * 1024, stream),
            line: String::new(),
        })
    }

    /// Sends a GET and reads exactly one response, leaving the connection ready for the next.
    fn get(&mut self, path: &str) -> io::Result<Response> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        self.stream.get_mut().write_all(request.as_bytes())?;
        let status = self
            .read_line()?
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid("no HTTP status line"))?;
        let mut length = None;
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().ok();
            }
        }
        let length = length.ok_or_else(|| invalid("no Content-Length"))?;
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok(Response { status, body })
    }

    fn read_line(&mut self) -> io::Result<&str> {
        self.line.clear();
        if self.stream.read_line(&mut self.line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(self.line.trim_end())
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// A connection that is reopened once if the server has closed it (an idle keep-alive
/// connection does not live forever), for the single-client measurements.
struct Client {
    addr: SocketAddr,
    conn: Option<Conn>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    fn get(&mut self, path: &str) -> io::Result<Response> {
        if let Some(conn) = &mut self.conn
            && let Ok(response) = conn.get(path)
        {
            return Ok(response);
        }
        self.conn = None;
        let conn = self.conn.insert(Conn::open(self.addr)?);
        conn.get(path)
    }
}

/// The value of one sample line of a Prometheus exposition.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
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

/// Polls `poll` every millisecond until it answers, panicking after `PATIENCE`.
fn wait_until<T>(what: &str, mut poll: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = poll() {
            return value;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "gave up after {PATIENCE:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

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

/// Locks, ignoring poisoning: these vectors are only ever pushed to, so a panic elsewhere
/// cannot leave them half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
