//! The kubelet's side of the soak: a token rotated every second, and the whole
//! token volume deleted every ~45 s, missing for ~3 s, then recreated.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use irsa_doctor_emulator::issuer::{Issuer, TokenSpec};
use irsa_doctor_emulator::kubelet::AtomicWriter;

use crate::{Stats, lock, sleep_unless_stopped};

/// The webhook's default token lifetime; each rotation adds a second to it.
const LIFETIME: i64 = 86_400;
const ROTATE_EVERY: Duration = Duration::from_secs(1);
const DELETE_EVERY: Duration = Duration::from_secs(45);
const MISSING_FOR: Duration = Duration::from_secs(3);

/// The projected token volume, which may be deleted and recreated under the daemon.
pub struct Volume<'a> {
    dir: PathBuf,
    issuer: &'a Issuer,
    writer: Mutex<Option<AtomicWriter>>,
    /// `exp` of the last token written.
    last_exp: AtomicU64,
    serial: AtomicU64,
}

impl<'a> Volume<'a> {
    pub fn new(dir: PathBuf, issuer: &'a Issuer) -> Volume<'a> {
        let volume = Volume {
            writer: Mutex::new(Some(AtomicWriter::new(&dir).expect("create the volume"))),
            dir,
            issuer,
            last_exp: AtomicU64::new(0),
            serial: AtomicU64::new(0),
        };
        volume.rotate();
        volume
    }

    /// Writes a new token (a distinct `exp` each time) if the volume is there; its `exp`.
    pub fn rotate(&self) -> Option<i64> {
        let writer = lock(&self.writer);
        let writer = writer.as_ref()?;
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) as i64;
        let spec = TokenSpec {
            lifetime: LIFETIME + serial,
            ..self.issuer.token_spec()
        };
        let token = self.issuer.issue(&spec).expect("sign a token");
        writer
            .write_token(token.as_bytes())
            .expect("rotate the token");
        self.last_exp
            .store(spec.expires_at() as u64, Ordering::Relaxed);
        Some(spec.expires_at())
    }

    /// Whether the volume is deleted right now.
    pub fn is_missing(&self) -> bool {
        lock(&self.writer).is_none()
    }

    fn delete(&self) {
        let mut writer = lock(&self.writer);
        *writer = None;
        std::fs::remove_dir_all(&self.dir).expect("delete the token directory");
    }

    pub fn recreate(&self) {
        *lock(&self.writer) = Some(AtomicWriter::new(&self.dir).expect("recreate the volume"));
        self.rotate();
    }
}

pub fn rotate(volume: &Volume<'_>, stop: &AtomicBool, stats: &Stats) {
    let mut last_delete = Instant::now();
    while !sleep_unless_stopped(ROTATE_EVERY, stop) {
        if last_delete.elapsed() >= DELETE_EVERY {
            volume.delete();
            stats.deletions.fetch_add(1, Ordering::Relaxed);
            let stopped = sleep_unless_stopped(MISSING_FOR, stop);
            volume.recreate();
            stats.rotations.fetch_add(1, Ordering::Relaxed);
            last_delete = Instant::now();
            if stopped {
                return;
            }
            continue;
        }
        if volume.rotate().is_some() {
            stats.rotations.fetch_add(1, Ordering::Relaxed);
        }
    }
}
