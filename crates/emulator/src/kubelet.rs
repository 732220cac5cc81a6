//! The kubelet's atomic writer, as `pkg/volume/util/atomic_writer.go` lays out a
//! projected volume: `token -> ..data/token`, `..data -> ..<timestamp>/`, and a
//! refresh writes a new timestamped directory, points `..data_tmp` at it and
//! renames `..data_tmp` over `..data` (one atomic `rename(2)`), then removes
//! the old directory. Watchers see `CREATE ..<ts>`, `CREATE ..data_tmp`,
//! `MOVED_TO ..data` — never a write to `token` itself.

use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes files into a directory exactly as the kubelet's atomic writer does.
#[derive(Debug)]
pub struct AtomicWriter {
    dir: PathBuf,
    generation: AtomicU64,
}

impl AtomicWriter {
    /// A writer for `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<AtomicWriter> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(AtomicWriter {
            dir,
            generation: AtomicU64::new(0),
        })
    }

    /// The volume directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path an application reads: `<dir>/token`.
    pub fn token_path(&self) -> PathBuf {
        self.dir.join("token")
    }

    /// Publishes new content for `token` with the symlink swap.
    pub fn write_token(&self, content: &[u8]) -> io::Result<()> {
        self.write("token", content)
    }

    /// Publishes new content for the file `name` (a projected token, a ConfigMap key) with the symlink swap.
    pub fn write(&self, name: &str, content: &[u8]) -> io::Result<()> {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // The kubelet names these `..2026_11_23_10_00_00.123456789`; uniqueness is what matters.
        let ts_name = format!(
            "..{}_{:09}_{generation}",
            since_epoch.as_secs(),
            since_epoch.subsec_nanos()
        );
        let ts_dir = self.dir.join(&ts_name);
        std::fs::create_dir(&ts_dir)?;
        std::fs::write(ts_dir.join(name), content)?;

        let data = self.dir.join("..data");
        let old_target = std::fs::read_link(&data).ok();
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        symlink(&ts_name, &tmp)?;
        std::fs::rename(&tmp, &data)?;

        let user_link = self.dir.join(name);
        if std::fs::symlink_metadata(&user_link).is_err() {
            symlink(format!("..data/{name}"), &user_link)?;
        }
        if let Some(old) = old_target {
            let old = self.dir.join(old);
            if old != ts_dir {
                let _ = std::fs::remove_dir_all(old);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_kubelet() {
        let tmp = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(tmp.path().join("vol")).unwrap();
        w.write_token(b"one").unwrap();
        let first = std::fs::read_link(w.dir().join("..data")).unwrap();
        assert_eq!(
            std::fs::read_link(w.token_path()).unwrap(),
            PathBuf::from("..data/token")
        );
        assert_eq!(std::fs::read(w.token_path()).unwrap(), b"one");
        w.write_token(b"two").unwrap();
        assert_eq!(std::fs::read(w.token_path()).unwrap(), b"two");
        assert!(
            !w.dir().join(&first).exists(),
            "old timestamped dir removed"
        );
        assert!(!w.dir().join("..data_tmp").exists());
        let entries: Vec<String> = std::fs::read_dir(w.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            entries.len(),
            3,
            "token, ..data and one timestamped dir: {entries:?}"
        );
    }
}
