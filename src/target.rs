//! `check --pid PID`: another process's view, for diagnosing a running pod
//! without redeploying it (`kubectl debug -it POD --image=irsa-doctor
//! --target=APP -- irsa-doctor check --pid 1`). Its environment comes from
//! `/proc/PID/environ`; its files are reached through `/proc/PID/root`.

use std::path::PathBuf;

/// Why the target process cannot be inspected, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "no process {pid}: with kubectl debug, pass --target=<app container> and use --pid 1 (or the app's PID from `ps`)"
    )]
    NoSuchProcess { pid: u32 },
    #[error(
        "cannot read /proc/{pid}/environ: {source}; run irsa-doctor as the same user as the target (kubectl debug --profile=general, or securityContext.runAsUser), or grant CAP_SYS_PTRACE, and share its process namespace (kubectl debug --target=<app container>)"
    )]
    Denied {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read /proc/{pid}/environ: {source}")]
    Io {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
}

/// The target's environment, in order, as `NAME=value` pairs (values are kept only in memory).
pub fn environ(pid: u32) -> Result<Vec<(String, String)>, TargetError> {
    let path = PathBuf::from(format!("/proc/{pid}/environ"));
    let raw = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => TargetError::NoSuchProcess { pid },
        std::io::ErrorKind::PermissionDenied => TargetError::Denied { pid, source },
        _ => TargetError::Io { pid, source },
    })?;
    Ok(parse_environ(&raw))
}

/// Splits the NUL-separated `environ` format; entries without `=` are skipped, the first value of a name wins.
pub fn parse_environ(raw: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in raw.split(|b| *b == 0) {
        let text = String::from_utf8_lossy(entry);
        if let Some((k, v)) = text.split_once('=')
            && !k.is_empty()
            && !out.iter().any(|(seen, _)| seen == k)
        {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

/// The target's root directory as this process sees it.
pub fn root(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/root"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environ_format() {
        let raw =
            b"AWS_ROLE_ARN=arn:aws:iam::1:role/r\0EMPTY=\0NOEQUALS\0A=b=c\0AWS_ROLE_ARN=second\0";
        assert_eq!(
            parse_environ(raw),
            vec![
                (
                    "AWS_ROLE_ARN".to_owned(),
                    "arn:aws:iam::1:role/r".to_owned()
                ),
                ("EMPTY".to_owned(), String::new()),
                ("A".to_owned(), "b=c".to_owned()),
            ]
        );
    }

    #[test]
    fn own_environ_is_readable_and_missing_pid_is_explained() {
        let me = std::process::id();
        assert!(environ(me).is_ok());
        let err = environ(u32::MAX).unwrap_err();
        assert!(err.to_string().contains("--target"), "{err}");
    }
}
