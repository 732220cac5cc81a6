//! Idle cost: RSS at the end, and CPU over a window, of processes nobody talks
//! to — the daemon and the exporters side by side.

use std::thread;
use std::time::{Duration, Instant};

use irsa_doctor_emulator::harness::proc::clock_ticks_per_second;
use irsa_doctor_emulator::harness::{Daemon, ProcSample};

use crate::exporters::Exporter;
use crate::report::{MIB, Row, describe_rss, progress};

/// What one process did over the idle window: `/proc` at the end, CPU ticks over it.
pub struct Idle {
    /// The process at the end of the window.
    pub end: ProcSample,
    pub ticks: u64,
    pub elapsed: f64,
    pub ticks_per_second: u64,
}

impl Idle {
    /// CPU seconds, or `None` when under one tick (`/proc` counts whole ticks).
    pub fn cpu_seconds(&self) -> Option<f64> {
        (self.ticks > 0).then(|| self.ticks as f64 / self.ticks_per_second as f64)
    }

    /// Percent of one core; for zero ticks, the bound one tick would have been.
    pub fn percent_of_core(&self) -> (f64, bool) {
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

    /// irsa-doctor's idle RSS and CPU rows, with the README's targets.
    pub fn rows(&self, window: Duration) -> [Row; 2] {
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
                describe_rss(&self.end),
                "< 10 MiB",
                (self.end.rss as f64) < 10.0 * MIB,
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

/// The daemon's and each exporter's idle figures over one `window`. It opens once each
/// answered its first request, so start-up work (the first probe, the first scrape) is
/// not in it.
pub fn idle(daemon: &Daemon, exporters: &[Exporter], window: Duration) -> (Idle, Vec<Idle>) {
    progress(&format!("idle window: {} s", window.as_secs()));
    let ticks_per_second = clock_ticks_per_second();
    let pids: Vec<u32> = std::iter::once(daemon.pid())
        .chain(exporters.iter().map(Exporter::pid))
        .collect();
    let sample = |pid: u32| ProcSample::of(pid).expect("sample an idle process in /proc");
    let before: Vec<u64> = pids.iter().map(|&p| sample(p).cpu_ticks).collect();
    let opened = Instant::now();
    thread::sleep(window);
    let mut figures = pids.iter().zip(before).map(|(&pid, before)| {
        let end = sample(pid);
        Idle {
            ticks: end.cpu_ticks - before,
            elapsed: opened.elapsed().as_secs_f64(),
            end,
            ticks_per_second,
        }
    });
    let ours = figures.next().expect("the daemon's figures");
    (ours, figures.collect())
}
