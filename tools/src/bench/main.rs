//! Performance figures for the README, measured on the release binary: idle
//! memory and CPU, how fast a kubelet token rotation reaches `/metrics`,
//! `/metrics` latency under 1, 50 and 500 concurrent clients, STS calls per hour and
//! memory after many probes; and the same idle and `/metrics` load figures for
//! Debian's `prometheus-node-exporter` and `prometheus-blackbox-exporter`, run in the
//! same bench on 127.0.0.1, with our figures as ratios to theirs. It is not a test: a
//! missed target is a row marked `fail`, not a failing exit code. Run it through
//! `scripts/bench`, which builds the release binary and this tool first (and
//! installs the exporters with apt when they are missing):
//!
//! ```text
//! scripts/bench           # the full run, about five minutes
//! scripts/bench --long    # the full run with 1,000 probes instead of 100 (~20 minutes)
//! scripts/bench --quick   # short windows: a smoke test of the bench itself
//! ```
//!
//! One load generator serves all three targets: `clients` threads, each on its own
//! keep-alive connection, send `GET /metrics` back to back for a fixed window, and
//! every answered request's latency counts. The clients share the machine with the
//! server they measure, as a node's Prometheus would not; the ratios are fairer than
//! the absolute figures.
//!
//! Machine facts and the Markdown table go to stdout, progress to stderr. The
//! daemon runs with a scrubbed environment aimed at in-process fakes (STS, the
//! OIDC issuer), IMDS at the loopback discard port and its IMDS check off, so
//! nothing it does leaves 127.0.0.1.
//!
//! One module per concern, each returning the table's `Row`s for what it measures:
//!
//! | module | measures |
//! |---|---|
//! | `options` | the flags, and the `Plan` (how long and how much) they make |
//! | `daemon` | the pod and its fakes, spawning the daemon; binary size, start-up to ready |
//! | `idle` | RSS and CPU of idle processes, side by side |
//! | `rotation` | kubelet token rotation → `/metrics` latency |
//! | `load` | the load generator; `/metrics` and `/debug` under 1, 50, 500 clients |
//! | `tls` | `/metrics` over TLS + basic auth beside plain (`--tls` runs only this) |
//! | `probes` | STS calls per probe (scaled to an hour), RSS growth over many probes |
//! | `exporters` | node_exporter and blackbox_exporter: starting them, the comparison table |
//! | `machine` | facts about the machine and the run that say whether figures can be trusted |
//! | `report` | the rows, the Markdown table, number formats |
//!
//! **A new figure** (say, CSM datagram ingest) is a module of its own beside these: a
//! function that takes the binary, a pod (`daemon::pod`) and the `Plan`, and returns
//! its `Row`s; declare it below and push its rows in `main` where it is measured (each
//! concern spawns its own daemon when it needs other flags, as `tls` and `probes` do).
//! If it needs its own window or count, add it to `Plan`; a flag that runs it alone
//! goes in `options` beside `--tls`.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod daemon;
mod exporters;
mod idle;
mod load;
mod machine;
mod options;
mod probes;
mod report;
mod rotation;
mod tls;

use irsa_doctor_emulator::harness::{ProcSample, kill_daemons_on_panic};

use exporters::{Exporter, PEER_NAMES};
use load::{CLIENTS, Load};
use options::{Options, Plan};
use report::{Row, describe_rss, print_report, progress};

fn main() {
    let options = Options::from_args();
    kill_daemons_on_panic();
    let plan = Plan::new(&options);
    let binary = options.binary.path.as_path();
    let facts = machine::facts(binary);

    progress("starting the fake STS and OIDC issuer; writing the first token");
    let pod = daemon::pod();
    if options.tls {
        tls::tls_only(binary, &pod, &plan, &facts);
        return;
    }
    let mut rows = vec![daemon::binary_size(binary)];

    progress("starting irsa-doctor serve");
    let daemon = daemon::spawn(binary, &pod, &[]);
    rows.push(daemon::startup_to_ready(&daemon));
    let exporters = Exporter::start_all(&options);

    // One idle window for everyone: they are idle side by side.
    let (ours_idle, peers_idle) = idle::idle(&daemon, &exporters, plan.idle);
    rows.extend(ours_idle.rows(plan.idle));
    rows.extend(exporters::idle_rss_ratio(
        &exporters,
        &ours_idle,
        &peers_idle,
    ));
    rows.push(rotation::latency(&daemon, &pod, plan.rotations));

    let ours_load: Vec<Load> = CLIENTS
        .iter()
        .map(|&clients| load::metrics("irsa-doctor", daemon.addr(), clients, plan.window))
        .collect();
    rows.extend(ours_load.iter().map(|l| l.row("/metrics", l.clients)));
    rows.push(load::debug_row(daemon.addr(), plan.window));
    rows.push(Row::info(
        "RSS after the load above".into(),
        describe_rss(&ProcSample::of(daemon.pid()).expect("sample the daemon")),
    ));
    let mut notes = machine::run_notes(&daemon, &pod, &plan);
    drop(daemon);
    rows.extend(tls::tls_rows(binary, &pod, &ours_load[..2], plan.window));

    let peers_load = exporters::load_each(&exporters, &plan);
    notes.extend(exporters::notes(&exporters, &options));
    drop(exporters);

    rows.extend(probes::figures(binary, &plan));
    // A new concern's rows go here (a module of its own, a daemon of its own): see the
    // module docs above.

    print_report(&facts, &rows, &notes);
    exporters::print_comparison(
        &ours_idle,
        &ours_load,
        &plan,
        &PEER_NAMES,
        &peers_idle,
        &peers_load,
    );
}
