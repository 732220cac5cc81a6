//! Facts that say whether the figures can be trusted: the machine (CPUs, load,
//! kernel, toolchain) above the table, and the run (mode, a healthy daemon, its
//! logs and threads) below it.

use std::path::Path;
use std::process::{Command, Stdio};

use irsa_doctor_emulator::harness::{Client, Daemon, Pod, ProcSample, sample};
use irsa_doctor_tools::warnings_and_errors;

use crate::options::Plan;

/// The machine and the toolchain, listed above the table.
pub fn facts(binary: &Path) -> Vec<String> {
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

/// Facts that say whether the figures describe a healthy daemon, listed below the table.
pub fn run_notes(daemon: &Daemon, pod: &Pod, plan: &Plan) -> Vec<String> {
    let metrics = Client::new(daemon.addr())
        .get("/metrics")
        .expect("GET /metrics")
        .body;
    let assumed = match sample(&metrics, "irsa_sts_assume_success") {
        Some(1.0) => "yes",
        Some(_) => "NO: the figures describe a daemon whose STS check fails",
        None => "unknown (no irsa_sts_assume_success sample)",
    };
    let threads = ProcSample::of(daemon.pid())
        .map_or_else(|_| "unknown".to_owned(), |s| s.threads.to_string());
    let logs = daemon.log_lines();
    let loud = warnings_and_errors(&logs);
    vec![
        format!("run: {}", plan.describe()),
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

/// The 1, 5 and 15 minute load averages: a busy box makes every figure worse.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// A command's trimmed stdout, if it ran and succeeded.
pub fn command_output(program: &str, args: &[&str]) -> Option<String> {
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
