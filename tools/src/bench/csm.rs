//! What the application's client-side monitoring (CSM) costs the sidecar: how many
//! datagrams a second its one runtime thread ingests, whether a steady 10,000 a second
//! loses any, the CPU of a busy application's 1,000 calls a second, and the memory a
//! flood of random datagrams leaves behind. CSM is unauthenticated UDP on the pod's
//! loopback: anything in the pod may send anything, as fast as it likes.
//!
//! The datagrams are botocore's shape (the harness's `csm` builders); the counts are the
//! daemon's own `irsa_app_events_total`, read from `/metrics`, so a datagram the kernel
//! dropped before the daemon read it shows as the difference to what was sent.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use irsa_doctor_emulator::harness::csm::{
    api_call, api_call_attempt, boto3_user_agent, csm_addr, wait_for_events,
};
use irsa_doctor_emulator::harness::proc::clock_ticks_per_second;
use irsa_doctor_emulator::harness::{Daemon, ProcSample, samples};

use crate::daemon::{pod, spawn};
use crate::options::Plan;
use crate::report::{MIB, Row, format_mib, progress};

/// Every `irsa_app_events_total` sample added up: the datagrams the daemon has read.
fn events_read(daemon: &Daemon) -> u64 {
    samples(&daemon.metrics())
        .into_iter()
        .filter(|(series, _)| series.starts_with("irsa_app_events_total{"))
        .map(|(_, v)| v as u64)
        .sum()
}

/// Waits until the daemon has read `n` datagrams, or nothing more arrives for a second;
/// returns what it read.
fn settle(daemon: &Daemon, n: u64) -> u64 {
    let mut last = events_read(daemon);
    let mut still_since = Instant::now();
    while last < n && still_since.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(50));
        let now = events_read(daemon);
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    last
}

/// A healthy application's traffic: one call and one attempt per S3 `PutObject`.
fn healthy_calls(n: usize) -> Vec<Vec<u8>> {
    let ua = boto3_user_agent("1.34.0", "b,h");
    let call = api_call("S3", "PutObject", &ua, 200, None);
    let attempt = api_call_attempt(
        "S3",
        "PutObject",
        &ua,
        "ASIABENCHEXAMPLE0001",
        "bench-session-token",
    );
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                call.clone()
            } else {
                attempt.clone()
            }
        })
        .collect()
}

/// A hostile flood: random services, APIs, SDKs and outcomes (every label set the caps
/// must fold), mixed with garbage, truncated and oversized datagrams.
fn random_flood(n: usize) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(0x000c_5a17);
    let word = |rng: &mut fastrand::Rng| -> String {
        (0..rng.usize(4..16)).map(|_| rng.alphanumeric()).collect()
    };
    (0..n)
        .map(|i| match i % 10 {
            0 => (0..rng.usize(1..200)).map(|_| rng.u8(..)).collect(),
            1 => vec![b'x'; 9000],
            2 => {
                let mut d = api_call(
                    "S3",
                    "GetObject",
                    &boto3_user_agent("1.34.0", "h"),
                    200,
                    None,
                );
                d.truncate(d.len() / 2);
                d
            }
            _ => {
                let ua = format!(
                    "{}/{}.{}.{} m/{}",
                    word(&mut rng),
                    rng.u8(..),
                    rng.u8(..),
                    rng.u8(..),
                    word(&mut rng)
                );
                let status = [200, 403, 429, 500][rng.usize(..4)];
                let error = (status != 200).then(|| (word(&mut rng), word(&mut rng)));
                api_call(
                    &word(&mut rng),
                    &word(&mut rng),
                    &ua,
                    status,
                    error.as_ref().map(|(c, m)| (c.as_str(), m.as_str())),
                )
            }
        })
        .collect()
}

/// Sends `datagrams` to `to` at `per_second` (unpaced with `None`), from one socket;
/// returns how long it took.
fn send_at(to: SocketAddr, datagrams: &[Vec<u8>], per_second: Option<u32>) -> Duration {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
    let started = Instant::now();
    for (i, d) in datagrams.iter().enumerate() {
        if let Some(rate) = per_second {
            // Paced in slices of a millisecond: catch up to where the schedule says we are.
            let due = Duration::from_secs_f64(i as f64 / f64::from(rate));
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                thread::sleep(ahead);
            }
        }
        // A full queue is what the figure measures, not an error of the bench.
        let _ = socket.send_to(d, to);
    }
    started.elapsed()
}

fn cpu_ticks(daemon: &Daemon) -> u64 {
    ProcSample::of(daemon.pid())
        .expect("sample the daemon")
        .cpu_ticks
}

/// The CSM rows, from a daemon of its own (its listener on an OS-picked loopback port).
pub fn figures(binary: &Path, plan: &Plan) -> Vec<Row> {
    let pod = pod();
    let daemon = spawn(binary, &pod, &["--csm-listen", "127.0.0.1:0"]);
    let to = csm_addr(&daemon);
    let scale = if plan.quick { 10 } else { 1 };
    let tick = 1.0 / clock_ticks_per_second() as f64;
    let mut rows = Vec::new();

    // Sustained ingest: as fast as one sender can send, for a fixed number of datagrams.
    let burst = 200_000 / scale;
    progress(&format!(
        "CSM: {burst} datagrams as fast as they can be sent"
    ));
    let datagrams = healthy_calls(burst);
    let (before, cpu_before) = (events_read(&daemon), cpu_ticks(&daemon));
    let started = Instant::now();
    send_at(to, &datagrams, None);
    let read = settle(&daemon, before + burst as u64) - before;
    let elapsed = started.elapsed().as_secs_f64();
    let busy = (cpu_ticks(&daemon) - cpu_before) as f64 * tick;
    let per_cpu_second = read as f64 / busy.max(tick);
    rows.push(Row::judged(
        "CSM ingest, unpaced (datagrams read per second of the daemon's CPU)".into(),
        format!(
            "{per_cpu_second:.0}/s: {read} of {burst} read in {elapsed:.2} s wall, {busy:.2} s CPU ({} lost while the sender outran the reader)",
            burst as u64 - read.min(burst as u64)
        ),
        "≥ 50,000/s on one core",
        per_cpu_second >= 50_000.0,
    ));

    // No loss at 10,000 a second.
    let steady = 50_000 / scale;
    progress(&format!("CSM: {steady} datagrams at 10,000/s"));
    let before = events_read(&daemon);
    let took = send_at(to, &healthy_calls(steady), Some(10_000));
    let read = settle(&daemon, before + steady as u64) - before;
    rows.push(Row::judged(
        "CSM at 10,000 datagrams/s: lost".into(),
        format!(
            "{} of {steady} over {:.1} s",
            steady as u64 - read.min(steady as u64),
            took.as_secs_f64()
        ),
        "0",
        read >= steady as u64,
    ));

    // A busy application: 1,000 calls a second (a call and an attempt each) for a window.
    let window = if plan.quick { 3 } else { 20 };
    progress(&format!("CSM: 1,000 calls/s for {window} s"));
    let cpu_before = cpu_ticks(&daemon);
    let took = send_at(to, &healthy_calls(2_000 * window), Some(2_000));
    let busy = (cpu_ticks(&daemon) - cpu_before) as f64 * tick;
    let share = busy / took.as_secs_f64() * 100.0;
    rows.push(Row::judged(
        "CSM CPU at 1,000 calls/s (2,000 datagrams/s)".into(),
        format!(
            "{share:.2}% of a core ({busy:.2} s CPU over {:.1} s)",
            took.as_secs_f64()
        ),
        "< 2% of a core",
        share < 2.0,
    ));

    // Memory after a random flood: the caps fold what no bound would otherwise hold.
    let flood = 20_000;
    progress(&format!("CSM: a flood of {flood} random datagrams"));
    thread::sleep(Duration::from_secs(1));
    let rss_before = ProcSample::of(daemon.pid()).expect("sample the daemon").rss;
    let before = events_read(&daemon);
    // Paced so the kernel's receive queue keeps up: the figure is memory, not loss.
    send_at(to, &random_flood(flood), Some(5_000));
    let read = settle(&daemon, before + flood as u64) - before;
    // Wait for the listener to publish what it read (every 200 ms), then let a scrape
    // render the capped label sets once.
    let _ = wait_for_events(&daemon, before + read);
    let _ = daemon.metrics();
    let rss_after = ProcSample::of(daemon.pid()).expect("sample the daemon").rss;
    let growth = rss_after as i64 - rss_before as i64;
    let series = daemon
        .metrics()
        .lines()
        .filter(|l| l.starts_with("irsa_app_api_calls_total{"))
        .count();
    rows.push(Row::judged(
        format!("RSS growth after a flood of {flood} random CSM datagrams"),
        format!(
            "{} → {} ({:+.2} MiB); {read} read; irsa_app_api_calls_total has {series} series",
            format_mib(rss_before),
            format_mib(rss_after),
            growth as f64 / MIB
        ),
        "< 4 MiB",
        growth < 4 * 1024 * 1024,
    ));
    rows
}
