//! The bench's flags, and the `Plan` they make: how long and how much to measure.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use irsa_doctor_tools::Binary;

/// Performance figures for the README, measured on the release binary (run it
/// through scripts/bench).
#[derive(Debug, Parser)]
#[command(name = "bench")]
pub struct Options {
    /// Short windows, few probes (smoke-tests the bench; not for the README).
    #[arg(long, conflicts_with = "long")]
    pub quick: bool,
    /// Only /metrics plain beside TLS + basic auth (--web-config-file).
    #[arg(long)]
    pub tls: bool,
    /// Measure RSS after 1,000 probes instead of 100 (adds ~15 minutes).
    #[arg(long)]
    pub long: bool,
    #[command(flatten)]
    pub binary: Binary,
    /// prometheus-node-exporter to compare with [default: /usr/bin/prometheus-node-exporter if present].
    #[arg(long, value_name = "PATH")]
    pub node_exporter: Option<PathBuf>,
    /// prometheus-blackbox-exporter to compare with [default: /usr/bin/prometheus-blackbox-exporter if present].
    #[arg(long, value_name = "PATH")]
    pub blackbox_exporter: Option<PathBuf>,
}

impl Options {
    /// The process's arguments; clap exits 2 with the usage on a bad one, 0 after `--help`.
    pub fn from_args() -> Options {
        let installed = |path: &str| Some(PathBuf::from(path)).filter(|p| p.is_file());
        let mut options = Options::parse();
        options.node_exporter = options
            .node_exporter
            .or_else(|| installed("/usr/bin/prometheus-node-exporter"));
        options.blackbox_exporter = options
            .blackbox_exporter
            .or_else(|| installed("/usr/bin/prometheus-blackbox-exporter"));
        options
    }
}

/// How long and how much to measure.
pub struct Plan {
    pub quick: bool,
    pub long: bool,
    pub idle: Duration,
    pub rotations: u32,
    /// How long each `/metrics` load runs, per target and concurrency level.
    pub window: Duration,
    /// Probes counted for the STS-calls and RSS-after-probes figures.
    pub probes: u64,
}

impl Plan {
    pub fn new(options: &Options) -> Plan {
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

    /// What kind of run this is, for the notes under the table.
    pub fn describe(&self) -> String {
        let mode = if self.quick {
            "quick (--quick): shortened windows, not for the README"
        } else if self.long {
            "long (--long)"
        } else {
            "full"
        };
        format!(
            "{mode}: idle window {} s, {} rotations, /metrics load windows of {} s per target and concurrency, {} probes",
            self.idle.as_secs(),
            self.rotations,
            self.window.as_secs_f64(),
            self.probes
        )
    }
}
