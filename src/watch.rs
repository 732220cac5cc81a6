//! Watches the token file (and any other projected file) the way the kubelet writes it.
//!
//! The kubelet's atomic writer never modifies `token`: it writes a new
//! timestamped directory and swaps the `..data` symlink, so a watch on the
//! file itself dies with `DELETE_SELF` after the first refresh
//! (docs/failure-modes.md#atomic-writer-watch;
//! https://github.com/kubernetes/kubernetes/issues/111947). We therefore watch the token's
//! *directory* non-recursively, plus the nearest existing ancestor so a
//! directory that is missing at start, deleted or replaced is picked up again,
//! and re-read (re-resolving every symlink) on any relevant event. A slow
//! timer re-reads and re-arms as a safety net for lost events (inotify queue
//! overflow, watch limits, file systems without inotify).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

use crate::state::State;

/// How often a watched file is re-read even without events.
pub const SAFETY_INTERVAL: Duration = Duration::from_secs(30);

/// Reads one token (`None`: the IRSA token, `Some(i)`: `extra_tokens[i]`) and records the result.
pub fn read_token(state: &State, which: Option<usize>) {
    let path = match which {
        None => &state.config.token_file,
        Some(i) => match state.config.extra_tokens.get(i) {
            Some(t) => &t.path,
            None => return,
        },
    };
    state.apply_token_read(which, crate::files::load(path), crate::host::now());
}

/// Reads every configured token once.
pub fn read_all(state: &State) {
    if state.config.irsa_token {
        read_token(state, None);
    }
    for i in 0..state.config.extra_tokens.len() {
        read_token(state, Some(i));
    }
}

/// Watches and re-reads one token until the task is dropped.
pub async fn run(state: Arc<State>, which: Option<usize>) {
    let path = match which {
        None => state.config.token_file.clone(),
        Some(i) => match state.config.extra_tokens.get(i) {
            Some(t) => t.path.clone(),
            None => return,
        },
    };
    watch_file(&path, || read_token(&state, which)).await;
}

/// Calls `reload` now and whenever `path` may have changed, until the task is dropped.
/// Never returns an error: a watcher that cannot be set up degrades to the safety
/// timer with a warning. Works for any file the kubelet projects (tokens, ConfigMaps).
pub async fn watch_file(path: &Path, mut reload: impl FnMut()) {
    let wake = Arc::new(Notify::new());
    let mut armed = Armed::new(path, Arc::clone(&wake));
    loop {
        // Arm before reading, so a write between the two is never missed.
        armed.rearm();
        reload();
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(SAFETY_INTERVAL) => {}
        }
    }
}

/// The directories currently watched and the inotify handle.
struct Armed {
    token_path: PathBuf,
    watcher: Option<notify::RecommendedWatcher>,
    /// The directories watched now.
    watched: Vec<PathBuf>,
}

impl Armed {
    fn new(token_path: &Path, wake: Arc<Notify>) -> Armed {
        let filter_path = token_path.to_path_buf();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let relevant = match &res {
                Ok(event) => is_relevant(&filter_path, event),
                // Queue overflow and friends: the safe answer is to re-read.
                Err(_) => true,
            };
            if relevant {
                wake.notify_one();
            }
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, interval_seconds = SAFETY_INTERVAL.as_secs(),
                    "cannot watch the token directory; falling back to re-reading on a timer");
                None
            }
        };
        Armed {
            token_path: token_path.to_path_buf(),
            watcher,
            watched: Vec::new(),
        }
    }

    /// Re-creates the watches on what exists now. Done on every wake rather than when paths
    /// change: a deleted and recreated directory can come back with the same path *and* inode
    /// number, and its old watch is dead either way. Wakes are rare, so this costs nothing.
    fn rearm(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        for dir in self.watched.drain(..) {
            // The directory may be gone already, which also ends its watch.
            let _ = watcher.unwatch(&dir);
        }
        for dir in desired_watches(&self.token_path) {
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.watched.push(dir),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory; relying on the safety timer")
                }
            }
        }
    }
}

/// The token's directory (if it exists) and the nearest existing ancestor above it.
fn desired_watches(token_path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Some(dir) = token_path.parent() else {
        return out;
    };
    if dir.is_dir() {
        out.push(dir.to_path_buf());
    }
    if let Some(ancestor) = dir.ancestors().skip(1).find(|a| a.is_dir()) {
        out.push(ancestor.to_path_buf());
    }
    out
}

/// An event matters when it is inside the token's directory, or concerns a directory on the way to it.
fn is_relevant(token_path: &Path, event: &notify::Event) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    if event.need_rescan() {
        return true;
    }
    let dir = token_path.parent();
    event
        .paths
        .iter()
        .any(|p| p.parent() == dir || token_path.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, ModifyKind, RenameMode};

    fn ev(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn relevance_table() {
        let token = Path::new("/var/run/secrets/eks/sa/token");
        let cases = [
            (
                "kubelet swap",
                ev(
                    EventKind::Modify(ModifyKind::Name(RenameMode::To)),
                    "/var/run/secrets/eks/sa/..data",
                ),
                true,
            ),
            (
                "new timestamped dir",
                ev(
                    EventKind::Create(CreateKind::Folder),
                    "/var/run/secrets/eks/sa/..2026_11_23",
                ),
                true,
            ),
            (
                "token written in place",
                ev(
                    EventKind::Modify(ModifyKind::Any),
                    "/var/run/secrets/eks/sa/token",
                ),
                true,
            ),
            (
                "token dir recreated",
                ev(
                    EventKind::Create(CreateKind::Folder),
                    "/var/run/secrets/eks/sa",
                ),
                true,
            ),
            (
                "sibling dir of an ancestor",
                ev(
                    EventKind::Create(CreateKind::Folder),
                    "/var/run/secrets/other",
                ),
                false,
            ),
            (
                "deeper file elsewhere",
                ev(
                    EventKind::Create(CreateKind::File),
                    "/var/run/secrets/eks/sa/..2026/token",
                ),
                false,
            ),
            (
                "reads are not changes",
                ev(
                    EventKind::Access(AccessKind::Any),
                    "/var/run/secrets/eks/sa/token",
                ),
                false,
            ),
        ];
        for (name, event, want) in cases {
            assert_eq!(is_relevant(token, &event), want, "{name}");
        }
    }

    #[test]
    fn watches_dir_and_nearest_existing_ancestor() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        let token = dir.join("token");
        assert_eq!(
            desired_watches(&token),
            vec![root.path().to_path_buf()],
            "only the ancestor exists"
        );
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            desired_watches(&token),
            vec![dir.clone(), root.path().join("a")]
        );
    }
}
