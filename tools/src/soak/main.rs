//! Soak test of the release binary: hours of a pod's life compressed into minutes.
//! Not part of `cargo test`; run it through `scripts/soak [MINUTES]`, which builds the
//! release binary and this tool first.
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
//!
//! Modules: `kubelet` (rotation, the volume vanishing), `faults` (the STS modes),
//! `scrape` (the scraper), `settle` (the final state against the final report); this
//! file runs them together, samples `/proc` (the harness's `ProcSample`) and judges.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod faults;
mod kubelet;
mod scrape;
mod settle;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use irsa_doctor_emulator::harness::{
    Daemon, PATIENCE, Pod, ProcSample, kill_daemons_on_panic, shared_issuer,
};
use irsa_doctor_tools::{Binary, warnings_and_errors};

use faults::flip;
use kubelet::{Volume, rotate};
use scrape::scrape;
use settle::settle;

const MIB: f64 = 1024.0 * 1024.0;
/// Allowed growth: fds (end ≤ start + 2) and RSS after warm-up (< 1 MiB).
const FD_SLACK: i64 = 2;
const RSS_SLACK: u64 = 1024 * 1024;

fn main() {
    let options = Options::parse();
    let binary = options.binary.path.as_path();
    kill_daemons_on_panic();
    let duration = Duration::from_secs_f64(options.minutes * 60.0);
    let warm_up = Duration::from_secs(60).min(duration / 2);

    // The fake STS and OIDC issuer, a home and the token volume (the harness's pod).
    let pod = Pod::new();
    let (sts, oidc) = (&pod.peers.sts, &pod.peers.oidc);
    let volume = Volume::new(pod.writer.dir().to_path_buf(), shared_issuer());

    progress(&format!(
        "soaking {} for {:.1} min (warm-up {} s)",
        binary.display(),
        options.minutes,
        warm_up.as_secs()
    ));
    let daemon = Daemon::spawn(
        binary,
        &pod.env(),
        &["--probe-interval", "10s", "--probe-timeout", "2s"],
    );
    daemon.wait_ready(PATIENCE);
    let start = sample(daemon.pid());
    progress(&format!("ready; start sample: {}", describe(&start)));

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
                let sample = sample(daemon.pid());
                progress(&format!("warm-up sample: {}", describe(&sample)));
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
    let end = alive.then(|| sample(daemon.pid()));
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

    let warn_lines = warnings_and_errors(&logs);
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

/// Soak test of the release binary (run it through scripts/soak).
#[derive(Debug, Parser)]
#[command(name = "soak")]
struct Options {
    /// How long to run, in minutes (fractions allowed).
    #[arg(long, value_name = "N", default_value_t = 10.0, value_parser = positive_minutes)]
    minutes: f64,
    #[command(flatten)]
    binary: Binary,
}

/// A positive number of minutes, or why not.
fn positive_minutes(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(m) if m > 0.0 && m.is_finite() => Ok(m),
        _ => Err("not a positive number of minutes".into()),
    }
}

/// What the soak's threads did, counted as they go.
#[derive(Default)]
pub struct Stats {
    rotations: AtomicU64,
    deletions: AtomicU64,
    flips: AtomicU64,
    scrapes: AtomicU64,
    scrape_failures: AtomicU64,
    slowest_scrape_us: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

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
pub fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        thread::sleep(left.min(Duration::from_millis(100)));
    }
    stop.load(Ordering::Relaxed)
}

/// The daemon as `/proc` sees it now; panics when it is gone.
fn sample(pid: u32) -> ProcSample {
    ProcSample::of(pid).expect("sample the daemon in /proc")
}

fn describe(sample: &ProcSample) -> String {
    format!(
        "RSS {}, {} fds, {} threads",
        mib(sample.rss),
        sample.fds,
        sample.threads
    )
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / MIB)
}

pub fn progress(message: &str) {
    eprintln!("soak: {message}");
}

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
