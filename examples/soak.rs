//! Soak test of the release binary: hours of a pod's life compressed into minutes.
//! Not part of `cargo test`; run it through `scripts/soak [MINUTES]`, which builds the
//! release binary and this example first.
//!
//! For the given time it runs `irsa-doctor serve` against in-process fakes (STS, the
//! OIDC issuer; IMDS at the loopback discard port) and, all at once:
//! - rotates the token every second, kubelet-style (symlink swap, a new `exp` each time);
//! - every ~45 s deletes the whole token directory, leaves it missing for ~3 s, then
//!   recreates it and carries on rotating;
//! - every ~20 s flips the fake STS: healthy → throttled → denied (403 AccessDenied)
//!   → down (connection closed) → healthy ...;
//! - scrapes `/metrics` and `/debug?format=json` in turn, 20 requests a second, on a
//!   keep-alive connection.
//!
//! It samples RSS (`VmRSS`) and open fds (`/proc/PID/fd`) at the start, after a warm-up
//! (the first minute, or half the run when shorter) and at the end, and fails (exit 1)
//! when: the daemon died or logged `panicked`; fds grew by more than 2; RSS grew by
//! 1 MiB or more from the warm-up sample; a scrape failed or `/debug` was not JSON; or
//! the final report does not show the final token's `exp` and the final STS mode once
//! a probe has run after both were fixed (a `POST /debug/probe`, or the next scheduled
//! one: with `--probe-interval 10s` the on-demand 10 s window is often still closed).
//! Everything is on 127.0.0.1. The table goes to stdout, progress to stderr.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use irsa_doctor_emulator::harness::{
    Client, Daemon, PATIENCE, Pod, kill_daemons_on_panic, request, shared_issuer,
};
use irsa_doctor_emulator::issuer::{Issuer, TokenSpec};
use irsa_doctor_emulator::kubelet::AtomicWriter;
use irsa_doctor_emulator::sts::{FakeSts, StsMode};
use serde_json::Value;

const USAGE: &str = "usage: soak [--minutes N] [--binary PATH]
  --minutes N    how long to run (fractions allowed) [default: 10]
  --binary PATH  the irsa-doctor to soak [default: target/release/irsa-doctor]";

const LIFETIME: i64 = 86_400;
const ROTATE_EVERY: Duration = Duration::from_secs(1);
const FLIP_EVERY: Duration = Duration::from_secs(20);
const DELETE_EVERY: Duration = Duration::from_secs(45);
const MISSING_FOR: Duration = Duration::from_secs(3);
/// Scrapes per second, all endpoints together.
const SCRAPE_RATE: u32 = 20;
const MIB: f64 = 1024.0 * 1024.0;
/// Allowed growth: fds (end ≤ start + 2) and RSS after warm-up (< 1 MiB).
const FD_SLACK: i64 = 2;
const RSS_SLACK: u64 = 1024 * 1024;
/// How long the final report may take to show the final state: under throttling the
/// next scheduled probe may be 4 × 10 s away, but `POST /debug/probe` runs 10 s after the last.
const SETTLE_PATIENCE: Duration = Duration::from_secs(45);

fn main() {
    let options = Options::from_args();
    kill_daemons_on_panic();
    let duration = Duration::from_secs_f64(options.minutes * 60.0);
    let warm_up = Duration::from_secs(60).min(duration / 2);

    // The fake STS and OIDC issuer, a home and the token volume (the harness's pod).
    let pod = Pod::new();
    let (sts, oidc) = (&pod.peers.sts, &pod.peers.oidc);
    let volume = Volume::new(pod.writer.dir().to_path_buf(), shared_issuer());

    progress(&format!(
        "soaking {} for {:.1} min (warm-up {} s)",
        options.binary.display(),
        options.minutes,
        warm_up.as_secs()
    ));
    let daemon = Daemon::spawn(
        &options.binary,
        &pod.env(),
        &["--probe-interval", "10s", "--probe-timeout", "2s"],
    );
    daemon.wait_ready(PATIENCE);
    let start = Sample::take(daemon.pid());
    progress(&format!("ready; start sample: {}", start.describe()));

    let stop = AtomicBool::new(false);
    let stats = Stats::default();
    let started = Instant::now();
    let mut warm = None;
    thread::scope(|s| {
        s.spawn(|| rotate(&volume, &stop, &stats));
        s.spawn(|| flip(sts, &stop, &stats));
        s.spawn(|| scrape(daemon.addr(), &stop, &stats));
        while started.elapsed() < duration {
            thread::sleep(Duration::from_millis(200));
            if !daemon.alive() {
                break;
            }
            if warm.is_none() && started.elapsed() >= warm_up {
                let sample = Sample::take(daemon.pid());
                progress(&format!("warm-up sample: {}", sample.describe()));
                warm = Some(sample);
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let soaked = started.elapsed();

    let mut checks = Vec::new();
    let alive = daemon.alive();
    checks.push(Check::new(
        "daemon alive at the end",
        if alive {
            "yes".into()
        } else {
            "NO: it exited".into()
        },
        alive,
    ));
    let final_state = if alive {
        Some(settle(&daemon, &volume, sts))
    } else {
        None
    };
    // Let the server notice the scraper's closed connection before counting fds.
    thread::sleep(Duration::from_millis(500));
    let end = alive.then(|| Sample::take(daemon.pid()));
    let logs = daemon.log_lines();
    let panics = logs.iter().filter(|l| l.contains("panicked")).count();
    checks.push(Check::new(
        "no `panicked` in the logs",
        format!("{panics} of {} lines", logs.len()),
        panics == 0,
    ));
    if let Some(end) = &end {
        let growth = end.fds as i64 - start.fds as i64;
        checks.push(Check::new(
            "open fds: end ≤ start + 2",
            format!("start {}, end {} ({growth:+})", start.fds, end.fds),
            growth <= FD_SLACK,
        ));
        let base = warm.as_ref().unwrap_or(&start);
        let rss_growth = end.rss as i64 - base.rss as i64;
        checks.push(Check::new(
            "RSS growth after warm-up < 1 MiB",
            format!(
                "start {}, warm-up {}, end {} ({:+.2} MiB)",
                mib(start.rss),
                mib(base.rss),
                mib(end.rss),
                rss_growth as f64 / MIB
            ),
            rss_growth < RSS_SLACK as i64,
        ));
    }
    let scrapes = stats.scrapes.load(Ordering::Relaxed);
    let failed = stats.scrape_failures.load(Ordering::Relaxed);
    checks.push(Check::new(
        "scrapes answered 200 (/debug as JSON)",
        format!(
            "{scrapes} scrapes, {failed} failed, slowest {:.1} ms{}",
            stats.slowest_scrape_us.load(Ordering::Relaxed) as f64 / 1e3,
            lock(&stats.first_failure)
                .as_deref()
                .map(|f| format!("; first failure: {f}"))
                .unwrap_or_default()
        ),
        failed == 0 && scrapes > 0,
    ));
    match final_state {
        Some(Ok(what)) => checks.push(Check::new(
            "final report matches the final state",
            what,
            true,
        )),
        Some(Err(what)) => checks.push(Check::new(
            "final report matches the final state",
            what,
            false,
        )),
        None => {}
    }

    let warn_lines = logs
        .iter()
        .filter(|l| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|v| v["level"] == "WARN" || v["level"] == "ERROR")
        })
        .count();
    let facts = vec![
        ("ran for", format!("{:.1} min", soaked.as_secs_f64() / 60.0)),
        (
            "token rotations written",
            stats.rotations.load(Ordering::Relaxed).to_string(),
        ),
        (
            "token directory deleted and recreated",
            format!("{} times", stats.deletions.load(Ordering::Relaxed)),
        ),
        (
            "STS mode flips",
            stats.flips.load(Ordering::Relaxed).to_string(),
        ),
        (
            "fake STS requests",
            format!(
                "{} (AssumeRoleWithWebIdentity {}, GetCallerIdentity {})",
                sts.requests(),
                sts.assume_calls(),
                sts.caller_identity_calls()
            ),
        ),
        (
            "AssumeRoleWithWebIdentity calls per minute",
            format!(
                "{:.1}",
                sts.assume_calls() as f64 / (soaked.as_secs_f64() / 60.0)
            ),
        ),
        ("fake OIDC requests", oidc.requests().to_string()),
        (
            "daemon log lines",
            format!("{} ({warn_lines} at WARN or ERROR)", logs.len()),
        ),
        (
            "threads (start → end)",
            format!(
                "{} → {}",
                start.threads,
                end.as_ref().map_or("-".into(), |e| e.threads.to_string())
            ),
        ),
    ];
    drop(daemon);

    println!("| soak | value | result |");
    println!("|---|---|---|");
    for (fact, value) in &facts {
        println!("| {fact} | {value} | info |");
    }
    for c in &checks {
        println!(
            "| {} | {} | {} |",
            c.what,
            c.value,
            if c.pass { "pass" } else { "FAIL" }
        );
    }
    if checks.iter().all(|c| c.pass) {
        progress("passed");
    } else {
        progress("FAILED");
        if panics > 0 || !alive {
            eprintln!("--- daemon log (last 40 lines) ---");
            for line in logs.iter().rev().take(40).rev() {
                eprintln!("{line}");
            }
        }
        std::process::exit(1);
    }
}

struct Options {
    binary: PathBuf,
    minutes: f64,
}

impl Options {
    fn from_args() -> Options {
        let mut options = Options {
            binary: PathBuf::from("target/release/irsa-doctor"),
            minutes: 10.0,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--minutes" => match args.next().and_then(|m| m.parse().ok()) {
                    Some(m) if m > 0.0 => options.minutes = m,
                    _ => usage_error("--minutes needs a positive number"),
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
        if !options.binary.is_file() {
            usage_error(&format!(
                "no binary at {} (scripts/soak builds it)",
                options.binary.display()
            ));
        }
        options
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("soak: {message}\n{USAGE}");
    std::process::exit(2);
}

#[derive(Default)]
struct Stats {
    rotations: AtomicU64,
    deletions: AtomicU64,
    flips: AtomicU64,
    scrapes: AtomicU64,
    scrape_failures: AtomicU64,
    slowest_scrape_us: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

// ---------------------------------------------------------------------------
// The kubelet: rotation, and the volume vanishing and coming back.

/// The projected token volume, which may be deleted and recreated under the daemon.
struct Volume<'a> {
    dir: PathBuf,
    issuer: &'a Issuer,
    writer: Mutex<Option<AtomicWriter>>,
    /// `exp` of the last token written.
    last_exp: AtomicU64,
    serial: AtomicU64,
}

impl<'a> Volume<'a> {
    fn new(dir: PathBuf, issuer: &'a Issuer) -> Volume<'a> {
        let volume = Volume {
            writer: Mutex::new(Some(AtomicWriter::new(&dir).expect("create the volume"))),
            dir,
            issuer,
            last_exp: AtomicU64::new(0),
            serial: AtomicU64::new(0),
        };
        volume.rotate();
        volume
    }

    /// Writes a new token (a distinct `exp` each time) if the volume is there; its `exp`.
    fn rotate(&self) -> Option<i64> {
        let writer = lock(&self.writer);
        let writer = writer.as_ref()?;
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) as i64;
        let spec = TokenSpec {
            lifetime: LIFETIME + serial,
            ..self.issuer.token_spec()
        };
        let token = self.issuer.issue(&spec).expect("sign a token");
        writer
            .write_token(token.as_bytes())
            .expect("rotate the token");
        self.last_exp
            .store(spec.expires_at() as u64, Ordering::Relaxed);
        Some(spec.expires_at())
    }

    fn delete(&self) {
        let mut writer = lock(&self.writer);
        *writer = None;
        std::fs::remove_dir_all(&self.dir).expect("delete the token directory");
    }

    fn recreate(&self) {
        *lock(&self.writer) = Some(AtomicWriter::new(&self.dir).expect("recreate the volume"));
        self.rotate();
    }
}

fn rotate(volume: &Volume<'_>, stop: &AtomicBool, stats: &Stats) {
    let mut last_delete = Instant::now();
    while !sleep_unless_stopped(ROTATE_EVERY, stop) {
        if last_delete.elapsed() >= DELETE_EVERY {
            volume.delete();
            stats.deletions.fetch_add(1, Ordering::Relaxed);
            let stopped = sleep_unless_stopped(MISSING_FOR, stop);
            volume.recreate();
            stats.rotations.fetch_add(1, Ordering::Relaxed);
            last_delete = Instant::now();
            if stopped {
                return;
            }
            continue;
        }
        if volume.rotate().is_some() {
            stats.rotations.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ---------------------------------------------------------------------------
// STS faults.

fn modes() -> [StsMode; 4] {
    [
        StsMode::Healthy,
        StsMode::Throttle,
        StsMode::Error {
            status: 403,
            code: "AccessDenied".into(),
            message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
        },
        StsMode::Down,
    ]
}

fn flip(sts: &FakeSts, stop: &AtomicBool, stats: &Stats) {
    let modes = modes();
    let mut next = 1;
    while !sleep_unless_stopped(FLIP_EVERY, stop) {
        sts.set_mode(modes[next % modes.len()].clone());
        stats.flips.fetch_add(1, Ordering::Relaxed);
        next += 1;
    }
}

/// What the report must show for the STS mode in effect.
fn expected_sts(mode: &StsMode) -> (&'static str, Option<&'static str>) {
    match mode {
        StsMode::Healthy => ("success", None),
        StsMode::Throttle => ("error", Some("STS_THROTTLED")),
        StsMode::Down => ("error", Some("STS_UNREACHABLE")),
        _ => ("error", Some("STS_ASSUME_FAILED")),
    }
}

fn mode_name(mode: &StsMode) -> String {
    match mode {
        StsMode::Healthy => "healthy".into(),
        StsMode::Throttle => "throttled".into(),
        StsMode::Down => "down".into(),
        StsMode::Error { code, .. } => format!("denied ({code})"),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Prometheus and curl.

fn scrape(addr: SocketAddr, stop: &AtomicBool, stats: &Stats) {
    let gap = Duration::from_secs(1) / SCRAPE_RATE;
    let mut client = Client::new(addr);
    let mut n = 0u64;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        next += gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let path = if n.is_multiple_of(2) {
            "/metrics"
        } else {
            "/debug?format=json"
        };
        n += 1;
        let sent = Instant::now();
        let answer = client.get(path);
        let took = sent.elapsed().as_micros() as u64;
        stats.slowest_scrape_us.fetch_max(took, Ordering::Relaxed);
        stats.scrapes.fetch_add(1, Ordering::Relaxed);
        let failure = match answer {
            Err(e) => Some(format!("GET {path}: {e}")),
            Ok(r) if r.status != 200 => Some(format!("GET {path}: status {}", r.status)),
            Ok(r) if path.starts_with("/debug") => serde_json::from_str::<Value>(&r.body)
                .err()
                .map(|e| format!("GET {path}: not JSON: {e}")),
            Ok(_) => None,
        };
        if let Some(failure) = failure {
            stats.scrape_failures.fetch_add(1, Ordering::Relaxed);
            lock(&stats.first_failure).get_or_insert(failure);
        }
    }
}

// ---------------------------------------------------------------------------
// The end: fix the state, make the daemon look, compare.

/// Writes a last token, keeps the STS mode that is in effect, has a probe run after
/// both, and compares the report with them.
fn settle(daemon: &Daemon, volume: &Volume<'_>, sts: &FakeSts) -> Result<String, String> {
    if lock(&volume.writer).is_none() {
        volume.recreate();
    }
    let exp = volume.rotate().expect("the volume exists");
    let mode = sts.mode();
    let (want_result, want_finding) = expected_sts(&mode);
    let want_exp = irsa_doctor_core::time::rfc3339(exp).expect("exp is a plausible date");
    progress(&format!(
        "settling: STS {}, final token exp {want_exp}",
        mode_name(&mode)
    ));

    // A probe that started after both were set: one we ask for (`POST /debug/probe`, 429
    // within 10 s of the last probe), or the next scheduled or refresh-triggered one.
    let settled_at = irsa_doctor_core::time::unix(SystemTime::now());
    let deadline = Instant::now() + SETTLE_PATIENCE;
    let mut next_post = Instant::now();
    loop {
        if Instant::now() >= next_post {
            match request(daemon.addr(), "POST", "/debug/probe", &[]) {
                Ok(r) if matches!(r.status, 200 | 429) => {}
                Ok(r) => return Err(format!("POST /debug/probe answered {}", r.status)),
                Err(e) => return Err(format!("POST /debug/probe: {e}")),
            }
            next_post = Instant::now() + Duration::from_secs(2);
        }
        let report = request(daemon.addr(), "GET", "/debug?format=json", &[])
            .map_err(|e| format!("GET /debug?format=json: {e}"))
            .and_then(|r| {
                serde_json::from_str::<Value>(&r.body).map_err(|e| format!("not JSON: {e}"))
            })?;
        let attempted = report["sts"]["last_attempt_at"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .map(irsa_doctor_core::time::unix);
        let exp_seen = report["token"]["expires_at"]
            .as_str()
            .unwrap_or("null")
            .to_owned();
        let result_seen = report["sts"]["result"]
            .as_str()
            .unwrap_or("null")
            .to_owned();
        let sts_codes: Vec<String> = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["code"].as_str())
            .filter(|c| c.starts_with("STS_"))
            .map(str::to_owned)
            .collect();
        let finding_ok = match want_finding {
            Some(code) => sts_codes.iter().any(|c| c == code),
            None => sts_codes.is_empty(),
        };
        // Whole seconds: only a probe stamped after the settling second surely saw both.
        let fresh = attempted.is_some_and(|t| t > settled_at);
        let token_ok = exp_seen == want_exp && report["token"]["present"] == true;
        let last_summary = format!(
            "STS {}: sts.result {result_seen}, STS findings {sts_codes:?}, probe at {}; token exp {exp_seen} (want {want_exp}); status {}",
            mode_name(&mode),
            report["sts"]["last_attempt_at"].as_str().unwrap_or("null"),
            report["status"].as_str().unwrap_or("null")
        );
        if fresh && token_ok && result_seen == want_result && finding_ok {
            return Ok(last_summary);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{last_summary}{}",
                if fresh {
                    ""
                } else {
                    " (no probe after the final state)"
                }
            ));
        }
        thread::sleep(Duration::from_millis(250));
    }
}

// ---------------------------------------------------------------------------
// /proc.

struct Sample {
    rss: u64,
    fds: usize,
    threads: u64,
}

impl Sample {
    fn take(pid: u32) -> Sample {
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
        let number = |field: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("list /proc/PID/fd")
            .count();
        Sample {
            rss: number("VmRSS") * 1024,
            fds,
            threads: number("Threads"),
        }
    }

    fn describe(&self) -> String {
        format!(
            "RSS {}, {} fds, {} threads",
            mib(self.rss),
            self.fds,
            self.threads
        )
    }
}

// ---------------------------------------------------------------------------
// Small helpers.

struct Check {
    what: &'static str,
    value: String,
    pass: bool,
}

impl Check {
    fn new(what: &'static str, value: String, pass: bool) -> Check {
        Check { what, value, pass }
    }
}

/// Sleeps `d` in short steps; true when `stop` was raised meanwhile.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        thread::sleep(left.min(Duration::from_millis(100)));
    }
    stop.load(Ordering::Relaxed)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / MIB)
}

fn progress(message: &str) {
    eprintln!("soak: {message}");
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
