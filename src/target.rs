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

/// Variables whose values are paths the AWS SDK opens itself: for the SDK to read the target's
/// files, they must point through `/proc/PID/root` (the SDK cannot be given another root).
const SDK_PATH_VARS: [&str; 3] = ["HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"];

/// The environment `check --pid` runs its diagnosis in: the target's own variables, so the
/// SDK configuration (region, `AWS_ENDPOINT_URL*`, profile, retry settings), `POD_NAME` and
/// `AWS_ROLE_SESSION_NAME` are the target's by construction; the SDK's file paths reach the
/// target's files through its root; and irsa-doctor's own `IRSA_DOCTOR_*` settings, which
/// configure the diagnosis rather than describe the app, come from `own`.
pub fn diagnosis_env(
    target: &[(String, String)],
    pid: u32,
    own: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let root = root(pid);
    let mut out: Vec<(String, String)> = target
        .iter()
        .filter(|(k, _)| !k.starts_with("IRSA_DOCTOR_"))
        .map(|(k, v)| {
            let through_root = SDK_PATH_VARS.contains(&k.as_str()) && v.starts_with('/');
            let value = if through_root {
                root.join(v.trim_start_matches('/')).display().to_string()
            } else {
                v.clone()
            };
            (k.clone(), value)
        })
        .collect();
    out.extend(
        own.into_iter()
            .filter(|(k, _)| k.starts_with("IRSA_DOCTOR_")),
    );
    out
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
    fn diagnosis_env_is_the_targets_with_paths_through_its_root() {
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let target = vec![
            pair("HOME", "/home/app"),
            pair("AWS_CONFIG_FILE", "/etc/aws/config"),
            pair("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/creds"),
            pair("AWS_ENDPOINT_URL_STS", "https://sts.internal"),
            pair(
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
            ),
            pair("IRSA_DOCTOR_LISTEN", "0.0.0.0:1"),
        ];
        let own = vec![
            pair("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9"),
            pair("IRSA_DOCTOR_EXPECTED_AUDIENCE", "custom"),
        ];
        assert_eq!(
            diagnosis_env(&target, 42, own),
            vec![
                pair("HOME", "/proc/42/root/home/app"),
                pair("AWS_CONFIG_FILE", "/proc/42/root/etc/aws/config"),
                // `~` expands to the target's HOME, which already points through its root.
                pair("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/creds"),
                pair("AWS_ENDPOINT_URL_STS", "https://sts.internal"),
                // irsa-doctor maps the token paths itself (`Config` with a target PID).
                pair(
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
                ),
                pair("IRSA_DOCTOR_EXPECTED_AUDIENCE", "custom"),
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
