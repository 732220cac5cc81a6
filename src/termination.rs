//! The termination log (`--termination-log`): where `serve` leaves its verdict for the
//! kubelet, which shows it in `kubectl describe pod` after the container has stopped.
//!
//! The message itself is `irsa_doctor_core::termination`'s. Writing it is best effort:
//! outside Kubernetes, or with a read-only path, there is nothing to write to, and that is
//! one debug log line, never an error.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Kubernetes' default `terminationMessagePath`.
pub const DEFAULT_PATH: &str = "/dev/termination-log";

/// Where the termination message goes.
#[derive(Debug)]
pub struct TerminationLog {
    path: PathBuf,
    /// Whether a missing file may be created: only for a path given explicitly. The kubelet
    /// creates the default one in every container, so outside Kubernetes it is left alone
    /// rather than made in a host's `/dev`.
    create: bool,
    /// Whether the debug line about an unwritable path was logged (once per process).
    reported: AtomicBool,
}

impl TerminationLog {
    /// From `--termination-log`: `None` for `off`; the default path when not given.
    pub fn from_flag(flag: Option<&str>) -> Option<TerminationLog> {
        let given = flag.map(str::trim).filter(|s| !s.is_empty());
        match given {
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            Some(path) => Some(TerminationLog::new(PathBuf::from(path), true)),
            None => Some(TerminationLog::new(PathBuf::from(DEFAULT_PATH), false)),
        }
    }

    fn new(path: PathBuf, create: bool) -> TerminationLog {
        TerminationLog {
            path,
            create,
            reported: AtomicBool::new(false),
        }
    }

    /// Where it writes.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Replaces the file's contents with `message`; a failure is one debug line per process.
    pub fn write(&self, message: &str) {
        let written = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .create(self.create)
            .open(&self.path)
            .and_then(|mut f| f.write_all(message.as_bytes()));
        match written {
            Ok(()) => {}
            Err(e) if !self.reported.swap(true, Ordering::Relaxed) => {
                tracing::debug!(path = %self.path.display(), error = %e, "termination log not written");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values() {
        assert!(TerminationLog::from_flag(Some("off")).is_none());
        assert!(TerminationLog::from_flag(Some("OFF")).is_none());
        let default = TerminationLog::from_flag(None).expect("on by default");
        assert_eq!(default.path(), std::path::Path::new(DEFAULT_PATH));
        assert!(
            !default.create,
            "the kubelet makes the default file; we never do"
        );
        let blank = TerminationLog::from_flag(Some(" ")).expect("blank is the default");
        assert_eq!(blank.path(), std::path::Path::new(DEFAULT_PATH));
        let given = TerminationLog::from_flag(Some("/tmp/x/termination")).expect("a path");
        assert!(given.create);
    }

    #[test]
    fn writes_replace_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("termination-log");
        let log = TerminationLog::from_flag(path.to_str()).unwrap();
        log.write("status: critical (1 critical) at 2026-11-23T10:00:00Z\nA: a long first message");
        log.write("status: ok at 2026-11-23T10:01:00Z");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "status: ok at 2026-11-23T10:01:00Z"
        );
    }

    #[test]
    fn an_absent_default_file_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("termination-log");
        let log = TerminationLog::new(path.clone(), false);
        log.write("status: ok");
        log.write("status: ok");
        assert!(!path.exists());
        assert!(log.reported.load(Ordering::Relaxed));
    }
}
