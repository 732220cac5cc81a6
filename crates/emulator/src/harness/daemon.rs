//! The real `irsa-doctor` binary under test: `serve` as a child process whose
//! logs are captured and whose listen address is read from them, and the
//! one-shot commands (`check`, `decode`) run to completion.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{self, Response};
use super::{PATIENCE, poll_until, wait_for};

/// A running `irsa-doctor serve` on an OS-chosen loopback port, its stderr captured line by
/// line; killed (SIGKILL) when dropped, `stop` for a graceful SIGTERM.
#[derive(Debug)]
pub struct Daemon {
    child: KillOnDrop,
    addr: SocketAddr,
    spawned: Instant,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts `binary serve --listen 127.0.0.1:0 --log-format json ARGS` with exactly `env`
    /// (the environment is cleared first) and waits for the "irsa-doctor serving" log line.
    /// Panics with the logs when the daemon exits before it listens.
    pub fn spawn(binary: &Path, env: &[(String, String)], args: &[&str]) -> Daemon {
        let spawned = Instant::now();
        let mut child = Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        let logs = Arc::new(Mutex::new(Vec::<String>::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = Arc::clone(&logs);
            // Keeps reading so the daemon never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lock(&sink).push(line);
                }
            });
        }
        let mut daemon = Daemon {
            child: KillOnDrop::new(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 9)),
            spawned,
            logs,
        };
        daemon.addr = poll_until(
            "the listen address in the daemon's logs",
            PATIENCE,
            Duration::from_millis(1),
            || {
                if let Ok(Some(status)) = daemon.child.0.try_wait() {
                    panic!("irsa-doctor exited early ({status}):\n{}", daemon.logs());
                }
                lock(&daemon.logs).iter().find_map(|l| listen_address(l))
            },
        );
        daemon
    }

    /// Where it serves.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// When it was spawned (for start-up timing).
    pub fn spawned(&self) -> Instant {
        self.spawned
    }

    /// The child process, for signals and exit checks of its own.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child.0
    }

    /// Whether it still runs (a zombie counts as exited); needs no `&mut`.
    pub fn alive(&self) -> bool {
        super::proc::is_running(self.pid())
    }

    /// Polls `/readyz` until it answers 200; the moment it did. Panics after `deadline`.
    pub fn wait_ready(&self, deadline: Duration) -> Instant {
        let mut client = http::Client::new(self.addr);
        poll_until(
            "/readyz to answer 200",
            deadline,
            Duration::from_millis(1),
            || (client.get("/readyz").ok()?.status == 200).then(Instant::now),
        )
    }

    /// `GET path` on a connection of its own; panics when there is no answer.
    pub fn get(&self, path: &str) -> Response {
        http::get(self.addr, path)
    }

    /// The `/metrics` exposition.
    pub fn metrics(&self) -> String {
        self.get("/metrics").body
    }

    /// The `/debug?format=json` report.
    pub fn report(&self) -> Value {
        self.get("/debug?format=json").json()
    }

    /// Finding codes of the current report.
    pub fn codes(&self) -> Vec<String> {
        codes(&self.report())
    }

    /// Every log line so far.
    pub fn log_lines(&self) -> Vec<String> {
        lock(&self.logs).clone()
    }

    /// Every log line so far, joined by newlines.
    pub fn logs(&self) -> String {
        lock(&self.logs).join("\n")
    }

    /// The logs once `needle` appears in them `count` times (they are read by another thread).
    pub fn wait_for_log(&self, needle: &str, count: usize) -> String {
        wait_for(
            &format!("{count} log lines with {needle}"),
            Duration::from_secs(10),
            || {
                let logs = self.logs();
                (logs.matches(needle).count() >= count).then_some(logs)
            },
        )
    }

    /// SIGTERM, then waits up to `deadline` for the exit; `None` if it did not exit in time.
    pub fn stop(&mut self, deadline: Duration) -> Option<ExitStatus> {
        terminate(&mut self.child.0, deadline)
    }
}

/// The `listen` field of a JSON log line saying "irsa-doctor serving".
fn listen_address(line: &str) -> Option<SocketAddr> {
    let event: Value = serde_json::from_str(line).ok()?;
    (event["message"] == "irsa-doctor serving").then(|| event["listen"].as_str()?.parse().ok())?
}

/// Sends SIGTERM (with `kill(1)`: the workspace forbids `unsafe`, so no `libc::kill`) and
/// waits up to `deadline` for `child` to exit.
pub fn terminate(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !sent {
        return child.try_wait().ok().flatten();
    }
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if started.elapsed() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// PIDs of daemons still running. Release builds abort on panic without running
/// destructors, so `Drop` never kills them: the hook `kill_daemons_on_panic` installs does.
static LIVE_DAEMONS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A child process (the daemon, or a process a bench compares it with) that is SIGKILLed and
/// reaped when dropped, and by the `kill_daemons_on_panic` hook when a panic aborts.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Takes charge of `child`.
    pub fn new(child: Child) -> KillOnDrop {
        lock(&LIVE_DAEMONS).push(child.id());
        KillOnDrop(child)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = self.0.id();
        // Forget the PID before reaping it, so the panic hook can never kill a recycled one.
        lock(&LIVE_DAEMONS).retain(|&p| p != pid);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Installs a panic hook that SIGKILLs every daemon still running (for `panic = "abort"` builds
/// such as the release-built bench and soak), after printing the panic as usual.
pub fn kill_daemons_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        // `try_lock`: never block a dying process on a lock its panicking thread may hold.
        if let Ok(pids) = LIVE_DAEMONS.try_lock() {
            for pid in pids.iter() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }));
}

/// Runs `binary ARGS` to completion with exactly `env`, feeding `stdin` if given.
pub fn run(binary: &Path, env: &[(String, String)], args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).expect("write the child's stdin");
    }
    child.wait_with_output().expect("wait for irsa-doctor")
}

/// `check --format json EXTRA`: its exit code and the one JSON document it prints.
pub fn check_json(binary: &Path, env: &[(String, String)], extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(binary, env, &args, None);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// The finding codes of a report, in its order.
pub fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Locks, ignoring poisoning: these vectors are only ever pushed to or filtered.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
