//! irsa-doctor's entry point: parse configuration, set up logging, dispatch.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use irsa_doctor::config::{Cli, Command, LogFormat, LogLevel};
use irsa_doctor::http::App;
use irsa_doctor::probes::LiveProbe;
use irsa_doctor::state::State;
use irsa_doctor::verdict::Verdict;
use irsa_doctor::web_config::Web;
use irsa_doctor::{commands, environment, host, serve, target};

/// Exit code for unusable configuration (clap's own usage errors use it too).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("irsa-doctor: {}", first.trim_start_matches("error: "));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // With `check --pid`, everything the environment decides comes from the target process.
    let target_pid = match &cli.command {
        Some(Command::Check { pid, .. }) => *pid,
        _ => None,
    };
    let target_env = match target_pid.map(target::environ).transpose() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("irsa-doctor: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // The SDK can only be configured from its own process's environment: run the diagnosis
    // in a child that has the target's, so nothing the SDK decides comes from ours.
    if let (
        Some(Command::Check {
            in_target_env: false,
            ..
        }),
        Some(pid),
        Some(vars),
    ) = (&cli.command, target_pid, &target_env)
    {
        return in_target_env(pid, vars);
    }
    let lookup = |k: &str| match &target_env {
        Some(env) => env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        None => host::var(k),
    };
    let config = match irsa_doctor::config::for_target(&cli.opts, lookup, target_pid) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("irsa-doctor: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // --- web config hook: `serve` reads it before logging or listening, so a bad file is one
    // line and exit 2, never a server in the clear.
    let web = match (&cli.command, cli.opts.web_config_file.as_deref()) {
        (None | Some(Command::Serve), Some(path)) => match Web::load(path) {
            Ok(web) => Some(Arc::new(web)),
            Err(e) => {
                eprintln!("irsa-doctor: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        _ => None,
    };
    // --- verdict hook: where `serve` leaves its verdict (termination log, Pushgateway); a
    // bad --push-gateway is one line and exit 2, like every other bad flag.
    let verdict = match &cli.command {
        None | Some(Command::Serve) => match Verdict::from_opts(&cli.opts, host::var) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("irsa-doctor: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        _ => Verdict::none(),
    };
    init_logging(cli.opts.log_format, cli.opts.log_level);

    if let Some(Command::Decode { file }) = &cli.command {
        let source = file
            .clone()
            .unwrap_or_else(|| config.token_file.display().to_string());
        return match commands::decode(&source) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("irsa-doctor: {e}");
                ExitCode::FAILURE
            }
        };
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("irsa-doctor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        if let Some(Command::Demo { step }) = cli.command {
            return demo(config.listen.port(), step).await;
        }
        let env = match (&target_env, target_pid) {
            (Some(vars), Some(pid)) => environment::for_process(vars, target::root(pid)).await,
            _ => environment::from_process().await,
        };
        // Only `serve` listens for the application's client-side monitoring.
        let csm = match cli.command {
            None | Some(Command::Serve) => cli.opts.csm_listen.0,
            _ => None,
        };
        let state = match State::new(config, env) {
            Ok(s) => Arc::new(s.with_csm_listen(csm)),
            Err(e) => {
                eprintln!("irsa-doctor: {e}");
                return ExitCode::FAILURE;
            }
        };
        match cli.command {
            Some(Command::Check { format, .. }) => {
                let probe = LiveProbe::new(Arc::clone(&state)).await;
                ExitCode::from(commands::check(&state, &probe, format).await.clamp(0, 255) as u8)
            }
            None | Some(Command::Serve) => {
                let listener = match irsa_doctor::http::bind(state.config.listen) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("irsa-doctor: cannot listen on {}: {e}", state.config.listen);
                        return ExitCode::from(EXIT_USAGE);
                    }
                };
                let probe = Arc::new(LiveProbe::new(Arc::clone(&state)).await);
                let prober = tokio::spawn(Arc::clone(&probe).run());
                let app = App {
                    state,
                    prober: Some(probe),
                };
                serve::run(app, listener, web, verdict, serve::shutdown_signal()).await;
                prober.abort();
                ExitCode::SUCCESS
            }
            Some(Command::Decode { .. } | Command::Demo { .. }) => ExitCode::SUCCESS, // handled above
        }
    })
}

/// Re-runs this `check --pid` in a child whose environment is the target's (`target::diagnosis_env`).
fn in_target_env(pid: u32, vars: &[(String, String)]) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "irsa-doctor: cannot find its own executable to run in process {pid}'s environment: {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("--in-target-env")
        .env_clear()
        .envs(target::diagnosis_env(vars, pid, host::vars()))
        .status();
    match status {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("irsa-doctor: cannot run the diagnosis in process {pid}'s environment: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `demo`: the simulated pod, in builds with the default `demo` feature.
#[cfg(feature = "demo")]
async fn demo(port: u16, step: std::time::Duration) -> ExitCode {
    match irsa_doctor::demo::run(port, step, serve::shutdown_signal()).await {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("irsa-doctor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Without the `demo` feature there are no emulators to run against.
#[cfg(not(feature = "demo"))]
async fn demo(_port: u16, _step: std::time::Duration) -> ExitCode {
    eprintln!("irsa-doctor: this build has no demo (it was built without the `demo` feature)");
    ExitCode::from(EXIT_USAGE)
}

/// Logs to stderr. Only irsa-doctor's own events follow `--log-level`: the AWS SDK's debug
/// events print resolved identities (access key ids), so third-party crates stay at WARN: secrets never leave the process.
fn init_logging(format: LogFormat, level: LogLevel) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
    };
    // tracing orders levels by verbosity: `min` picks the quieter of the two.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("irsa_doctor", level)
        .with_default(level.min(tracing::Level::WARN));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false),
            )
            .init(),
        LogFormat::Text => registry.with(fmt.with_ansi(false)).init(),
    }
}
