//! The exporters we compare with — Debian's `prometheus-node-exporter` and
//! `prometheus-blackbox-exporter`, started on free loopback ports — their idle and
//! `/metrics` load figures from the same bench, and the table with ours as a
//! multiple of theirs.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use irsa_doctor_emulator::harness::{self, Client, KillOnDrop, PATIENCE, poll_until};

use crate::idle::Idle;
use crate::load::{self, CLIENTS, Load};
use crate::machine::command_output;
use crate::options::{Options, Plan};
use crate::report::{Row, format_mib, format_ms, plural, progress};

const NODE_EXPORTER: &str = "node_exporter";
const BLACKBOX_EXPORTER: &str = "blackbox_exporter";
/// The exporters in the comparison table's order.
pub const PEER_NAMES: [&str; 2] = [NODE_EXPORTER, BLACKBOX_EXPORTER];

/// A running exporter on a free 127.0.0.1 port, killed when dropped.
pub struct Exporter {
    name: &'static str,
    process: KillOnDrop,
    addr: SocketAddr,
    version: String,
    flags: String,
    _scratch: tempfile::TempDir,
}

impl Exporter {
    /// Starts each configured exporter and waits for its first `200` on `/metrics`.
    pub fn start_all(options: &Options) -> Vec<Exporter> {
        let mut exporters = Vec::new();
        if let Some(binary) = &options.node_exporter {
            // Defaults, except: no limit on parallel scrapes (the default 40 would turn the
            // 500-client load into 503s), and no systemd collector, which fails on every
            // scrape without a systemd (as in a container) and logs an error each time.
            exporters.push(Exporter::start(NODE_EXPORTER, binary, |addr, _| {
                vec![
                    format!("--web.listen-address={addr}"),
                    "--web.max-requests=0".into(),
                    "--no-collector.systemd".into(),
                ]
            }));
        }
        if let Some(binary) = &options.blackbox_exporter {
            // It needs a module file; one HTTP module, never probed: `/metrics` is its own.
            exporters.push(Exporter::start(
                BLACKBOX_EXPORTER,
                binary,
                |addr, scratch| {
                    let config = scratch.join("blackbox.yml");
                    std::fs::write(&config, "modules:\n  http_2xx:\n    prober: http\n")
                        .expect("write blackbox.yml");
                    vec![
                        format!("--config.file={}", config.display()),
                        format!("--web.listen-address={addr}"),
                    ]
                },
            ));
        }
        exporters
    }

    fn start(
        name: &'static str,
        binary: &Path,
        args: impl FnOnce(SocketAddr, &Path) -> Vec<String>,
    ) -> Exporter {
        progress(&format!("starting {name} ({})", binary.display()));
        let scratch = tempfile::tempdir().expect("a scratch dir for the exporter");
        let addr = SocketAddr::from(([127, 0, 0, 1], harness::free_port()));
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
        Exporter {
            name,
            process,
            addr,
            version,
            flags: args.join(" "),
            _scratch: scratch,
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }
}

/// The README's idle-memory target: our idle RSS under half of node_exporter's.
pub fn idle_rss_ratio(exporters: &[Exporter], ours: &Idle, theirs: &[Idle]) -> Option<Row> {
    let node = exporters.iter().position(|e| e.name == NODE_EXPORTER)?;
    let theirs = &theirs[node];
    let ratio = ours.end.rss as f64 / theirs.end.rss as f64;
    Some(Row::judged(
        "idle RSS vs node_exporter's".into(),
        format!(
            "{ratio:.2}× ({} vs {})",
            format_mib(ours.end.rss),
            format_mib(theirs.end.rss)
        ),
        "< 0.5×",
        ratio < 0.5,
    ))
}

/// Each exporter under the same `/metrics` load as ours, at each of `CLIENTS`.
pub fn load_each(exporters: &[Exporter], plan: &Plan) -> Vec<Vec<Load>> {
    exporters
        .iter()
        .map(|e| {
            CLIENTS
                .iter()
                .map(|&clients| load::metrics(e.name, e.addr, clients, plan.window))
                .collect()
        })
        .collect()
}

/// Notes under the table: each exporter's version and flags, and those not there to
/// compare with.
pub fn notes(exporters: &[Exporter], options: &Options) -> Vec<String> {
    let mut notes: Vec<String> = exporters
        .iter()
        .map(|e| format!("{}: {} ({})", e.name, e.version, e.flags))
        .collect();
    notes.extend(
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
        }),
    );
    notes
}

/// Our figures next to each exporter's, with ours as a multiple of theirs.
pub fn print_comparison(
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
        format_mib(ours_idle.end.rss),
        peers_idle
            .iter()
            .map(|p| {
                (
                    format_mib(p.end.rss),
                    ratio(ours_idle.end.rss as f64, p.end.rss as f64),
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
                format!("/metrics {label}, {c} client{}", plural(c)),
                ms(ours.p(p)),
                theirs
                    .iter()
                    .map(|t| (ms(t.p(p)), ratio(secs(ours.p(p)), secs(t.p(p)))))
                    .collect(),
            );
        }
        line(
            format!("/metrics req/s, {c} client{} (higher is better)", plural(c)),
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
