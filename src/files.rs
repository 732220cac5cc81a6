//! Reading the projected files (the token, a trust-policy ConfigMap) with the
//! 64 KiB cap: larger files are rejected without being read whole.

use std::io::Read;
use std::path::Path;

use irsa_doctor_core::policy::trust;
use irsa_doctor_core::token::{self, Decoded, MAX_TOKEN_BYTES, MalformedToken, ReadError, decode};

/// Reads the token file with the size cap, returning its text. Follows symlinks (the kubelet's `token -> ..data/token`).
pub fn read_file(path: &Path) -> Result<String, ReadError> {
    let shown = path.display().to_string();
    let unreadable = |e: std::io::Error| ReadError::Unreadable {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReadError::Missing { path: shown });
        }
        Err(e) => return Err(unreadable(e)),
    };
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_dir() {
        return Err(ReadError::Unreadable {
            path: shown,
            reason: "it is a directory".into(),
        });
    }
    let malformed = |source| ReadError::Malformed {
        path: shown.clone(),
        source,
    };
    if meta.len() > MAX_TOKEN_BYTES {
        return Err(malformed(MalformedToken::TooLarge { size: meta.len() }));
    }
    // The size can lie (procfs, a file growing under us): never read past the cap.
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_TOKEN_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(unreadable)?;
    if buf.len() as u64 > MAX_TOKEN_BYTES {
        return Err(malformed(MalformedToken::TooLarge {
            size: buf.len() as u64,
        }));
    }
    String::from_utf8(buf).map_err(|_| malformed(MalformedToken::NotText))
}

/// Reads and decodes the token file in one step.
pub fn load(path: &Path) -> Result<(Decoded, u64), ReadError> {
    let text = read_file(path)?;
    let decoded = decode(&text).map_err(|source| ReadError::Malformed {
        path: path.display().to_string(),
        source,
    })?;
    Ok((decoded, token::fingerprint(&text)))
}

/// Reads a trust policy file (raw or URL-encoded JSON) with the same size cap as the token.
pub fn read_policy_file(path: &std::path::Path) -> Result<trust::Policy, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_TOKEN_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_TOKEN_BYTES {
        return Err(format!(
            "{} is over {MAX_TOKEN_BYTES} bytes; IAM trust policies are at most 4 KiB",
            path.display()
        ));
    }
    trust::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_file_classifies_failures() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent");
        assert_eq!(read_file(&missing).unwrap_err().metric_label(), "missing");
        assert_eq!(
            read_file(dir.path()).unwrap_err().metric_label(),
            "unreadable"
        );

        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; MAX_TOKEN_BYTES as usize + 1]).unwrap();
        let err = read_file(&big).unwrap_err();
        assert_eq!(
            err,
            ReadError::Malformed {
                path: big.display().to_string(),
                source: MalformedToken::TooLarge {
                    size: MAX_TOKEN_BYTES + 1
                }
            }
        );

        let bin = dir.path().join("bin");
        std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
        assert_eq!(read_file(&bin).unwrap_err().metric_label(), "malformed");

        // A dangling kubelet-style symlink is a missing token, not an I/O mystery.
        let link = dir.path().join("token");
        std::os::unix::fs::symlink("..data/token", &link).unwrap();
        assert_eq!(read_file(&link).unwrap_err().metric_label(), "missing");
    }
}
