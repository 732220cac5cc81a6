//! The bench's flags, and the `Plan` they make: how long and how much to measure.

use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: bench [--quick | --long | --tls] [--binary PATH] [--node-exporter PATH] [--blackbox-exporter PATH]
  --quick                   short windows, few probes (smoke-tests the bench; not for the README)
  --tls                     only /metrics plain beside TLS + basic auth (--web-config-file)
  --long                    measure RSS after 1,000 probes instead of 100 (adds ~15 minutes)
  --binary PATH             the irsa-doctor to measure [default: target/release/irsa-doctor]
  --node-exporter PATH      prometheus-node-exporter to compare with [default: /usr/bin/prometheus-node-exporter if present]
  --blackbox-exporter PATH  prometheus-blackbox-exporter to compare with [default: /usr/bin/prometheus-blackbox-exporter if present]";

/// Command-line options.
pub struct Options {
    pub binary: PathBuf,
    pub quick: bool,
    pub long: bool,
    pub tls: bool,
    pub node_exporter: Option<PathBuf>,
    pub blackbox_exporter: Option<PathBuf>,
}

impl Options {
    /// The process's arguments; exits 2 with the usage on a bad one, 0 after `--help`.
    pub fn from_args() -> Options {
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
