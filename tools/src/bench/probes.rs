//! What probing costs: STS calls per probe scaled to an hour at the default
//! interval, and memory after many probes.

use std::path::Path;
use std::time::{Duration, Instant};

use irsa_doctor_emulator::harness::{ProcSample, poll_until};

use crate::daemon::{pod, spawn};
use crate::machine::command_output;
use crate::options::Plan;
use crate::report::{MIB, Row, format_mib, progress};

/// Probes run before the RSS baseline: the first ones allocate caches for good.
const WARM_UP: u64 = 10;

/// A daemon of its own probing every second (`--probe-interval 1s`, the schedule's
/// floor): STS calls per probe, scaled to an hour at the default interval, and RSS
/// growth over `plan.probes` probes after a warm-up of 10.
pub fn figures(binary: &Path, plan: &Plan) -> [Row; 2] {
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
        poll_until(
            &format!("{n} probes"),
            Duration::from_secs(30 + 3 * n),
            Duration::from_millis(50),
            || (pod.peers.sts.assume_calls() >= n).then_some(()),
        )
    };
    let rss = || ProcSample::of(daemon.pid()).expect("sample the daemon").rss;
    probes_done(WARM_UP);
    let base_rss = rss();
    let (base_requests, base_assumes) = (pod.peers.sts.requests(), pod.peers.sts.assume_calls());
    let opened = Instant::now();
    probes_done(base_assumes + plan.probes);
    let elapsed = opened.elapsed();
    let end_rss = rss();
    let requests = pod.peers.sts.requests() - base_requests;
    let probes = pod.peers.sts.assume_calls() - base_assumes;
    drop(daemon);

    // Each probe makes one AssumeRoleWithWebIdentity; everything else it sends is counted too.
    let per_probe = requests as f64 / probes as f64;
    let per_hour = per_probe * 3600.0 / default_interval.as_secs_f64();
    let growth = end_rss as i64 - base_rss as i64;
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
                format_mib(base_rss),
                format_mib(end_rss),
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
