//! What `/proc` says about a running process — resident memory, CPU time, open
//! fds, threads — for the bench's and the soak's figures and the daemon's
//! liveness check. Linux only, as the daemon's container is.

use std::io;
use std::process::{Command, Stdio};

/// One look at a process through `/proc/PID/{status,stat,fd}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// Resident memory in bytes (`VmRSS`).
    pub rss: u64,
    /// The anonymous part of it (heap, stacks), in bytes (`RssAnon`; 0 before Linux 4.5).
    pub rss_anon: u64,
    /// The file-backed part of it (mostly the binary's own pages), in bytes (`RssFile`).
    pub rss_file: u64,
    /// Threads (`Threads`).
    pub threads: u64,
    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fds: usize,
    /// CPU time so far, user plus system, in clock ticks (`clock_ticks_per_second`).
    pub cpu_ticks: u64,
}

impl ProcSample {
    /// Samples `pid` now; fails when it is gone or `/proc` is not Linux's.
    pub fn of(pid: u32) -> io::Result<ProcSample> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
        let memory = Status::parse(&status)
            .ok_or_else(|| invalid(format!("no VmRSS or Threads in /proc/{pid}/status")))?;
        let cpu_ticks = Stat::parse(&stat)
            .map(|s| s.cpu_ticks)
            .ok_or_else(|| invalid(format!("no utime and stime in /proc/{pid}/stat")))?;
        Ok(ProcSample {
            rss: memory.rss,
            rss_anon: memory.rss_anon,
            rss_file: memory.rss_file,
            threads: memory.threads,
            fds,
            cpu_ticks,
        })
    }
}

/// Whether `pid` still runs: it exists and is not a zombie (exited, not yet reaped).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| Stat::parse(&stat).is_some_and(|s| s.state != 'Z'))
}

/// Clock ticks per second for `cpu_ticks` (`getconf CLK_TCK`; 100 on every common Linux).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The lines of `/proc/PID/status` the figures use, in bytes or counts.
struct Status {
    rss: u64,
    rss_anon: u64,
    rss_file: u64,
    threads: u64,
}

impl Status {
    /// `None` without `VmRSS` or `Threads` (a kernel thread, or not Linux's `/proc`).
    fn parse(status: &str) -> Option<Status> {
        let kib = |field| status_number(status, field).map(|n| n * 1024);
        Some(Status {
            rss: kib("VmRSS")?,
            rss_anon: kib("RssAnon").unwrap_or(0),
            rss_file: kib("RssFile").unwrap_or(0),
            threads: status_number(status, "Threads")?,
        })
    }
}

/// The number on a `Name:   1234 kB` line of `/proc/PID/status` (KiB, or a count for `Threads`).
fn status_number(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The fields of `/proc/PID/stat` the figures use.
struct Stat {
    /// Field 3: `R`, `S`, `Z`, ...
    state: char,
    /// Fields 14 and 15: `utime + stime`.
    cpu_ticks: u64,
}

impl Stat {
    fn parse(stat: &str) -> Option<Stat> {
        // Field 2 is the command name in parentheses and may hold spaces and ')':
        // count from the last ')'.
        let (_, after_name) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // `after_name` starts at field 3, so field N is at index N - 3.
        let number = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
        Some(Stat {
            state: fields.first()?.chars().next()?,
            cpu_ticks: number(14)? + number(15)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let status = "Name:\tirsa-doctor\nVmRSS:\t    9012 kB\nRssAnon:\t    1700 kB\nRssFile:\t    7312 kB\nThreads:\t2\n";
        let s = Status::parse(status).expect("parses");
        assert_eq!(
            (s.rss, s.rss_anon, s.rss_file, s.threads),
            (9012 * 1024, 1700 * 1024, 7312 * 1024, 2)
        );
        // Before Linux 4.5 there is no RssAnon/RssFile split.
        let old = Status::parse("VmRSS:\t 100 kB\nThreads:\t1\n").expect("parses");
        assert_eq!((old.rss, old.rss_anon, old.rss_file), (102_400, 0, 0));
        // A kernel thread has no VmRSS.
        assert!(Status::parse("Name:\tkthreadd\nThreads:\t1\n").is_none());
        // `VmRSSx` is not `VmRSS`.
        assert!(Status::parse("VmRSSx:\t1 kB\nThreads:\t1\n").is_none());
    }

    /// (name, a `/proc/PID/stat` line, its state and `utime + stime`).
    type StatRow = (&'static str, &'static str, Option<(char, u64)>);

    #[test]
    fn stat_fields() {
        let rows: &[StatRow] = &[
            (
                "plain",
                "42 (irsa-doctor) S 1 42 42 0 -1 4194560 500 0 0 0 7 3 0 0 20 0 2 0",
                Some(('S', 10)),
            ),
            (
                "a name with spaces and a ')'",
                "42 (a b) c) Z 1 42 42 0 -1 4194560 500 0 0 0 11 4 0 0 20 0 2 0",
                Some(('Z', 15)),
            ),
            ("truncated", "42 (x) S 1 2 3", None),
            ("no name", "42 x S 1", None),
        ];
        for (name, stat, want) in rows {
            let got = Stat::parse(stat).map(|s| (s.state, s.cpu_ticks));
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn samples_this_process() {
        let me = ProcSample::of(std::process::id()).expect("sample ourselves");
        assert!(me.rss > 0 && me.rss >= me.rss_anon && me.threads >= 1 && me.fds >= 1);
        assert!(is_running(std::process::id()));
        assert!(clock_ticks_per_second() > 0);
    }
}
